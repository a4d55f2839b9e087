"""The daemon's HTTP/1.1 server on ``<socketDir>/multus.sock``, its metrics and its shutdown.

Standard library only for the server (``socketserver.ThreadingMixIn`` on ``AF_UNIX`` and
``http.server.BaseHTTPRequestHandler``): one thread per connection, one request per connection
(upstream disables keep-alives), at most ``connectionLimit`` connections served at once (the
accept loop waits for a free slot, as Go's ``netutil.LimitListener``).

Routes (upstream's mux): ``/cni`` and ``/delegate`` (POST), ``/healthz`` and ``/readyz`` (GET,
POST), anything else 404; a method a route does not take is 405. Every answer is counted in
``multus_server_request_total{handler,code,method}``.

Shutdown: :meth:`Daemon.request_shutdown` (SIGTERM/SIGINT) makes ``/readyz`` answer 500 at once,
keeps serving for ``shutdownGracePeriod`` seconds (shims that already saw the daemon ready can
still send their request), then closes the socket and waits for every request in flight.
"""

from __future__ import annotations

import contextlib
import http.server
import logging
import os
import socket
import socketserver
import stat
import threading
from typing import Any, cast
from urllib.parse import urlsplit

from multus.thick.client import CNI_ENDPOINT, DELEGATE_ENDPOINT, HEALTH_ENDPOINT, READY_ENDPOINT, socket_path
from multus.thick.config import DaemonConfig
from multus.thick.service import Answer, Service

log = logging.getLogger("multus.daemon")

NOT_FOUND_LABEL = "NotFound"
_ROUTES: dict[str, tuple[str, ...]] = {
    CNI_ENDPOINT: ("POST",),
    DELEGATE_ENDPOINT: ("POST",),
    HEALTH_ENDPOINT: ("GET", "POST"),
    READY_ENDPOINT: ("GET", "POST"),
}
MAX_BODY = 64 * 1024 * 1024


