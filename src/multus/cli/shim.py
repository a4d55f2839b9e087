"""``multus-shim``: thick mode's CNI plugin, a thin client of ``multus-daemon``.

The runtime runs it like any CNI plugin; it forwards the call (its whole environment and stdin)
to the daemon over ``<daemonSocketDir>/multus.sock`` and prints the daemon's answer. Standard
library only, so that it starts in a few milliseconds: it never imports attrs, cattrs, pluggy or
the engine.

* ``VERSION`` is answered here; the checks libcni's ``skel`` makes before calling a plugin
  (required variables, interface name, config decoding and version) are made here too, with the
  same CNI error codes as the thin plugin.
* ADD, CHECK, GC, STATUS wait until ``/readyz`` answers 200 (polled every 100 ms, up to 60 s;
  ``MULTUS_SHIM_READY_TIMEOUT`` or the config key ``daemonReadyTimeout``, seconds, change it).
* DEL asks ``/healthz`` once and always exits 0 (upstream #1239: a DEL that fails because the
  daemon is gone would block pod removal forever); errors are logged to stderr.
* ADD prints the result in the shim config's ``cniVersion``: the daemon's
  ``ResultAsRequested`` when it is in that version, else its 1.0.0 ``Result`` converted.
* A CNI error from the daemon is printed unchanged; a failure to reach it is error 999
  ``CmdAdd (shim): failed to send CNI request: Post "http://dummy/cni": dial unix …``.
"""

from __future__ import annotations

import os
import sys
import time

from multus.thick import client

TYPE_CHECKING = False  # importing typing would cost more than the rest of the shim
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, TextIO

VERSION = "0.1.0"
ABOUT = f"multus-shim: version: {VERSION} (python)"
READY_TIMEOUT_ENV = "MULTUS_SHIM_READY_TIMEOUT"
HELP = f"""{ABOUT}

Thick mode's CNI plugin: the container runtime runs it with the CNI environment and the
network configuration on stdin; it forwards the call to multus-daemon over
<daemonSocketDir>/multus.sock (default /run/multus/multus.sock) and prints the daemon's answer.
Run without CNI_COMMAND it prints what it is.

Configuration: the shim's netconf on stdin, usually /etc/cni/net.d/00-multus.conf
  (daemonSocketDir, daemonReadyTimeout, logFile, logToStderr).
Environment:
  CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS, CNI_PATH   the CNI protocol
  MULTUS_SHIM_READY_TIMEOUT   seconds to wait for the daemon to be ready (default 60)
Flags: --version, --help
Docs: docs/thick.md"""
READY_TIMEOUT_KEY = "daemonReadyTimeout"

# CNI error codes (multus.errors, repeated here to keep the shim free of the core's imports)
INCOMPATIBLE_VERSION = 1
INVALID_ENV = 4
DECODE_FAILURE = 6
INVALID_CONFIG = 7
INTERNAL = 999

_VERBS = {"ADD": "CmdAdd", "DEL": "CmdDel", "CHECK": "CmdCheck", "GC": "CmdGC", "STATUS": "CmdStatus"}
_REQUIRED: dict[str, tuple[str, ...]] = {
    "ADD": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"),
    "CHECK": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"),
    "DEL": ("CNI_CONTAINERID", "CNI_IFNAME", "CNI_PATH"),
    "GC": ("CNI_PATH",),
    "STATUS": ("CNI_PATH",),
    "VERSION": (),
}
_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_NAME_CHARS = _ALNUM | frozenset("_.-")


def _valid_name(name: str) -> bool:
    """``^[a-zA-Z0-9][a-zA-Z0-9_.\\-]*$`` (container IDs, network names), without importing re."""
    return bool(name) and name[0] in _ALNUM and all(c in _NAME_CHARS for c in name)


class ShimError(Exception):
    """A CNI error to print. ``wrap``: the shim's own failure, prefixed ``CmdAdd (shim): ``
    as upstream's shim does; errors of the daemon and of the request checks are printed as they are."""

    def __init__(self, code: int, msg: str, details: str = "", wrap: bool = False) -> None:
        super().__init__(msg)
        self.code, self.msg, self.details, self.wrap = code, msg, details, wrap


def _version_tuple(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in (v or "0.1.0").split("."))


