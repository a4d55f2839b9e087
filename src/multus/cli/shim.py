#!/usr/bin/python3 -IScimport sys;d=open(sys.argv[1],'rb').read();exec(d.split(b'\n#:boot\n')[1])
"""``multus-shim``: thick mode's CNI plugin, a thin client of ``multus-daemon``.

**One self-contained file.** It imports nothing but the interpreter's standard library (and only
the C halves of ``json`` and ``socket``), runs on Python 3.8 and later, and works when copied by
itself into ``/opt/cni/bin`` and run by the node's ``python3 -I -S`` (its shebang, which loads
the file's compiled code from a cache beside it: see ``#:boot`` below). The package's
:mod:`multus.thick.client` re-exports the protocol half of this file for the daemon and the tests.

The runtime runs it like any CNI plugin; it forwards the call (its whole environment and stdin)
to the daemon over ``<daemonSocketDir>/multus.sock`` and prints the daemon's answer.

* ``VERSION`` is answered here; the checks libcni's ``skel`` makes before calling a plugin
  (required variables, interface name, config decoding and version) are made here too, with the
  same CNI error codes as the thin plugin.
* ADD, CHECK, GC, STATUS are posted at once. Only when the daemon cannot be reached (no socket
  yet, connection refused, a full listen backlog) does the shim wait until ``/readyz`` answers
  200 (``/healthz`` for a daemon that answers ``/readyz`` with 404, as upstream's v4.3.0),
  polled every 100 ms, up to 60 s (``MULTUS_SHIM_READY_TIMEOUT`` or the config key
  ``daemonReadyTimeout``, seconds), and post again. (Upstream's shim asks ``/readyz`` before
  every request: one more connection per call for an answer the ``POST`` gives as well.)
* Connection errors are retried with backoff until the same deadline, for every verb.
* **A DEL is never lost**: when the daemon stays unreachable, DEL runs the thin ``multus`` DEL
  (from the on-disk cache) if the ``multus`` package is importable or ``thinMultus`` names an
  executable; otherwise it fails with CNI error 11 (try again later) so that the runtime retries.
  It never exits 0 without the daemon (or the thin plugin) having done the DEL.
* ADD prints the result in the shim config's ``cniVersion``: the daemon's
  ``ResultAsRequested`` when it is in that version, else its 1.0.0 ``Result`` converted.
* A CNI error from the daemon is printed unchanged; a failure to reach it is error 999
  ``CmdAdd (shim): failed to send CNI request: Post "http://dummy/cni": dial unix …``.

The protocol, as upstream Multus speaks it (``pkg/server/api``):

* Socket: ``<socketDir>/multus.sock`` (``/run/multus/`` by default), HTTP/1.1 with one request
  per connection (upstream's server disables keep-alives), host name ``dummy``.
* ``POST /cni`` body ``{"env": {...}, "config": "<base64 of the CNI stdin>"}`` (Go marshals a
  ``[]byte`` as standard base64). ``200``: ``{"Result": <1.0.0 result>}`` for ADD, an empty body
  otherwise; our daemon adds ``"ResultAsRequested"`` (the result in the request config's
  ``cniVersion``), which Go ignores. ``400``: a CNI error object ``{"code", "msg", "details"}``
  or plain text.
* ``GET|POST /healthz`` 200; ``GET|POST /readyz`` 200, or 500 while the daemon shuts down.
"""

from __future__ import annotations

import binascii
import posix  # os itself costs more than a millisecond (os.path, stat, collections.abc)
import sys
import time

try:  # the C halves of json and socket: the Python halves import re, enum, typing, selectors ...
    import _json as _cjson
except ImportError:  # pragma: no cover - not CPython
    _cjson = None  # type: ignore[assignment]
import _socket

