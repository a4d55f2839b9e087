"""The shim <-> daemon protocol, as upstream Multus speaks it (``pkg/server/api``).

**Standard library only**: ``multus-shim`` imports this module and must start fast.

* Socket: ``<socketDir>/multus.sock`` (``/run/multus/`` by default), HTTP/1.1 with one request
  per connection (upstream's server disables keep-alives), host name ``dummy``.
* ``POST /cni`` body ``{"env": {...}, "config": "<base64 of the CNI stdin>"}`` (Go marshals a
  ``[]byte`` as standard base64). ``200``: ``{"Result": <1.0.0 result>}`` for ADD, an empty body
  otherwise; our daemon adds ``"ResultAsRequested"`` (the result in the request config's
  ``cniVersion``), which Go ignores. ``400``: a CNI error object ``{"code", "msg", "details"}``
  or plain text.
* ``GET|POST /healthz`` 200; ``GET|POST /readyz`` 200, or 500 while the daemon shuts down.

:func:`request` is a minimal client: connect, write one request, read until the server closes.
:func:`convert_result` turns the 1.0.0 ``Result`` into the version the runtime asked for (what
libcni's ``PrintResult`` does in upstream's shim), for a daemon that sends only ``Result``.
"""

from __future__ import annotations

import binascii
import os

try:  # the C halves of json and socket: the Python halves import re, enum, typing, selectors ...
    import _json as _cjson
except ImportError:  # pragma: no cover - not CPython
    _cjson = None  # type: ignore[assignment]
import _socket

TYPE_CHECKING = False  # typing itself costs milliseconds at start-up; mypy reads this block
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

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

CURRENT_VERSION = "1.1.0"
SUPPORTED_VERSIONS = ("0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")


def socket_path(socket_dir: str) -> str:
    """upstream's ``api.SocketPath``: ``<dir>/multus.sock``."""
    return os.path.join(socket_dir or DEFAULT_SOCKET_DIR, SOCKET_NAME)


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


def loads(data: bytes | str) -> Any:
    """``json.loads`` (UTF-8 bytes or str); :mod:`json` itself is imported only for bad input."""
    text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
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
    """


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
            raise TransportError(f"{what}: dial unix {path_to_socket}: connect: {_go_errno(e)}") from None
        head = (f"{method} {path} HTTP/1.1\r\nHost: dummy\r\nUser-Agent: multus-shim\r\n"
                f"Content-Length: {len(body)}\r\n")
        if body:
            head += f"Content-Type: {content_type}\r\n"
        head += "Connection: close\r\n\r\n"
        try:
            sock.sendall(head.encode("latin-1") + body)
            return _read_reply(sock)
        except TimeoutError:
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
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
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
        return {**result, "cniVersion": to_version}
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
                first[fam] = {"ip": ip.get("address", "")} | ({"gateway": ip["gateway"]} if ip.get("gateway") else {})
        if not first:
            raise ConversionError("cannot convert: no valid IP addresses")
        for r in routes:
            fam = "4" if _is_v4(str(r.get("dst", ""))) else "6"
            if fam in first:
                first[fam].setdefault("routes", []).append(
                    {"dst": r.get("dst")} | ({"gw": r["gw"]} if r.get("gw") else {}))
        out = {"cniVersion": to_version}
        if "4" in first:
            out["ip4"] = first["4"]
        if "6" in first:
            out["ip6"] = first["6"]
        out["dns"] = dns
        return out
    raise ConversionError(f"no converter for CNI result version {src} to {to_version}")
