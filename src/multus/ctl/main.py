"""The ``multusctl`` command line (click). Each command imports its implementation lazily.

Exit codes (the same for every command):

== ========================================================================================
0  success
1  the operation failed (an input file, the API, the daemon); the message says which
2  bad command line (unknown flag, bad value)
3  ``explain``: the pod's networks would be rejected (the reason is printed)
4  ``status``: the node is not ready (no multus config in use, or the daemon is not ready)
== ========================================================================================

Shell completion: ``eval "$(multusctl completion bash)"`` (also ``zsh``, ``fish``).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import click

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_REJECTED = 3
EXIT_NOT_READY = 4

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


def _setup_logging(level: int = logging.INFO) -> None:
    from multus.config.logs import _Formatter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    logger = logging.getLogger("multus.ctl")
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False


def fail(msg: str, code: int = EXIT_FAILED) -> click.exceptions.Exit:
    click.echo(f"multusctl: {msg}", err=True)
    return click.exceptions.Exit(code)


@click.group(context_settings=CONTEXT)
@click.version_option("0.1.0", "-V", "--version", prog_name="multusctl", message="%(prog)s: version: %(version)s (python)")
def cli() -> None:
    """Install, inspect and clean up multus on a node.

    Exit codes: 0 success, 1 failure, 2 bad command line, 3 explain: networks rejected,
    4 status: node not ready.
    """


# --- install -------------------------------------------------------------------------------

# (flag, default, help). Booleans accept Go's forms: --flag, --flag=true, --flag=false.
_INSTALL_FLAGS: list[tuple[str, Any, str]] = [
    ("cni-bin-dir", "/host/opt/cni/bin", "host CNI bin dir the executables are copied into (must exist)"),
    ("cni-conf-dir", "/host/etc/cni/net.d", "host CNI conf dir the multus config is written to (must exist)"),
    ("cni-version", "", "cniVersion of the generated config (must equal the primary's unless forced)"),
    ("multus-conf-file", "auto", "'auto' to generate the config from the primary, else a file copied as is"),
    ("multus-bin-file", "/usr/src/multus-cni/bin/multus",
     "the multus executable (or a self-contained bundle directory) to install as 'multus'"),
    ("multus-cni-conf-dir", "/host/etc/cni/multus/net.d", "multus' own conf dir, written as 'confDir'"),
    ("skip-multus-binary-copy", False, "do not copy the executables"),
    ("multus-kubeconfig-file-host", "/etc/cni/net.d/multus.d/multus.kubeconfig",
     "the kubeconfig path as the host sees it ('kubeconfig' in the config)"),
    ("multus-master-cni-file-name", "", "the primary's file name (default: the first .conf/.conflist)"),
    ("namespace-isolation", False, "pods may only use networks of their own namespace"),
    ("global-namespaces", "", "comma-separated namespaces exempt from namespace isolation"),
    ("multus-autoconfig-dir", "/host/etc/cni/net.d", "dir in which the primary config is looked for and watched"),
    ("multus-log-to-stderr", True, "multus logs to stderr"),
    ("multus-log-level", "", "multus log level: debug, verbose, error or panic"),
    ("multus-log-file", "", "multus log file"),
    ("additional-bin-dir", "", "extra dir for delegate executables ('binDir')"),
    ("readiness-indicator-file", "", "file that must exist before multus serves an ADD"),
    ("override-network-name", False, "name the generated network after the primary"),
    ("cleanup-config-on-exit", False, "on SIGTERM remove the config and the kubeconfig this process wrote"),
    ("skip-config-watch", False, "do not regenerate the config when the primary changes"),
    ("rename-conf-file", False, "rename the primary to <file>.old once the config is generated"),
    ("force-cni-version", False, "use --cni-version even if the primary says otherwise"),
    ("skip-tls-verify", False, "write a kubeconfig that does not verify the API server's certificate"),
    ("service-account-dir", "/var/run/secrets/kubernetes.io/serviceaccount",
     "dir holding the pod's service-account 'token' and 'ca.crt'"),
    ("skip-kubeconfig", False, "do not write a kubeconfig (no Kubernetes API on this node)"),
    ("once", False, "install once and exit (no watching); exit 1 if any part failed"),
    ("poll-interval", 5.0, "seconds between checks of the watched files (changes also wake it at once)"),
]


def _install_options(f: Any) -> Any:
    for flag, default, help_ in reversed(_INSTALL_FLAGS):
        name = flag.replace("-", "_")
        if isinstance(default, bool):
            f = click.option(f"--{flag}", name, type=click.BOOL, default=default, is_flag=False,
                             flag_value="true", show_default=True, help=help_)(f)
        elif isinstance(default, float):
            f = click.option(f"--{flag}", name, type=click.FLOAT, default=default, show_default=True, help=help_)(f)
        else:
            f = click.option(f"--{flag}", name, default=default, show_default=bool(default), help=help_)(f)
    return f


@cli.command(context_settings=CONTEXT)
@_install_options
def install(**flags: Any) -> None:
    """Install thin-mode multus on this node and keep it current.

    Copies the executables into the host bin dir (atomically, safe while they run), writes the
    kubeconfig from the service account, generates 00-multus.conf (cniVersion < 1.0.0) or
    00-multus.conflist from the primary network config, then watches: a changed or new primary
    regenerates the config, a rotated token or CA rewrites the kubeconfig. SIGTERM stops it
    (and removes what it wrote with --cleanup-config-on-exit).
    """
    from multus.ctl import install as inst

    _setup_logging()
    try:
        code = inst.run(inst.Settings(**flags))
    except inst.InstallError as e:
        raise fail(str(e)) from None
    raise click.exceptions.Exit(code)


@cli.command("copy-binaries", context_settings=CONTEXT)
@click.option("--type", "kind", type=click.Choice(["thin", "thick"]), default="thin", show_default=True,
              help="thin copies multus, thick copies multus-shim (both also passthru)")
@click.option("--source-dir", default="/usr/src/multus-cni/bin", show_default=True,
              help="dir holding the executables (or bundle directories) to install")
@click.option("--dest-dir", default="/host/opt/cni/bin", show_default=True, help="host CNI bin dir")
@click.option("--self-contained", is_flag=True,
              help="thick: install the bundled multus-shim that needs no Python on the node (from --bundles-dir)")
@click.option("--bundles-dir", default="/usr/src/multus-cni/bundles", show_default=True,
              help="dir of the self-contained bundles")
def copy_binaries(kind: str, source_dir: str, dest_dir: str, self_contained: bool, bundles_dir: str) -> None:
    """Copy the CNI executables into the host bin dir atomically (an init container's job).

    Files are replaced by rename (safe while the old ones run); a bundle directory is installed
    as a versioned tree with the executable's name as a symlink into it."""
    from multus.ctl import files

    _setup_logging()
    if not os.path.isdir(dest_dir):
        raise fail(f"--dest-dir: {dest_dir} is not a directory")
    log = logging.getLogger("multus.ctl.install")
    for name in ("multus" if kind == "thin" else "multus-shim", "passthru"):
        src = os.path.join(source_dir, name)
        if self_contained and os.path.isdir(os.path.join(bundles_dir, name)):
            src = os.path.join(bundles_dir, name)
        try:
            if os.path.isdir(src):
                dest = files.copy_tree(src, dest_dir, name)
            elif os.path.isfile(src):
                dest = files.copy_executable(src, dest_dir, name)
            elif name == "passthru":
                continue
            else:
                raise fail(f"--source-dir: {src} does not exist")
        except OSError as e:
            raise fail(f"copying {src} into {dest_dir}: {e.strerror or e}") from None
        log.info("installed %s", dest)


# --- explain, gc, status ---------------------------------------------------------------------

_OUTPUT = click.option("-o", "--output", "fmt", type=click.Choice(["text", "json"]), default="text",
                       show_default=True, help="text (a table on a terminal) or json")


@cli.command(context_settings=CONTEXT)
@click.option("--pod", "pod_ref", metavar="NS/NAME", help="a pod of the live cluster (needs --kubeconfig)")
@click.option("-f", "--pod-file", type=click.Path(dir_okay=False), help="a pod manifest (YAML or JSON), offline")
@click.option("-c", "--config", "config_file", type=click.Path(dir_okay=False),
              help="the multus config (default: 00-multus.conf[list] in --cni-conf-dir)")
@click.option("--cni-conf-dir", default="/etc/cni/net.d", show_default=True,
              help="where the node's multus config is found")
@click.option("-n", "--nad", "nad_files", multiple=True, type=click.Path(dir_okay=False),
              help="NetworkAttachmentDefinition manifests (YAML, several documents allowed), offline; repeatable")
@click.option("--kubeconfig", default="", help="kubeconfig for --pod (default: the config's 'kubeconfig')")
@click.option("--resource-map", type=click.Path(dir_okay=False),
              help='JSON {"<resourceName>": ["<deviceID>", ...]} of allocated devices, offline')
@click.option("--ifname", default="eth0", show_default=True, help="the runtime's CNI_IFNAME")
@click.option("--container-id", default="explain", show_default=True, help="the runtime's CNI_CONTAINERID")
@_OUTPUT
def explain(**opts: Any) -> None:
    """Dry-run an ADD: which networks a pod would get, and why an annotation is rejected.

    Prints the networks in attach order with their interface names, delegate configs,
    runtimeConfig, CNI_ARGS and device IDs. Nothing is executed and nothing is written.
    Offline: --pod-file, --config and --nad files. Live: --pod NS/NAME and a kubeconfig.
    """
    from multus.ctl import explain as impl

    raise click.exceptions.Exit(impl.command(**opts))


@cli.command(context_settings=CONTEXT)
@click.option("--cni-dir", default="/var/lib/cni/multus", show_default=True, help="multus' scratch cache dir")
@click.option("--devinfo-dir", default="/var/run/k8s.cni.cncf.io/devinfo/cni", show_default=True,
              help="where multus writes device-info files")
@click.option("--keep", "keep_ids", multiple=True, metavar="CONTAINER_ID",
              help="container IDs that still exist (repeatable); others whose netns is gone are pruned")
@click.option("--dry-run", is_flag=True, help="print what would be removed, remove nothing")
@_OUTPUT
def gc(**opts: Any) -> None:
    """Prune cache entries and results of containers that no longer exist.

    A container is gone when it is not in --keep and no network namespace recorded for it
    (in its delegates' results under <cni-dir>/results) still exists. Its scratch cache, result
    files, device-info files and lock are removed under its lock; no delegate is run (IPAM
    leases are released by the runtime's CNI GC).
    """
    from multus.ctl import gc as impl

    raise click.exceptions.Exit(impl.command(**opts))


@cli.command(context_settings=CONTEXT)
@click.option("--cni-conf-dir", default="/etc/cni/net.d", show_default=True, help="the node's CNI conf dir")
@click.option("--daemon-config", default="/etc/cni/net.d/multus.d/daemon-config.json", show_default=True,
              help="thick mode's daemon config (its socketDir and logFile are used)")
@click.option("--socket-dir", default="", help="the daemon's socket dir (default: from the daemon config)")
@click.option("--cni-dir", default="", help="multus' scratch cache dir (default: from the config, /var/lib/cni/multus)")
@click.option("--log-file", default="", help="log file to read the last errors from (default: the config's logFile)")
@click.option("--errors", "n_errors", default=5, show_default=True, help="how many of the last errors to show")
@_OUTPUT
def status(**opts: Any) -> None:
    """The node's view: the config in use and its primary, daemon health, cache counts, last errors."""
    from multus.ctl import status as impl

    raise click.exceptions.Exit(impl.command(**opts))


@cli.command(context_settings=CONTEXT)
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script: eval "$(multusctl completion bash)"."""
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell)
    if cls is None:
        raise click.UsageError(f"no completion for the shell {shell!r}")
    click.echo(cls(cli, {}, "multusctl", "_MULTUSCTL_COMPLETE").source())


def main() -> None:
    cli(prog_name="multusctl")


if __name__ == "__main__":
    main()
