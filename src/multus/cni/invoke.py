"""Find and execute a CNI plugin binary, and read its answer (libcni's ``pkg/invoke``).

The behaviour follows ``invoke.FindInPath``, ``invoke.Args.AsEnv``, ``RawExec.ExecPlugin`` and
``invoke.GetVersionInfo`` of containernetworking/cni, with the error texts operators already know
from them. Two additions: a timeout that kills the plugin's whole process group, and the plugin's
stderr goes to the ``multus.invoke`` logger (debug), never to our stdout.

Only the standard library (and :mod:`multus.gocompat`, Go's texts) is used: this runs in a
short-lived CNI process.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from multus.errors import (
    DECODE_FAILURE,
    DELEGATE_FAILED,
    INVALID_CONFIG,
    PLUGIN_NOT_AVAILABLE,
    TIMEOUT,
    CNIError,
)
from multus.gocompat import loads, quote

log = logging.getLogger("multus.invoke")

ETXTBSY_RETRIES = 5
"""How many times an exec failing with "text file busy" is retried (as libcni does)."""
ETXTBSY_SLEEP = 0.2
"""Seconds between two such retries."""

VERSION_STDIN_VERSION = "1.1.0"
"""The ``cniVersion`` sent on stdin with ``VERSION`` (libcni sends ``version.Current()``)."""

_KILL_GRACE = 2.0

go_quote = quote
"""Go's ``strconv.Quote``: :func:`multus.gocompat.quote` under the name this module always had."""


def find_plugin(plugin_type: str, dirs: Sequence[str]) -> str:
    """The path of the first executable regular file named ``plugin_type`` in ``dirs`` (inside
    the delegates' chroot when :func:`set_chroot` set one).

    ``plugin_type`` is a plugin name, never a path: ``/``, ``.``, ``..`` and the empty name are
    refused (code 7, naming the ``type`` field). Not found is code 50 with libcni's text.
    """
    if not isinstance(plugin_type, str) or plugin_type in ("", ".", "..") \
            or "/" in plugin_type or "\0" in plugin_type:
        raise CNIError(INVALID_CONFIG, f"invalid plugin name in field 'type': {plugin_type!r} "
                       "(must be the file name of a plugin binary: not empty, no '/', not '.' or '..')")
    for d in dirs:
        if not d:
            continue
        full = os.path.join(d, plugin_type)
        seen = os.path.join(_chroot_dir, full.lstrip("/")) if _chroot_dir else full
        if os.path.isfile(seen) and os.access(seen, os.X_OK):
            return full
    raise CNIError(PLUGIN_NOT_AVAILABLE,
                   f"failed to find plugin {go_quote(plugin_type)} in path [{' '.join(dirs)}]")


def build_env(base: Mapping[str, str], command: str, container_id: str, netns: str, ifname: str,
              args: str, path: str) -> dict[str, str]:
    """The environment of one plugin execution, like libcni's ``invoke.Args.AsEnv()``.

    ``base`` is inherited; the six ``CNI_*`` variables are always set (possibly empty) and win over
    any value of ``base``.
    """
    env = dict(base)
    env.update({
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": container_id,
        "CNI_NETNS": netns,
        "CNI_ARGS": args,
        "CNI_IFNAME": ifname,
        "CNI_PATH": path,
    })
    return env


def _exit_description(returncode: int) -> str:
    """What Go's ``exec.ExitError`` prints: ``exit status N`` or ``signal: NAME``."""
    if returncode < 0:
        signum = -returncode
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = f"signal {signum}"
        try:
            desc = signal.strsignal(signum)
        except ValueError:  # out of range
            desc = None
        return f"signal: {name} ({desc})" if desc else f"signal: {name}"
    return f"exit status {returncode}"


def _plugin_error(returncode: int, stdout: bytes, stderr: bytes) -> CNIError:
    """libcni's ``RawExec.pluginErr``: the plugin's own error JSON, else its stderr, else the status."""
    status = _exit_description(returncode)
    if not stdout.strip():
        if not stderr:
            return CNIError(DELEGATE_FAILED, f"netplugin failed with no error message: {status}")
        return CNIError(DELEGATE_FAILED, f"netplugin failed: {go_quote(stderr)}: {status}")
    try:
        data = loads(stdout)
    except ValueError as e:
        return CNIError(DELEGATE_FAILED,
                        f"netplugin failed but error parsing its diagnostic message {go_quote(stdout)}: {e}")
    if not isinstance(data, dict):
        return CNIError(DELEGATE_FAILED, f"netplugin failed but error parsing its diagnostic message "
                        f"{go_quote(stdout)}: not a JSON object")
    code = data.get("code")
    if not isinstance(code, int) or isinstance(code, bool) or code <= 0:
        code = DELEGATE_FAILED
    msg = data.get("msg", "")
    details = data.get("details", "")
    return CNIError(code, msg if isinstance(msg, str) else json.dumps(msg),
                    details if isinstance(details, str) else json.dumps(details))


_chroot_dir = ""


def set_chroot(directory: str) -> None:
    """Run every delegate chrooted into ``directory`` (``""``: in this process' root), as the
    daemon's ``chrootDir`` asks. The plugin path and the netns path are the ones seen inside it."""
    global _chroot_dir
    _chroot_dir = directory


