"""Build a CNI executable around a set of plugins: :func:`run_cni` and :func:`cni_main`.

A custom meta-plugin is a console script whose ``main`` calls :func:`cni_main` with its own
plugin objects; it then behaves exactly like ``multus`` (same configuration, same verbs, same
errors), with those plugins registered next to the entry-point backends::

    import multus

    def main() -> None:
        multus.cni_main(plugins=[MyPolicy()], about="my-meta: version 1.0")

Kept light at import: ``CNI_COMMAND=VERSION`` is answered without loading the engine.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from typing import IO, TYPE_CHECKING, Any, NoReturn, TextIO

from multus._version import __version__
from multus.cni import skel

if TYPE_CHECKING:
    from multus.cni.request import CniRequest

ABOUT = f"multus: version: {__version__} (python)"
VERSION_FLAGS = ("-v", "-version", "--version")
HELP_FLAGS = ("-h", "-help", "--help")


def run_cni(*, plugins: Iterable[object] = (), about: str = ABOUT, help_text: str = "",
            entry_points: bool = True, env: Mapping[str, str] | None = None,
            stdin: bytes | str | IO[bytes] | IO[str] | None = None,
            stdout: TextIO | None = None, stderr: TextIO | None = None,
            argv: list[str] | None = None) -> int:
    """Run one CNI call as a meta-plugin executable and return its exit code.

    Args:
        plugins: plugin objects or modules to register (with their class or module name) on
            the request's :class:`~multus.Plugins`, in addition to the core defaults and, unless
            ``entry_points`` is false, the installed backends.
        about: the text printed for ``--version`` and for a call without ``CNI_COMMAND``
            (libcni's "about" behaviour).
        help_text: printed for ``--help``; empty: a generic usage text built from ``about``.
        entry_points: load the backends found through entry points (``multus.source``, …).
        env: the CNI environment; default ``os.environ``.
        stdin: the network configuration: ``bytes``, ``str`` or a file object open for
            reading (``io.BytesIO``, ``io.StringIO``, ``open(path, "rb")``); default: read
            from standard input.
        stdout: where the result or the CNI error JSON goes, and the ``--version`` and
            ``--help`` texts; default ``sys.stdout``.
        stderr: where the about text of a call without ``CNI_COMMAND`` goes; default
            ``sys.stderr``.
        argv: command-line arguments (without the program name); default ``sys.argv[1:]``.

    Returns:
        0 on success, 1 after printing a CNI error.
    """
    env = os.environ if env is None else env
    stdout = sys.stdout if stdout is None else stdout
    stderr = sys.stderr if stderr is None else stderr
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in VERSION_FLAGS:
        print(about, file=stdout)
        return 0
    if argv and argv[0] in HELP_FLAGS:
        print(help_text or usage(about, entry_points=entry_points), file=stdout)
        return 0
    own = list(plugins)

    def handler(req: CniRequest) -> dict[str, Any] | None:
        from multus.engine.run import handle
        from multus.plugin.manager import Plugins

        pm = Plugins(env=req.env, entry_points=entry_points)
        for plugin in own:
            pm.register(plugin)
        return handle(req, pm)

    data = skel.read_stdin() if stdin is None else _stdin_bytes(stdin)
    return skel.run(handler, env, data, stdout, stderr, about=about)


def _stdin_bytes(stdin: bytes | str | IO[bytes] | IO[str]) -> bytes:
    """``run_cni``'s ``stdin`` argument as the bytes of the network configuration."""
    data = stdin if isinstance(stdin, bytes | str) else stdin.read()
    if isinstance(data, str):
        return data.encode()
    if isinstance(data, bytes | bytearray):
        return bytes(data)
    raise TypeError(f"run_cni: stdin must be bytes, str or a file object, not {type(stdin).__name__}")


def exit_fast(code: int) -> NoReturn:
    """Flush logs and streams, then leave without the interpreter's teardown (~15 ms)."""
    if "logging" in sys.modules:
        import logging

        logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = code or 1
    os._exit(code)


def cni_main(*, plugins: Iterable[object] = (), about: str = ABOUT, help_text: str = "",
             entry_points: bool = True) -> NoReturn:
    """The ``main`` of a CNI executable: :func:`run_cni` on the process's environment, stdin and
    arguments, then exit with its code (without interpreter teardown: a CNI process is short-lived).

    Takes the same keyword arguments as :func:`run_cni`.
    """
    exit_fast(run_cni(plugins=plugins, about=about, help_text=help_text, entry_points=entry_points))


def usage(about: str, *, conf_file: str = "a file of /etc/cni/net.d", entry_points: bool = True) -> str:
    """The ``--help`` text of a multus-based CNI executable (``conf_file``: where its runtime
    usually reads its configuration from; ``entry_points``: whether it loads installed
    backends, so that ``MULTUS_PLUGINS`` applies)."""
    plugins_env = ("\n  MULTUS_PLUGINS   comma-separated third-party plugins to enable (as the key \"plugins\")"
                   if entry_points else "")
    return f"""{about}

A CNI meta-plugin: the container runtime runs it with the CNI environment and the network
configuration on stdin; it calls the delegate plugins and prints the result (or a CNI error)
as JSON on stdout. Run without CNI_COMMAND it prints what it is.

Configuration: the multus netconf on stdin, usually written by the runtime from
  {conf_file} (delegates, clusterNetwork, confDir, kubeconfig, logFile, ...).
Environment:
  CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS, CNI_PATH   the CNI protocol{plugins_env}
Flags: --version, --help
Docs: the multus distribution's docs/configuration.md and docs/plugins.md
  (https://github.com/k8snetworkplumbingwg/multus-cni for the upstream behaviour this follows)"""
