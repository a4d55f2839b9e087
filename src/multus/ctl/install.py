"""``multusctl install``: the thin-mode node installer (upstream's ``thin_entrypoint``).

One pass (:meth:`Installer.sync`) copies the executables into the host's CNI bin dir, writes the
kubeconfig from the service account, and writes ``00-multus.conf`` / ``00-multus.conflist``
from the primary network configuration (or copies ``--multus-conf-file``). Then, by default, it
keeps watching and repeats the parts whose inputs changed: a new, changed or replaced primary,
a rotated token or CA. Every file is replaced atomically (:mod:`multus.ctl.files`); a primary
that cannot be read or used leaves the config already written in place.

Differences from upstream, on purpose: the generated config names the multus conf dir with the
key multus reads, ``confDir`` (upstream writes ``cniConf``, which nothing reads); watching and
token refresh are the default, not tied to ``--cleanup-config-on-exit``; a primary that appears
later is picked up; errors exit non-zero.
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterable, Mapping
from types import FrameType
from typing import Any

import attrs

from multus.ctl import files
from multus.ctl.kubeconfig import (
    DEFAULT_SERVICE_ACCOUNT_DIR,
    KubeconfigError,
    ServiceAccount,
    render,
    server_url,
)

log = logging.getLogger("multus.ctl.install")

LOG_LEVELS = ("debug", "verbose", "error", "panic")
CONF_NAME = "00-multus.conf"
CONFLIST_NAME = "00-multus.conflist"
KUBECONFIG_RELATIVE = os.path.join("multus.d", "multus.kubeconfig")


class InstallError(Exception):
    """A flag or an input file makes the install impossible (exit 1)."""


@attrs.frozen
class Settings:
    """The thin entrypoint's flags (§18), with upstream's defaults."""

    cni_bin_dir: str = "/host/opt/cni/bin"
    cni_conf_dir: str = "/host/etc/cni/net.d"
    cni_version: str = ""
    multus_conf_file: str = "auto"
    multus_bin_file: str = "/usr/src/multus-cni/bin/multus"
    multus_cni_conf_dir: str = "/host/etc/cni/multus/net.d"
    skip_multus_binary_copy: bool = False
    multus_kubeconfig_file_host: str = "/etc/cni/net.d/multus.d/multus.kubeconfig"
    multus_master_cni_file_name: str = ""
    namespace_isolation: bool = False
    global_namespaces: str = ""
    multus_autoconfig_dir: str = "/host/etc/cni/net.d"
    multus_log_to_stderr: bool = True
    multus_log_level: str = ""
    multus_log_file: str = ""
    additional_bin_dir: str = ""
    readiness_indicator_file: str = ""
    override_network_name: bool = False
    cleanup_config_on_exit: bool = False
    skip_config_watch: bool = False
    rename_conf_file: bool = False
    force_cni_version: bool = False
    skip_tls_verify: bool = False
    # ours
    service_account_dir: str = DEFAULT_SERVICE_ACCOUNT_DIR
    skip_kubeconfig: bool = False
    once: bool = False
    poll_interval: float = 5.0

    @property
    def kubeconfig_path(self) -> str:
        return os.path.join(self.cni_conf_dir, KUBECONFIG_RELATIVE)

    @property
    def auto(self) -> bool:
        return self.multus_conf_file == "auto"


def validate(s: Settings) -> Settings:
    """The checks upstream makes before doing anything, with messages naming the flag."""
    if not s.skip_multus_binary_copy and not os.path.isdir(s.cni_bin_dir):
        raise InstallError(f"--cni-bin-dir: {s.cni_bin_dir} is not a directory")
    if not os.path.isdir(s.cni_conf_dir):
        raise InstallError(f"--cni-conf-dir: {s.cni_conf_dir} is not a directory")
    if not s.skip_multus_binary_copy and not os.path.exists(s.multus_bin_file):
        raise InstallError(f"--multus-bin-file: {s.multus_bin_file} does not exist")
    if s.multus_log_level and s.multus_log_level.lower() not in LOG_LEVELS:
        raise InstallError(f"--multus-log-level: {s.multus_log_level!r} is not one of {', '.join(LOG_LEVELS)}")
    if s.auto and not os.path.isdir(s.multus_autoconfig_dir):
        raise InstallError(f"--multus-autoconfig-dir: {s.multus_autoconfig_dir} is not a directory")
    if not s.auto and not os.path.isfile(s.multus_conf_file):
        raise InstallError(f"--multus-conf-file: {s.multus_conf_file} is not a file (or 'auto')")
    if s.cni_version:
        from multus.cni import version
        from multus.errors import CNIError

        try:
            version.check_supported(s.cni_version)
        except CNIError as e:
            raise InstallError(f"--cni-version: {e.msg}") from None
    if s.poll_interval <= 0:
        raise InstallError("--poll-interval: must be greater than 0")
    return attrs.evolve(s, multus_log_level=s.multus_log_level.lower())


def _digest(paths: Iterable[str]) -> str:
    """A hash of the files' names and contents; a missing or unreadable file counts as such."""
    h = hashlib.sha256()
    for p in paths:
        h.update(p.encode() + b"\0")
        try:
            with open(p, "rb") as f:
                h.update(f.read())
        except OSError as e:
            h.update(f"<{e.errno}>".encode())
        h.update(b"\0")
    return h.hexdigest()


