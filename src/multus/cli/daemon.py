"""``multus-daemon``: thick mode's server (see ``docs/thick.md``).

    multus-daemon [-config /etc/cni/net.d/multus.d/daemon-config.json] [-version]

Exit codes as upstream: 0 after a graceful shutdown (SIGTERM/SIGINT), 1 for a configuration
error (an enabled plugin that is not installed or does not import included), 3 when the socket (or the metrics port) cannot be listened on, 4 after ``-version``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from types import FrameType

from multus._version import __version__
from multus.thick.config import DEFAULT_CONFIG_FILE

VERSION = __version__
ABOUT = f"multus-daemon: version: {VERSION} (python)"
EXIT_CONFIG = 1
EXIT_READINESS = 2
EXIT_LISTEN = 3
EXIT_VERSION = 4

log = logging.getLogger("multus.daemon")

HELP_EPILOG = f"""configuration:
  {DEFAULT_CONFIG_FILE} (or -config): the daemon's settings (socketDir, metricsPort, ...)
  merged with the multus configuration keys (kubeconfig, confDir, logFile, logLevel, plugins).
environment:
  MULTUS_PLUGINS      comma-separated third-party plugins to enable
  KUBERNETES_SERVICE_HOST, KUBERNETES_SERVICE_PORT   in-cluster API access
docs: docs/thick.md, docs/configuration.md, docs/plugins.md"""


def _parser() -> argparse.ArgumentParser:
    # Go's flag package: -config / --config, -config=x; no abbreviations.
    ap = argparse.ArgumentParser(prog="multus-daemon", allow_abbrev=False,
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 description="Multus thick-plugin daemon: serves multus-shim over a unix socket.",
                                 epilog=HELP_EPILOG)
    ap.add_argument("-config", "--config", default=DEFAULT_CONFIG_FILE,
                    help=f"the daemon configuration file (default {DEFAULT_CONFIG_FILE})")
    ap.add_argument("-version", "--version", action="store_true", help="print the version and exit")
    return ap


def run(argv: list[str] | None = None) -> int:
    a = _parser().parse_args(argv)
    if a.version:
        print(ABOUT)
        return EXIT_VERSION

    from multus.config import logs, netconf
    from multus.engine.models import DaemonContext
    from multus.errors import CNIError
    from multus.thick import config as daemon_config
    from multus.thick.metrics import Metrics
    from multus.thick.server import Daemon
    from multus.thick.service import DaemonPlugins, Service

    try:
        cfg = daemon_config.load(a.config)
        logs.configure(netconf.load(cfg.logging_netconf()))
        # the overlay must itself be a valid multus configuration where it says something
        netconf.load(cfg.raw)
    except daemon_config.ConfigError as e:
        print(f"multus-daemon: {e}", file=sys.stderr)
        return EXIT_CONFIG
    except CNIError as e:
        print(f"multus-daemon: {a.config}: {e.msg}", file=sys.stderr)
        return EXIT_CONFIG
    from multus.cni import invoke
    from multus.thick.configmanager import ConfigManager, ReadinessTimeout, wait_for_readiness

    invoke.set_chroot(cfg.chroot_dir)
    if cfg.readiness_file:
        try:
            wait_for_readiness(cfg.readiness_file, cfg.readiness_timeout)
        except ReadinessTimeout as e:
            return _fail(str(e), EXIT_CONFIG)

    env = dict(os.environ)
    plugins = DaemonPlugins(enabled=_plugins_key(cfg.raw.get("plugins")), env=env)
    try:
        plugins.warm_up()
    except CNIError as e:
        return _fail(f"refusing to start: {e.msg}", EXIT_CONFIG)
    metrics = Metrics()
    plugins.metrics = metrics
    daemon = Daemon(cfg, Service(cfg, plugins, env), metrics)

    started = DaemonContext(plugins=plugins, config=cfg.raw, env=env)
    try:
        plugins.daemon_started(started)  # informers (synced), background writers
    except CNIError as e:
        print(f"multus-daemon: refusing to start: {e.msg}", file=sys.stderr)
        return EXIT_CONFIG
    readiness_lost = []

    def on_readiness_lost() -> None:
        readiness_lost.append(True)
        daemon.request_shutdown("readiness indicator removed")
        daemon.request_shutdown("readiness indicator removed")

    manager = ConfigManager(cfg, on_readiness_lost) if cfg.manages_config else None

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        daemon.request_shutdown(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        daemon.listen()
    except OSError as e:
        return _fail(f"failed to listen on {daemon.socket_path}: {e.strerror or e}", EXIT_LISTEN)
    if manager is not None:
        manager.start()
    log.info("%s ready (pid %d)", ABOUT, os.getpid())
    print(f"multus-daemon: ready, serving {daemon.socket_path} (pid {os.getpid()})", file=sys.stderr, flush=True)
    try:
        daemon.serve()
    finally:
        plugins.daemon_stopping(started)  # flush queued API writes, stop informers
        if manager is not None:
            manager.stop()
    return EXIT_READINESS if readiness_lost else 0


def _fail(msg: str, code: int) -> int:
    """Logged and on stderr (logging may go to a file only): why the daemon does not run."""
    log.error("%s", msg)
    print(f"multus-daemon: {msg}", file=sys.stderr)
    return code


def _plugins_key(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