#:boot
# Run by its shebang, the shim starts here: ``python3 -I -S -c <the line above>`` has read this
# file (``d``) and runs only these lines. Python compiles a script it is given on every run (half
# of the shim's start-up); a ``-c`` command can load this file's code already compiled instead.
# The cache is ``__pycache__/<name>.<tag>.bin`` beside the file, keyed by the file's CRC-32 and
# length and by the interpreter's version; when it cannot be read or written, the file is
# compiled as usual. ``python3 -I -S multus-shim`` (no shebang) never comes here.
if __name__ == "__main__" and sys.argv[0] == "-c":
    def _boot(source: bytes) -> None:
        import binascii
        import marshal
        import posix

        path = sys.argv[1]
        key = f"{binascii.crc32(source):08x} {len(source)} {sys.version}\n".encode()
        head, _, name = path.rpartition("/")
        cache_dir = f"{head or '.'}/__pycache__"
        cache = f"{cache_dir}/{name}.{sys.implementation.cache_tag}.bin"
        code = None
        try:
            fd = posix.open(cache, posix.O_RDONLY | posix.O_CLOEXEC)
            try:
                st = posix.fstat(fd)
                data = posix.read(fd, st.st_size + 1) if st.st_uid == posix.geteuid() else b""
            finally:
                posix.close(fd)
            if data.startswith(key):
                code = marshal.loads(data[len(key):])
        except (OSError, ValueError, EOFError, TypeError):
            pass
        if code is None:
            code = compile(source, path, "exec", dont_inherit=True)
            tmp = f"{cache}.{posix.getpid()}"
            try:
                try:
                    posix.mkdir(cache_dir, 0o755)
                except FileExistsError:
                    pass
                fd = posix.open(tmp, posix.O_WRONLY | posix.O_CREAT | posix.O_EXCL | posix.O_CLOEXEC, 0o644)
                data = key + marshal.dumps(code)
                try:
                    written = posix.write(fd, data)
                finally:
                    posix.close(fd)
                if written != len(data):
                    raise OSError("short write")
                posix.rename(tmp, cache)
            except OSError:
                try:
                    posix.unlink(tmp)
                except OSError:
                    pass
        del sys.argv[0]  # what a script run sees: [path, args...]
        exec(code, {"__name__": "__main__", "__file__": path, "__builtins__": __builtins__})  # noqa: S102

    _boot(d)  # type: ignore[name-defined]  # noqa: F821 - the shebang's command defines it
#:boot

TYPE_CHECKING = False  # importing typing would cost more than the rest of the shim; mypy reads this block
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, TextIO

VERSION = "0.1.0"  # a copy of multus._version (the shim runs as one copied file); tests keep them equal
ABOUT = f"multus-shim: version: {VERSION} (python)"

# =============================================================================================
# The protocol (re-exported by multus.thick.client)
# =============================================================================================

DEFAULT_SOCKET_DIR = "/run/multus/"
SOCKET_NAME = "multus.sock"
CNI_ENDPOINT = "/cni"
DELEGATE_ENDPOINT = "/delegate"
HEALTH_ENDPOINT = "/healthz"
READY_ENDPOINT = "/readyz"
RESULT_KEY = "Result"
"""Upstream's ``api.Response.Result``: the ADD result, always CNI 1.0.0."""
REQUESTED_RESULT_KEY = "ResultAsRequested"
"""Our addition: the ADD result already in the request config's ``cniVersion`` (Go ignores it;
its JSON decoder matches keys case-insensitively, so the name must not be ``result``)."""

READY_POLL_INTERVAL = 0.1
READY_TIMEOUT = 60.0
"""upstream's ``APIReadyPollDuration`` and ``APIReadyPollTimeout``."""
RETRY_FIRST_DELAY = 0.02
RETRY_MAX_DELAY = 0.5
"""Backoff between attempts to reach the daemon: doubled each time, with jitter, up to this."""

CURRENT_VERSION = "1.1.0"
SUPPORTED_VERSIONS = ("0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")