def _enter_chroot(directory: str) -> Callable[[], None]:
    def enter() -> None:
        os.chroot(directory)
        os.chdir("/")
    return enter


def _spawn(path: str, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """Start the plugin in a session of its own; retry while the binary is being written."""
    attempt = 0
    while True:
        try:
            return subprocess.Popen(
                [path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                env=dict(env), start_new_session=True, close_fds=True,
                # two plain syscalls, no lock taken in the forked child (safe with threads)
                preexec_fn=_enter_chroot(_chroot_dir) if _chroot_dir else None)  # noqa: PLW1509
        except OSError as e:
            if e.errno == errno.ETXTBSY and attempt < ETXTBSY_RETRIES:
                attempt += 1
                log.debug("%s: text file busy, retry %d/%d", path, attempt, ETXTBSY_RETRIES)
                time.sleep(ETXTBSY_SLEEP)
                continue
            code = PLUGIN_NOT_AVAILABLE if e.errno == errno.ENOENT else DELEGATE_FAILED
            raise CNIError(code, f"netplugin failed with no error message: exec {path}: "
                           f"{e.strerror or e}") from None


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.kill()
    except ProcessLookupError:
        pass


def exec_plugin(path: str, command: str, stdin: bytes, env: Mapping[str, str],
                timeout: float | None, *, want_result: bool = True) -> dict[str, Any] | None:
    """Run the plugin at ``path`` with exactly ``env`` and ``stdin``; its parsed JSON answer.

    Returns ``None`` when stdout is empty (DEL, CHECK ...), or always when ``want_result`` is false
    (libcni ignores the stdout of DEL, CHECK, GC and STATUS). Failures raise :class:`CNIError`:
    the plugin's own error JSON (its code kept), else its stderr, else its exit status or signal;
    code 102 when it did not answer within ``timeout`` seconds (its whole process group is killed);
    code 6 when a successful answer is not a JSON object.
    """
    proc = _spawn(path, env)
    try:
        stdout, stderr = proc.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        try:
            _, err = proc.communicate(timeout=_KILL_GRACE)
        except subprocess.TimeoutExpired:
            # something outside the group still holds the pipes: stop waiting for it
            err = b""
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
        if err:
            log.debug("%s %s stderr: %s", path, command, err.decode("utf-8", errors="replace"))
        raise CNIError(TIMEOUT, f"plugin {path} ({command}) did not answer within {timeout:g} s") from None
    except BaseException:
        _kill_group(proc)
        proc.wait()
        raise
    if stderr:
        log.debug("%s %s stderr: %s", path, command, stderr.decode("utf-8", errors="replace"))
    if proc.returncode != 0:
        raise _plugin_error(proc.returncode, stdout, stderr)
    if not want_result:
        if stdout.strip():
            log.debug("%s %s stdout (ignored): %s", path, command, stdout.decode("utf-8", errors="replace"))
        return None
    if not stdout.strip():
        return None
    try:
        data = loads(stdout)
    except ValueError as e:
        raise CNIError(DECODE_FAILURE, f"plugin {path} ({command}): failed to decode its answer: {e}",
                       stdout.decode("utf-8", errors="replace")) from None
    if not isinstance(data, dict):
        raise CNIError(DECODE_FAILURE, f"plugin {path} ({command}): its answer is not a JSON object",
                       stdout.decode("utf-8", errors="replace"))
    return data


def get_version_info(path: str, env: Mapping[str, str], timeout: float | None) -> dict[str, Any]:
    """Ask the plugin which spec versions it supports (libcni's ``invoke.GetVersionInfo``).

    ``env`` is the base environment; the ``CNI_*`` variables are set as libcni does for VERSION
    (dummy values that old plugins require). Returns ``{"cniVersion", "supportedVersions"}``; a
    plugin that does not know VERSION supports only 0.1.0.
    """
    full_env = build_env(env, "VERSION", "", "dummy", "dummy", "", "dummy")
    stdin = json.dumps({"cniVersion": VERSION_STDIN_VERSION}).encode()
    try:
        info = exec_plugin(path, "VERSION", stdin, full_env, timeout)
    except CNIError as e:
        if e.msg == "unknown CNI_COMMAND: VERSION" and not e.details:
            return {"cniVersion": "0.1.0", "supportedVersions": ["0.1.0"]}
        raise
    if info is None:
        raise CNIError(DECODE_FAILURE, f"plugin {path}: decoding version info: empty answer")
    cni_version = info.get("cniVersion")
    if not isinstance(cni_version, str) or not cni_version:
        raise CNIError(DECODE_FAILURE, f"plugin {path}: decoding version info: missing field cniVersion")
    supported = info.get("supportedVersions")
    if not supported:
        if cni_version == "0.2.0":
            return {"cniVersion": "0.2.0", "supportedVersions": ["0.1.0", "0.2.0"]}
        raise CNIError(DECODE_FAILURE,
                       f"plugin {path}: decoding version info: missing field supportedVersions")
    if not isinstance(supported, list) or not all(isinstance(v, str) for v in supported):
        raise CNIError(DECODE_FAILURE,
                       f"plugin {path}: decoding version info: supportedVersions must be a list of strings")
    return info