def _check_request(env: Mapping[str, str], stdin: bytes) -> dict[str, Any]:
    """libcni skel's checks (the thin plugin's :func:`multus.cni.request.from_environ`)."""
    command = env.get("CNI_COMMAND", "")
    if command not in _REQUIRED:
        raise ShimError(INVALID_ENV, f"unknown CNI_COMMAND: {command}")
    missing = [v for v in _REQUIRED[command] if env.get(v, "") == ""]
    if missing:
        raise ShimError(INVALID_ENV, f"required env variables [{','.join(missing)}] missing")
    cid = env.get("CNI_CONTAINERID", "")
    if cid and not _valid_name(cid):
        raise ShimError(INVALID_ENV, f"CNI_CONTAINERID: invalid characters in {cid!r}")
    if command in ("ADD", "CHECK", "DEL"):
        name = env.get("CNI_IFNAME", "")
        if len(name) > 15 or name in (".", "..") or any(c in name for c in "/:") or any(c.isspace() for c in name):
            raise ShimError(INVALID_ENV, f"CNI_IFNAME: interface name {name!r} is not a valid name")
    if not stdin.strip():
        raise ShimError(DECODE_FAILURE, "stdin: the network configuration is empty")
    try:
        conf = client.loads(stdin)
    except (ValueError, UnicodeDecodeError) as e:
        raise ShimError(DECODE_FAILURE, f"stdin: error unmarshalling network config: {e}") from None
    if not isinstance(conf, dict):
        raise ShimError(DECODE_FAILURE, "stdin: the network configuration must be a JSON object")
    cv = conf.get("cniVersion", "")
    if not isinstance(cv, str):
        raise ShimError(DECODE_FAILURE, "cniVersion: must be a string")
    if (cv or "0.1.0") not in client.SUPPORTED_VERSIONS:
        raise ShimError(INCOMPATIBLE_VERSION, f"incompatible CNI versions: config is {cv!r}, "
                        f"plugin supports {list(client.SUPPORTED_VERSIONS)}")
    name = conf.get("name", "")
    if not isinstance(name, str) or not _valid_name(name):
        raise ShimError(INVALID_CONFIG, f"name: invalid or missing network name {name!r}")
    if command == "CHECK" and _version_tuple(cv) < (0, 4, 0):
        raise ShimError(INCOMPATIBLE_VERSION, f"config version does not allow CHECK (cniVersion {cv})")
    if command in ("GC", "STATUS") and _version_tuple(cv) < (1, 1, 0):
        raise ShimError(INCOMPATIBLE_VERSION, f"config version does not allow {command} (cniVersion {cv})")
    return conf


def _log(conf: Mapping[str, Any], stderr: TextIO, msg: str) -> None:
    """Errors go to stderr (unless ``logToStderr`` is false) and to ``logFile``, upstream's format."""
    now = time.time()
    tz = time.strftime("%z", time.localtime(now))
    tz = "Z" if tz in ("+0000", "") else f"{tz[:3]}:{tz[3:]}"
    line = f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.localtime(now))}{tz} [error] {msg}\n"
    if conf.get("logToStderr") is not False:
        try:
            stderr.write(line)
        except (OSError, ValueError):
            pass
    log_file = conf.get("logFile")
    if isinstance(log_file, str) and log_file:
        try:
            with open(log_file, "a") as f:
                f.write(line)
        except OSError:
            pass


def _ready_timeout(env: Mapping[str, str], conf: Mapping[str, Any]) -> float:
    value: Any = env.get(READY_TIMEOUT_ENV) or conf.get(READY_TIMEOUT_KEY)
    try:
        t = float(value) if value not in (None, "") and not isinstance(value, bool) else client.READY_TIMEOUT
    except (TypeError, ValueError):
        t = client.READY_TIMEOUT
    return t if t >= 0 else client.READY_TIMEOUT


def _wait_ready(sock: str, timeout: float) -> None:
    """upstream's ``WaitUntilAPIReady``: poll ``/readyz`` at once, then every 100 ms."""
    deadline = time.monotonic() + timeout
    while True:
        reason = client.healthy(sock, client.READY_ENDPOINT)
        if reason is None:
            return
        if time.monotonic() + client.READY_POLL_INTERVAL > deadline:
            raise ShimError(INTERNAL, f"failed waiting for the multus daemon to be ready: timed out after "
                            f"{timeout:g} s: {reason}", wrap=True)
        time.sleep(client.READY_POLL_INTERVAL)


def _post(sock: str, env: Mapping[str, str], stdin: bytes) -> client.Reply:
    body = client.encode_request(env, stdin)
    try:
        reply = client.request(sock, "POST", client.CNI_ENDPOINT, body)
    except client.TransportError as e:
        raise ShimError(INTERNAL, f"failed to send CNI request: {e}: StdinData: {stdin.decode(errors='replace')}",
                        wrap=True) from None
    if reply.status == 200:
        return reply
    try:
        err = client.loads(reply.body)
    except (ValueError, UnicodeDecodeError):
        err = None
    if isinstance(err, dict) and isinstance(err.get("code"), int) and err["code"] != 0:
        # a CNI error: the daemon's code, msg and details, unchanged
        raise ShimError(err["code"], str(err.get("msg", "")), str(err.get("details", "") or ""))
    text = reply.body.decode(errors="replace")
    raise ShimError(INTERNAL, f"CNI request failed with status {reply.status}: '{text}': "
                    f"StdinData: {stdin.decode(errors='replace')}", wrap=True)