# errno values for "the daemon is not there (yet)": ENOENT, ECONNREFUSED, EAGAIN (a full listen
# backlog, for a non-blocking AF_UNIX connect), EWOULDBLOCK, ECONNRESET, EPIPE. Linux numbers:
# importing errno would cost a module for six constants.
ENOENT, EAGAIN, ECONNREFUSED, ECONNRESET, EPIPE = 2, 11, 111, 104, 32
CONNECT_RETRY_ERRNOS = frozenset((ENOENT, EAGAIN, ECONNREFUSED))


def socket_path(socket_dir: str) -> str:
    """upstream's ``api.SocketPath``: ``<dir>/multus.sock``."""
    socket_dir = socket_dir or DEFAULT_SOCKET_DIR
    return socket_dir + SOCKET_NAME if socket_dir.endswith("/") else f"{socket_dir}/{SOCKET_NAME}"


# ---------------------------------------------------------------------------------------------
# JSON through the C accelerator (what json.loads/json.dumps end up calling)
# ---------------------------------------------------------------------------------------------

_WHITESPACE = " \t\n\r"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class _ScanContext:
    """The attributes ``_json.make_scanner`` reads from a ``json.JSONDecoder``."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = staticmethod(_reject_constant)


_scanner: list[Any] = []


def loads(data: bytes | bytearray | str) -> Any:
    """``json.loads`` (UTF-8 bytes or str); :mod:`json` itself is imported only for bad input."""
    text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
    if _cjson is not None:
        if not _scanner:
            _scanner.append(_cjson.make_scanner(_ScanContext()))  # type: ignore[arg-type]
        start = len(text) - len(text.lstrip(_WHITESPACE))
        try:
            obj, end = _scanner[0](text, start)
        except ValueError:  # NaN, Infinity: _reject_constant
            raise
        except Exception:  # noqa: BLE001 - StopIteration, or the SystemError of a scanner whose error
            end = -1       # class (json.decoder.JSONDecodeError) is not imported: json says what is wrong
        if end >= 0 and not text[end:].strip(_WHITESPACE):
            return obj
    import json

    return json.loads(text, parse_constant=_reject_constant)


def _not_serializable(o: Any) -> Any:
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


def dumps(obj: Any) -> str:
    """``json.dumps(obj)`` (same separators, ASCII output)."""
    if _cjson is None:  # pragma: no cover
        import json

        return json.dumps(obj)
    encode = _cjson.make_encoder(None, _not_serializable, _cjson.encode_basestring_ascii, None, ": ", ", ",
                                 False, False, True)
    return "".join(encode(obj, 0))


# ---------------------------------------------------------------------------------------------
# HTTP over the unix socket
# ---------------------------------------------------------------------------------------------


class TransportError(Exception):
    """The request could not be sent or its answer not read (the daemon is down, ...).

    The text is Go's ``http.Client`` error, as upstream's shim reports it:
    ``Post "http://dummy/cni": dial unix /run/multus/multus.sock: connect: no such file or directory``.
    ``connect_errno``: the errno of a failed connect (the request was never sent), else ``None``.
    """

    def __init__(self, message: str, connect_errno: int | None = None) -> None:
        super().__init__(message)
        self.connect_errno = connect_errno

    @property
    def retryable_connect(self) -> bool:
        """The daemon is not there (yet): no socket, refused, or its listen backlog is full."""
        return self.connect_errno in CONNECT_RETRY_ERRNOS


class Reply:
    """An HTTP answer: status, lower-cased headers and the body."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return loads(self.body) if self.body.strip() else None


def _go_errno(e: OSError) -> str:
    """Go prints syscall errors lower-case (``connect: no such file or directory``)."""
    text = e.strerror or str(e)
    return text[:1].lower() + text[1:]


def encode_request(env: Mapping[str, str], config: bytes, **extra: Any) -> bytes:
    """The body of a ``/cni`` or ``/delegate`` request (upstream's ``api.Request``)."""
    body: dict[str, Any] = {"env": dict(env), "config": binascii.b2a_base64(config, newline=False).decode("ascii")}
    body.update(extra)
    return dumps(body).encode()