@attrs.define
class Installer:
    """What one ``multusctl install`` process wrote and what it last saw."""

    settings: Settings
    env: Mapping[str, str] = attrs.field(factory=lambda: dict(os.environ))
    generate: Callable[[Settings], tuple[str, bytes, str]] | None = None
    """Renders the multus config: (file name, content, primary path). Defaults to the thin
    layout of :mod:`multus.ctl.thinconf`."""
    written: set[str] = attrs.field(factory=set)
    _seen: dict[str, str] = attrs.field(factory=dict)
    _stop: threading.Event = attrs.field(factory=threading.Event)
    _wake: threading.Event = attrs.field(factory=threading.Event)
    errors: list[str] = attrs.field(factory=list)
    """The errors of the last pass."""
    reported: list[str] = attrs.field(factory=list)
    """Every error reported since start (each once per change of its inputs)."""
    config_path: str = ""

    # --- the parts ----------------------------------------------------------------------

    def copy_binaries(self) -> list[str]:
        s = self.settings
        out = []
        src = s.multus_bin_file
        if os.path.isdir(src):
            out.append(files.copy_tree(src, s.cni_bin_dir, "multus"))
        else:
            out.append(files.copy_executable(src, s.cni_bin_dir, "multus"))
        passthru = os.path.join(os.path.dirname(src.rstrip("/")), "passthru")
        if os.path.isfile(passthru) and os.access(passthru, os.X_OK):
            out.append(files.copy_executable(passthru, s.cni_bin_dir, "passthru"))
        for p in out:
            log.info("installed %s", p)
        return out

    def _kubeconfig_inputs(self) -> list[str]:
        d = self.settings.service_account_dir
        return [os.path.join(d, "token"), os.path.join(d, "ca.crt")]

    def write_kubeconfig(self) -> bool:
        s = self.settings
        sa = ServiceAccount.read(s.service_account_dir, s.skip_tls_verify)
        data = render(sa, server_url(self.env), s.skip_tls_verify)
        os.makedirs(os.path.dirname(s.kubeconfig_path), mode=0o755, exist_ok=True)
        changed = files.replace_bytes(s.kubeconfig_path, data, 0o600)
        self.written.add(s.kubeconfig_path)
        if changed:
            log.info("wrote %s", s.kubeconfig_path)
        return changed

    def _config_inputs(self) -> list[str]:
        s = self.settings
        if not s.auto:
            return [s.multus_conf_file]
        d = s.multus_autoconfig_dir
        try:
            names = sorted(os.listdir(d))
        except OSError:
            return [d]
        return [os.path.join(d, n) for n in names
                if n.endswith((".conf", ".conflist")) and not n.startswith("00-multus")]

    def write_config(self) -> bool:
        """Write the multus config; raises InstallError and leaves the old file when it cannot."""
        s = self.settings
        if s.auto:
            if self.generate is not None:
                name, data, primary = self.generate(s)
            else:
                from multus.ctl.thinconf import generate

                name, data, primary = generate(s)
        else:
            try:
                with open(s.multus_conf_file, "rb") as f:
                    data = f.read()
            except OSError as e:
                raise InstallError(f"--multus-conf-file: cannot read {s.multus_conf_file}: {e.strerror}") from None
            if not data.strip():
                raise InstallError(f"--multus-conf-file: {s.multus_conf_file} is empty")
            name, primary = os.path.basename(s.multus_conf_file), ""
        path = os.path.join(s.cni_conf_dir, name)
        changed = files.replace_bytes(path, data, 0o600)
        for other in (CONF_NAME, CONFLIST_NAME):
            # a cniVersion change switches between the two names: never leave both
            if other != name and os.path.join(s.cni_conf_dir, other) in self.written:
                files.remove(os.path.join(s.cni_conf_dir, other))
        self.written.add(path)
        self.config_path = path
        if changed:
            log.info("wrote %s%s", path, f" from {primary}" if primary else "")
        if primary and s.rename_conf_file:
            os.rename(primary, primary + ".old")
            log.info("renamed %s to %s.old", primary, primary)
        return changed

    # --- one pass and the loop ------------------------------------------------------------

    def sync(self, first: bool = False) -> list[str]:
        """Bring every part up to date; returns the errors of this pass (also logged)."""
        s = self.settings
        errors: list[str] = []
        if first and not s.skip_multus_binary_copy:
            try:
                self.copy_binaries()
            except OSError as e:
                errors.append(f"copying {s.multus_bin_file} into {s.cni_bin_dir}: {e.strerror or e}")
        if not s.skip_kubeconfig:
            self._step("kubeconfig", self._kubeconfig_inputs(), self.write_kubeconfig, errors, first)
        if first or not s.skip_config_watch:
            self._step("config", self._config_inputs(), self.write_config, errors, first)
        for msg in errors:
            log.error("%s", msg)
        self.errors = errors
        self.reported += errors
        return errors

    def _step(self, key: str, inputs: list[str], action: Callable[[], bool], errors: list[str],
              first: bool) -> None:
        digest = _digest(inputs)
        if not first and self._seen.get(key) in (digest, f"failed:{digest}"):
            return  # unchanged since it last worked, or since it last failed (reported then)
        try:
            action()
        except (InstallError, KubeconfigError) as e:
            errors.append(str(e))
        except OSError as e:
            errors.append(f"{key}: {e.filename or ''}: {e.strerror or e}")
        else:
            self._seen[key] = digest
            return
        self._seen[key] = f"failed:{digest}"

    def watched_dirs(self) -> list[str]:
        s = self.settings
        dirs = [] if s.skip_kubeconfig else [s.service_account_dir]
        if not s.skip_config_watch:
            dirs.append(s.multus_autoconfig_dir if s.auto else os.path.dirname(os.path.abspath(s.multus_conf_file)))
        return [d for d in dict.fromkeys(dirs) if os.path.isdir(d)]

    def run(self) -> int:
        """First pass, then watch until :meth:`stop`; cleanup on the way out when asked."""
        errors = self.sync(first=True)
        if self.settings.once:
            return 1 if errors else 0
        observer = _start_observer(self.watched_dirs(), self._wake.set)
        try:
            while not self._stop.is_set():
                self._wake.wait(self.settings.poll_interval)
                self._wake.clear()
                if self._stop.is_set():
                    break
                self.sync()
        finally:
            if observer is not None:
                observer.stop()
                observer.join(timeout=5)
            if self.settings.cleanup_config_on_exit:
                self.cleanup()
        return 0

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def cleanup(self) -> list[str]:
        """Remove the config files and the kubeconfig this process wrote (not the binaries: a
        pod being torn down may still need them)."""
        s = self.settings
        candidates = set(self.written) | {os.path.join(s.cni_conf_dir, n) for n in (CONF_NAME, CONFLIST_NAME)}
        if not s.auto:
            candidates.add(os.path.join(s.cni_conf_dir, os.path.basename(s.multus_conf_file)))
        removed = sorted(p for p in candidates if files.remove(p))
        for p in removed:
            log.info("removed %s", p)
        return removed


def _start_observer(dirs: list[str], wake: Callable[[], None]) -> Any:
    """A watchdog observer that wakes the loop on any change in ``dirs`` (the loop also polls,
    so a missing watchdog or a dir created later only slows the reaction down)."""
    if not dirs:
        return None
    try:
        from watchdog.events import FileSystemEvent, FileSystemEventHandler
        from watchdog.observers import Observer
    except ImportError:
        return None

    class Wake(FileSystemEventHandler):
        def on_any_event(self, event: FileSystemEvent) -> None:
            if event.event_type not in ("opened", "closed_no_write"):
                wake()

    observer = Observer()
    for d in dirs:
        observer.schedule(Wake(), d, recursive=False)
    observer.daemon = True
    observer.start()
    return observer


def run(settings: Settings, env: Mapping[str, str] | None = None) -> int:
    """The command: validate, install, watch; SIGTERM/SIGINT end the watch."""
    installer = Installer(validate(settings), env=dict(os.environ if env is None else env))

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("%s received, stopping", signal.Signals(signum).name)
        installer.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return installer.run()