class Metrics:
    """``multus_server_request_total{handler,code,method}`` in a registry of its own."""

    def __init__(self) -> None:
        import prometheus_client

        # Go's client has no *_created series; this switch is process-wide, which suits a daemon.
        prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = prometheus_client.CollectorRegistry(auto_describe=True)
        self.requests = prometheus_client.Counter(
            "multus_server_request_total", "Counter of HTTP requests", ["handler", "code", "method"],
            registry=self.registry)
        self._server: http.server.ThreadingHTTPServer | None = None

    def count(self, handler: str, code: int, method: str) -> None:
        # promhttp's labels: the status as a number, the method lower-cased
        self.requests.labels(handler=handler, code=str(code), method=method.lower()).inc()

    def render(self) -> tuple[bytes, str]:
        import prometheus_client

        return prometheus_client.generate_latest(self.registry), prometheus_client.CONTENT_TYPE_LATEST

    def serve(self, port: int) -> None:
        """``/metrics`` on ``:<port>`` (every address, IPv6 too when the host has it)."""
        metrics = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if urlsplit(self.path).path != "/metrics":
                    self.send_error(404)
                    return
                body, ctype = metrics.render()
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("metrics: " + format, *args)

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            address_family = socket.AF_INET6 if socket.has_dualstack_ipv6() else socket.AF_INET

            def server_bind(self) -> None:
                if self.address_family == socket.AF_INET6:
                    self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
                super().server_bind()

        host = "::" if Server.address_family == socket.AF_INET6 else ""
        self._server = Server((host, port), Handler)
        threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True).start()
        log.info("metrics: serving /metrics on :%d", port)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "multus-daemon"
    sys_version = ""
    timeout = 60  # reading one request; a request's own work is not limited here

    def _serve(self) -> None:
        daemon = cast("_UnixServer", self.server).daemon
        self.close_connection = True
        path = urlsplit(self.path).path
        try:
            body = self._body()
        except ValueError as e:
            self._send(Answer.text(400, f"invalid request: {e}"))
            daemon.metrics.count(path if path in _ROUTES else NOT_FOUND_LABEL, 400, self.command)
            return
        label, answer = daemon.route(self.command, path, body)
        self._send(answer)
        daemon.metrics.count(label, answer.status, self.command)

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            out = b""
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline(4)
                if len(out) > MAX_BODY:
                    raise ValueError("request body too large")
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > MAX_BODY:
            raise ValueError("bad Content-Length")
        return self.rfile.read(length) if length else b""

    def _send(self, answer: Answer) -> None:
        self.send_response(answer.status)
        if answer.body:
            self.send_header("Content-Type", answer.content_type)
        if answer.content_type.startswith("text/plain"):
            self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Length", str(len(answer.body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if answer.body and self.command != "HEAD":
            self.wfile.write(answer.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

    def address_string(self) -> str:
        return "unix"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http: " + format, *args)


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = False
    block_on_close = True  # server_close() waits for every request in flight
    request_queue_size = 128

    def __init__(self, path: str, daemon: Daemon, limit: int | None) -> None:
        self.daemon = daemon
        self._slots = threading.BoundedSemaphore(limit) if limit else None
        super().__init__(path, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if self._slots is not None:
            self._slots.acquire()
        try:
            super().process_request(request, client_address)
        except BaseException:
            if self._slots is not None:
                self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            if self._slots is not None:
                self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.exception("error serving a connection")


class Daemon:
    """The running daemon: socket, server, readiness, metrics."""

    def __init__(self, config: DaemonConfig, service: Service) -> None:
        self.config = config
        self.service = service
        self.metrics = Metrics()
        self.socket_path = socket_path(config.socket_dir)
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._server: _UnixServer | None = None

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    # --- routing -------------------------------------------------------------------------

    def route(self, method: str, path: str, body: bytes) -> tuple[str, Answer]:
        """``(metrics handler label, answer)`` of one request."""
        allowed = _ROUTES.get(path)
        if allowed is None:
            log.error("http not found: %s %s", method, path)
            return NOT_FOUND_LABEL, Answer(404)
        if method not in allowed:
            return path, Answer.text(405, "Method not allowed")
        if path == HEALTH_ENDPOINT:
            return path, Answer(200)
        if path == READY_ENDPOINT:
            return path, Answer(200) if self.ready else Answer.text(500, "shutting down")
        if path == CNI_ENDPOINT:
            return path, self.service.cni(body)
        return path, self.service.delegate(body)

    # --- lifecycle -----------------------------------------------------------------------

    def listen(self) -> None:
        """upstream's ``FilesystemPreRequirements`` + ``GetListener``: a 0700 directory, the
        socket in it 0600."""
        d = os.path.abspath(self.config.socket_dir)
        # upstream removes and recreates the whole directory; a mistaken socketDir (/var/lib, /etc)
        # would then be wiped. We only ever remove our own stale socket, and make the directory
        # private.
        os.makedirs(d, mode=0o700, exist_ok=True)
        os.chmod(d, 0o700)
        try:
            if stat.S_ISSOCK(os.lstat(self.socket_path).st_mode):
                os.unlink(self.socket_path)
            else:
                raise OSError(f"refusing to replace {self.socket_path}: it exists and is not a socket")
        except FileNotFoundError:
            pass
        self._server = _UnixServer(self.socket_path, self, self.config.connection_limit)
        os.chmod(self.socket_path, 0o600)
        if self.config.metrics_port is not None:
            self.metrics.serve(self.config.metrics_port)
        self._ready.set()
        log.info("listening on %s", self.socket_path)

    def serve(self) -> None:
        """Serve until :meth:`request_shutdown`'s grace period is over, then wait for every
        request in flight and clean up."""
        server = self._server
        if server is None:
            raise RuntimeError("listen() first")
        try:
            server.serve_forever(poll_interval=0.1)
        finally:
            server.server_close()  # closes the socket, joins the request threads
            with contextlib.suppress(OSError):
                os.unlink(self.socket_path)
            self.metrics.close()
            self._server = None
            log.info("stopped")

    def request_shutdown(self, reason: str = "") -> None:
        """Not ready from now on; stop serving after the grace period (at once when asked twice)."""
        server = self._server
        if server is None:
            return
        self._ready.clear()
        if self._stopping.is_set():
            log.info("shutting down now (%s)", reason)
            threading.Thread(target=server.shutdown, name="shutdown-now", daemon=True).start()
            return
        self._stopping.set()
        grace = self.config.shutdown_grace
        log.info("shutting down (%s): /readyz answers 500, serving %.1f s more", reason, grace)
        timer = threading.Timer(grace, server.shutdown)
        timer.name = "shutdown"
        timer.daemon = True
        timer.start()