def _result(reply: client.Reply, cni_version: str) -> dict[str, Any]:
    try:
        data = reply.json()
    except (ValueError, UnicodeDecodeError) as e:
        raise ShimError(INTERNAL, f"failed to unmarshal response '{reply.body.decode(errors='replace')}': {e}",
                        wrap=True) from None
    if not isinstance(data, dict) or not isinstance(data.get(client.RESULT_KEY), dict):
        raise ShimError(INTERNAL, f"the daemon answered no result: '{reply.body.decode(errors='replace')}'",
                        wrap=True)
    requested = data.get(client.REQUESTED_RESULT_KEY)
    if isinstance(requested, dict) and (not cni_version or requested.get("cniVersion") == cni_version):
        return requested
    try:
        return client.convert_result(data[client.RESULT_KEY], cni_version)
    except client.ConversionError as e:
        raise ShimError(INCOMPATIBLE_VERSION, str(e)) from None


def _error_json(e: ShimError, cni_version: str) -> str:
    out: dict[str, Any] = {"cniVersion": cni_version if cni_version in client.SUPPORTED_VERSIONS
                           else client.CURRENT_VERSION, "code": e.code, "msg": e.msg}
    if e.details:
        out["details"] = e.details
    return client.dumps(out)


def run(env: Mapping[str, str] | None = None, stdin: bytes | None = None, stdout: TextIO | None = None,
        stderr: TextIO | None = None, argv: list[str] | None = None) -> int:
    """One CNI call; returns the exit code."""
    env = os.environ if env is None else env
    stdout = sys.stdout if stdout is None else stdout
    stderr = sys.stderr if stderr is None else stderr
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("-v", "-version", "--version"):
        print(ABOUT, file=stdout)
        return 0
    if argv and argv[0] in ("-h", "-help", "--help"):
        print(HELP, file=stdout)
        return 0
    command = env.get("CNI_COMMAND", "")
    if command == "":  # libcni's skel: print what this is
        print(ABOUT, file=stderr)
        print("CNI protocol versions supported: " + ", ".join(client.SUPPORTED_VERSIONS), file=stderr)
        return 0
    if stdin is None:
        try:
            stdin = sys.stdin.buffer.read() if command != "VERSION" else b""
        except (OSError, ValueError, AttributeError):
            stdin = b""
    if command == "VERSION":
        stdout.write(client.dumps({"cniVersion": client.CURRENT_VERSION,
                                 "supportedVersions": list(client.SUPPORTED_VERSIONS)}) + "\n")
        return 0

    conf: dict[str, Any] = {}
    cni_version = ""
    verb = _VERBS.get(command, command)
    try:
        conf = _check_request(env, stdin)
        cni_version = conf.get("cniVersion", "")
        sock_dir = conf.get("daemonSocketDir")
        sock = client.socket_path(sock_dir if isinstance(sock_dir, str) and sock_dir else client.DEFAULT_SOCKET_DIR)
        if command == "DEL":
            return _delete(sock, env, stdin, conf, stderr)
        _wait_ready(sock, _ready_timeout(env, conf))
        reply = _post(sock, env, stdin)
        if command == "ADD":
            stdout.write(client.dumps(_result(reply, cni_version)) + "\n")
        return 0
    except ShimError as e:
        if e.wrap:
            e = ShimError(e.code, f"{verb} (shim): {e.msg}", e.details)
        _log(conf, stderr, e.msg)
        try:
            stdout.write(_error_json(e, cni_version) + "\n")
        except (OSError, ValueError):
            pass
        return 1


def _delete(sock: str, env: Mapping[str, str], stdin: bytes, conf: Mapping[str, Any], stderr: TextIO) -> int:
    """DEL never fails (upstream #1239): a daemon that is gone cannot hold pod removal hostage."""
    reason = client.healthy(sock, client.HEALTH_ENDPOINT)
    if reason is not None:
        _log(conf, stderr, f"CmdDel (shim): the multus daemon is not reachable, nothing deleted: {reason}")
        return 0
    try:
        _post(sock, env, stdin)
    except ShimError as e:
        _log(conf, stderr, f"CmdDel (shim): {e.msg}")
    return 0


def main() -> None:
    """The ``multus-shim`` executable: run, flush, and leave without interpreter teardown."""
    code = run()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = code or 1
    os._exit(code)


if __name__ == "__main__":
    main()