def request(path_to_socket: str, method: str, path: str, body: bytes = b"",
            timeout: float | None = None, content_type: str = "application/json") -> Reply:
    """One HTTP/1.1 request over the unix socket, ``Connection: close``; :class:`TransportError`
    when the daemon cannot be reached or answers something that is not HTTP."""
    what = f'{method.capitalize()} "http://dummy{path}"'
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        try:
            sock.connect(path_to_socket)
        except OSError as e:
            raise TransportError(f"{what}: dial unix {path_to_socket}: connect: {_go_errno(e)}",
                                 e.errno or 0) from None
        head = (f"{method} {path} HTTP/1.1\r\nHost: dummy\r\nUser-Agent: multus-shim\r\n"
                f"Content-Length: {len(body)}\r\n")
        if body:
            head += f"Content-Type: {content_type}\r\n"
        head += "Connection: close\r\n\r\n"
        try:
            sock.sendall(head.encode("latin-1") + body)
            return _read_reply(sock)
        except _socket.timeout:  # TimeoutError from 3.10 on; its own class before
            raise TransportError(f"{what}: timeout awaiting response headers") from None
        except OSError as e:
            raise TransportError(f"{what}: {_go_errno(e)}") from None
    finally:
        sock.close()


def _read_reply(sock: _socket.socket) -> Reply:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise OSError(0, "EOF" if not buf else "malformed HTTP response (no end of headers)")
        buf += chunk
    head_bytes, _, rest = buf.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise OSError(0, f"malformed HTTP response {lines[0]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        k, sep, v = line.partition(":")
        if sep:
            headers[k.strip().lower()] = v.strip()
    status = int(parts[1])
    if status in (204, 304) or 100 <= status < 200:
        return Reply(status, headers, b"")
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return Reply(status, headers, _dechunk(sock, rest))
    length = headers.get("content-length")
    if length is not None and length.isdigit():
        want = int(length)
        while len(rest) < want:
            chunk = sock.recv(65536)
            if not chunk:
                raise OSError(0, "unexpected EOF")
            rest += chunk
        return Reply(status, headers, rest[:want])
    while True:  # no length: the body ends when the server closes
        chunk = sock.recv(65536)
        if not chunk:
            return Reply(status, headers, rest)
        rest += chunk


def _dechunk(sock: _socket.socket, data: bytes) -> bytes:
    out = b""
    while True:
        while b"\r\n" not in data:
            more = sock.recv(65536)
            if not more:
                raise OSError(0, "unexpected EOF in chunked body")
            data += more
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            return out
        while len(data) < size + 2:
            more = sock.recv(65536)
            if not more:
                raise OSError(0, "unexpected EOF in chunked body")
            data += more
        out += data[:size]
        data = data[size + 2:]


def healthy(path_to_socket: str, endpoint: str = HEALTH_ENDPOINT, timeout: float = 5.0) -> str | None:
    """``None`` when ``GET endpoint`` answers 200, else why not."""
    try:
        reply = request(path_to_socket, "GET", endpoint, timeout=timeout)
    except TransportError as e:
        return str(e)
    if reply.status != 200:
        return f"{endpoint} answered {reply.status}"
    return None


class Backoff:
    """Delays between attempts to reach the daemon, until a deadline (monotonic seconds)."""

    def __init__(self, timeout: float) -> None:
        self.deadline = time.monotonic() + timeout
        self._delay = RETRY_FIRST_DELAY

    def wait(self) -> bool:
        """Sleep before the next attempt; ``False`` (without sleeping) when the deadline is near."""
        # jitter from the clock's low digits: 200 shims retrying in step would meet again
        delay = self._delay * (0.5 + (time.monotonic_ns() % 1000) / 1000)
        if time.monotonic() + delay > self.deadline:
            return False
        time.sleep(delay)
        self._delay = min(self._delay * 2, RETRY_MAX_DELAY)
        return True


# ---------------------------------------------------------------------------------------------
# 1.0.0 result -> the runtime's version (libcni types100 converters, the common cases)
# ---------------------------------------------------------------------------------------------


class ConversionError(Exception):
    """The result cannot be expressed in the requested version (code 1, as libcni)."""


def _is_v4(address: str) -> bool:
    # Go prints IPv4 (and IPv4-mapped IPv6) addresses dotted, every other IPv6 with colons.
    return ":" not in address


def convert_result(result: Mapping[str, Any], to_version: str) -> dict[str, Any]:
    """A 1.0.0/1.1.0 result (``Result`` of the daemon's answer) in ``to_version``.

    1.x: the same object with ``cniVersion`` replaced; 0.3.0/0.3.1/0.4.0: libcni's
    ``convertTo04x`` (each IP gets ``version`` from its address, interfaces lose ``mtu``,
    ``socketPath`` and ``pciID``, ``dns`` is always printed); 0.1.0/0.2.0: ``convertTo02x`` (the
    first IPv4 and IPv6 address, routes by family). An empty ``to_version`` keeps the result.
    """
    src = str(result.get("cniVersion", "") or "1.0.0")
    if not src.startswith("1."):
        raise ConversionError(f"no converter for CNI result version {src} to {to_version}")
    if not to_version or to_version == src:
        return dict(result)
    if to_version.startswith("1."):
        return dict(result, cniVersion=to_version)
    interfaces = [{k: v for k, v in i.items() if k in ("name", "mac", "sandbox")}
                  for i in result.get("interfaces") or [] if isinstance(i, dict)]
    ips: list[dict[str, Any]] = []
    for ip in result.get("ips") or []:
        if not isinstance(ip, dict):
            continue
        entry: dict[str, Any] = {"version": "4" if _is_v4(str(ip.get("address", ""))) else "6"}
        entry.update({k: ip[k] for k in ("interface", "address", "gateway") if k in ip})
        ips.append(entry)
    routes = [r for r in result.get("routes") or [] if isinstance(r, dict)]
    dns = result.get("dns") if isinstance(result.get("dns"), dict) else {}
    if to_version in ("0.3.0", "0.3.1", "0.4.0"):
        out: dict[str, Any] = {"cniVersion": to_version}
        if interfaces:
            out["interfaces"] = interfaces
        if ips:
            out["ips"] = ips
        if routes:
            out["routes"] = routes
        out["dns"] = dns
        return out
    if to_version in ("0.1.0", "0.2.0"):
        first: dict[str, dict[str, Any]] = {}
        for ip in ips:
            fam = ip["version"]
            if fam not in first:
                first[fam] = {"ip": ip.get("address", "")}
                if ip.get("gateway"):
                    first[fam]["gateway"] = ip["gateway"]
        if not first:
            raise ConversionError("cannot convert: no valid IP addresses")
        for r in routes:
            fam = "4" if _is_v4(str(r.get("dst", ""))) else "6"
            if fam in first:
                route = {"dst": r.get("dst")}
                if r.get("gw"):
                    route["gw"] = r["gw"]
                first[fam].setdefault("routes", []).append(route)
        out = {"cniVersion": to_version}
        if "4" in first:
            out["ip4"] = first["4"]
        if "6" in first:
            out["ip6"] = first["6"]
        out["dns"] = dns
        return out
    raise ConversionError(f"no converter for CNI result version {src} to {to_version}")


# =============================================================================================
# The CNI plugin
# =============================================================================================

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
DAEMON_CONFIG_KEY = "daemonConfigFile"
DEFAULT_DAEMON_CONFIG = "/etc/cni/net.d/multus.d/daemon-config.json"
THIN_KEY = "thinMultus"
THIN_MODULE = "multus.cli.thin"
THIN_TIMEOUT = 300.0

# CNI error codes (multus.errors, repeated here to keep the shim free of the core's imports)
INCOMPATIBLE_VERSION = 1
INVALID_ENV = 4
DECODE_FAILURE = 6
INVALID_CONFIG = 7
TRY_AGAIN_LATER = 11
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


def environ() -> dict[str, str]:
    """``os.environ`` as a plain dict (decoded as :func:`os.fsdecode` does)."""
    enc = sys.getfilesystemencoding()
    return {k.decode(enc, "surrogateescape"): v.decode(enc, "surrogateescape") for k, v in posix.environ.items()}


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
        # multus.cni.names.interface_name_problem's verdict (15 bytes, not characters), without importing it
        if len(name.encode("utf-8", "surrogatepass")) > 15 or name in (".", "..") or any(c in name for c in "/:") \
                or any(c.isspace() for c in name) or not name.isprintable():
            raise ShimError(INVALID_ENV, f"CNI_IFNAME: interface name {name!r} is not a valid name")
    if not stdin.strip():
        raise ShimError(DECODE_FAILURE, "stdin: the network configuration is empty")
    try:
        conf = loads(stdin)
    except (ValueError, UnicodeDecodeError) as e:
        raise ShimError(DECODE_FAILURE, f"stdin: error unmarshalling network config: {e}") from None
    if not isinstance(conf, dict):
        raise ShimError(DECODE_FAILURE, "stdin: the network configuration must be a JSON object")
    cv = conf.get("cniVersion", "")
    if not isinstance(cv, str):
        raise ShimError(DECODE_FAILURE, "cniVersion: must be a string")
    if (cv or "0.1.0") not in SUPPORTED_VERSIONS:
        raise ShimError(INCOMPATIBLE_VERSION, f"incompatible CNI versions: config is {cv!r}, "
                        f"plugin supports {list(SUPPORTED_VERSIONS)}")
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
        t = float(value) if value not in (None, "") and not isinstance(value, bool) else READY_TIMEOUT
    except (TypeError, ValueError):
        t = READY_TIMEOUT
    return t if t >= 0 else READY_TIMEOUT


def _wait_ready(sock: str, backoff: Backoff, timeout: float) -> None:
    """upstream's ``WaitUntilAPIReady``: poll ``/readyz`` at once, then every 100 ms. A daemon
    that answers ``/readyz`` with 404 (upstream's v4.3.0 serves only ``/healthz``) is asked
    ``/healthz`` instead."""
    endpoint = READY_ENDPOINT
    while True:
        try:
            reply = request(sock, "GET", endpoint, timeout=5.0)
            if reply.status == 200:
                return
            if reply.status == 404 and endpoint == READY_ENDPOINT:
                endpoint = HEALTH_ENDPOINT
                continue
            reason = f"{endpoint} answered {reply.status}"
        except TransportError as e:
            reason = str(e)
        if time.monotonic() + READY_POLL_INTERVAL > backoff.deadline:
            raise ShimError(INTERNAL, f"failed waiting for the multus daemon to be ready: timed out after "
                            f"{timeout:g} s: {reason}", wrap=True)
        time.sleep(READY_POLL_INTERVAL)


def _send(sock: str, body: bytes, backoff: Backoff, idempotent: bool, ready_timeout: float | None) -> Reply:
    """POST ``/cni``; connection errors are retried until the deadline (any transport error for
    an idempotent verb: a daemon that died while answering a DEL is asked again). With
    ``ready_timeout``, the first connection error waits for the daemon's readiness first."""
    while True:
        try:
            return request(sock, "POST", CNI_ENDPOINT, body)
        except TransportError as e:
            if ready_timeout is not None and e.retryable_connect:
                _wait_ready(sock, backoff, ready_timeout)
                ready_timeout = None
                continue
            if not (e.retryable_connect or idempotent) or not backoff.wait():
                raise


def _post(sock: str, env: Mapping[str, str], stdin: bytes, backoff: Backoff, idempotent: bool = False,
          ready_timeout: float | None = None) -> Reply:
    try:
        reply = _send(sock, encode_request(env, stdin), backoff, idempotent, ready_timeout)
    except TransportError as e:
        raise ShimError(INTERNAL, f"failed to send CNI request: {e}: StdinData: {stdin.decode(errors='replace')}",
                        wrap=True) from e
    if reply.status == 200:
        return reply
    try:
        err = loads(reply.body)
    except (ValueError, UnicodeDecodeError):
        err = None
    if isinstance(err, dict) and isinstance(err.get("code"), int) and err["code"] != 0:
        # a CNI error: the daemon's code, msg and details, unchanged
        raise ShimError(err["code"], str(err.get("msg", "")), str(err.get("details", "") or ""))
    text = reply.body.decode(errors="replace")
    raise ShimError(INTERNAL, f"CNI request failed with status {reply.status}: '{text}': "
                    f"StdinData: {stdin.decode(errors='replace')}", wrap=True)


def _result(reply: Reply, cni_version: str) -> dict[str, Any]:
    try:
        data = reply.json()
    except (ValueError, UnicodeDecodeError) as e:
        raise ShimError(INTERNAL, f"failed to unmarshal response '{reply.body.decode(errors='replace')}': {e}",
                        wrap=True) from None
    if not isinstance(data, dict) or not isinstance(data.get(RESULT_KEY), dict):
        raise ShimError(INTERNAL, f"the daemon answered no result: '{reply.body.decode(errors='replace')}'",
                        wrap=True)
    requested = data.get(REQUESTED_RESULT_KEY)
    if isinstance(requested, dict) and (not cni_version or requested.get("cniVersion") == cni_version):
        return requested
    try:
        return convert_result(data[RESULT_KEY], cni_version)
    except ConversionError as e:
        raise ShimError(INCOMPATIBLE_VERSION, str(e)) from None


def _error_json(e: ShimError, cni_version: str) -> str:
    out: dict[str, Any] = {"cniVersion": cni_version if cni_version in SUPPORTED_VERSIONS
                           else CURRENT_VERSION, "code": e.code, "msg": e.msg}
    if e.details:
        out["details"] = e.details
    return dumps(out)


def run(env: Mapping[str, str] | None = None, stdin: bytes | None = None, stdout: TextIO | None = None,
        stderr: TextIO | None = None, argv: list[str] | None = None) -> int:
    """One CNI call; returns the exit code."""
    env = environ() if env is None else env
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
        print("CNI protocol versions supported: " + ", ".join(SUPPORTED_VERSIONS), file=stderr)
        return 0
    if stdin is None:
        try:
            stdin = sys.stdin.buffer.read() if command != "VERSION" else b""
        except (OSError, ValueError, AttributeError):
            stdin = b""
    if command == "VERSION":
        stdout.write(dumps({"cniVersion": CURRENT_VERSION, "supportedVersions": list(SUPPORTED_VERSIONS)}) + "\n")
        return 0

    conf: dict[str, Any] = {}
    cni_version = ""
    verb = _VERBS.get(command, command)
    try:
        conf = _check_request(env, stdin)
        cni_version = conf.get("cniVersion", "")
        sock_dir = conf.get("daemonSocketDir")
        sock = socket_path(sock_dir if isinstance(sock_dir, str) and sock_dir else DEFAULT_SOCKET_DIR)
        timeout = _ready_timeout(env, conf)
        backoff = Backoff(timeout)
        if command == "DEL":
            return _delete(sock, env, stdin, conf, backoff, stdout, stderr)
        reply = _post(sock, env, stdin, backoff, ready_timeout=timeout)
        if command == "ADD":
            stdout.write(dumps(_result(reply, cni_version)) + "\n")
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


def _delete(sock: str, env: Mapping[str, str], stdin: bytes, conf: Mapping[str, Any], backoff: Backoff,
            stdout: TextIO, stderr: TextIO) -> int:
    """DEL through the daemon, retried until the deadline; then the thin plugin's DEL; else
    error 11. Errors of the daemon's DEL are reported (the runtime calls DEL again)."""
    try:
        _post(sock, env, stdin, backoff, idempotent=True)
        return 0
    except ShimError as e:
        if not isinstance(e.__cause__, TransportError):
            raise  # the daemon ran the DEL and it failed
        reason = str(e.__cause__)
    thin = _thin_command(conf)
    if thin is None:
        raise ShimError(TRY_AGAIN_LATER, f"the multus daemon is not reachable and the thin multus plugin is "
                        f"not available to delete from the cache, try again later: {reason}", wrap=True)
    _log(conf, stderr, f"CmdDel (shim): the multus daemon is not reachable ({reason}): deleting with "
         f"{' '.join(thin)}")
    return _run_thin(thin, env, _with_daemon_config(stdin, conf, stderr), stdout, stderr)


def _thin_command(conf: Mapping[str, Any]) -> list[str] | None:
    """The thin ``multus``: ``thinMultus`` (an executable) when set, else this interpreter's
    ``-m multus.cli.thin`` when the ``multus`` package is importable here."""
    path = conf.get(THIN_KEY)
    if isinstance(path, str) and path:
        return [path] if posix.access(path, posix.X_OK) else None
    from importlib.util import find_spec

    try:
        found = find_spec(THIN_MODULE) is not None
    except (ImportError, ValueError):
        found = False
    return [sys.executable, "-m", THIN_MODULE] if found and sys.executable else None


def _with_daemon_config(stdin: bytes, conf: Mapping[str, Any], stderr: TextIO) -> bytes:
    """The configuration the daemon would have run: the daemon configuration file's keys laid
    over the shim's (its ``cniDir``, ``kubeconfig``, ... are where the pod's cache and API are)."""
    path = conf.get(DAEMON_CONFIG_KEY)
    path = path if isinstance(path, str) and path else DEFAULT_DAEMON_CONFIG
    try:
        with open(path, "rb") as f:
            daemon_conf = loads(f.read())
    except (OSError, ValueError, UnicodeDecodeError) as e:
        problem = "file not found" if isinstance(e, FileNotFoundError) else str(e)
        daemon_conf = None
    else:
        problem = "not a non-empty JSON object"
    if not isinstance(daemon_conf, dict) or not daemon_conf:
        if "cniDir" not in conf:
            # without the daemon's cniDir the thin DEL would look in the wrong cache, find nothing
            # and report success with the pod still whole: let the runtime retry instead
            raise ShimError(TRY_AGAIN_LATER, f"the multus daemon is not reachable and its configuration "
                            f"{DAEMON_CONFIG_KEY} {path} cannot be read ({problem}), so the pod's cache is "
                            f"unknown: try again later", wrap=True)
        _log(conf, stderr, f"CmdDel (shim): without the daemon configuration {path} ({problem}): "
             f"deleting with the shim's own keys")
        return stdin
    merged = dict(conf)
    merged.update(daemon_conf)
    return dumps(merged).encode()


def _run_thin(cmd: list[str], env: Mapping[str, str], stdin: bytes, stdout: TextIO, stderr: TextIO) -> int:
    import subprocess

    try:
        p = subprocess.run(cmd, input=stdin, env=dict(env), capture_output=True, timeout=THIN_TIMEOUT, check=False)
    except (OSError, subprocess.SubprocessError) as e:
        raise ShimError(TRY_AGAIN_LATER, f"the multus daemon is not reachable and the thin multus plugin "
                        f"{' '.join(cmd)} failed to run, try again later: {e}", wrap=True) from None
    stdout.write(p.stdout.decode(errors="replace"))
    stderr.write(p.stderr.decode(errors="replace"))
    return p.returncode


def main() -> None:
    """The ``multus-shim`` executable: run, flush, and leave without interpreter teardown."""
    code = run()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = code or 1
    posix._exit(code)


if __name__ == "__main__":
    main()
