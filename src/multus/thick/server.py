"""The daemon's HTTP/1.1 server on ``<socketDir>/multus.sock``, its request queue and its shutdown.

One asyncio loop (the main thread) accepts connections and reads requests; the CNI work runs on a
pool of ``connectionLimit`` worker threads. So:

* the accept loop never waits for a client: a slow, truncated, oversized or malformed request
  holds only its own connection (each request must arrive within ``requestTimeout``, its body
  within :data:`MAX_BODY`, its head within about :data:`MAX_HEAD`; the parser is ``h11``);
* requests beyond ``connectionLimit`` **wait in the daemon's queue** (first come, first served)
  instead of being refused; the listen backlog is ``SOMAXCONN`` and at most
  :data:`MAX_CONNECTIONS` connections are open at once, so memory stays bounded in a burst (the
  kernel holds the rest, and the shim retries a full backlog);
* every connection's peer is checked (``SO_PEERCRED``): only ``allowedUIDs`` (root) are served,
  others get ``403``.

Routes (upstream's mux): ``/cni`` and ``/delegate`` (POST), ``/healthz`` and ``/readyz`` (GET,
POST), anything else 404; a method a route does not take is 405. One request per connection
(upstream disables keep-alives). Every answer is counted in
``multus_server_request_total{handler,code,method}``.

Shutdown: :meth:`Daemon.request_shutdown` (SIGTERM/SIGINT) makes ``/readyz`` answer 500 at once,
keeps serving for ``shutdownGracePeriod`` seconds, then removes the socket's name (new shims get
"no such file" and retry until the next daemon listens), serves every connection already in the
listen backlog and every request in the queue, and returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import socket
import stat
import struct
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from urllib.parse import urlsplit

import h11

from multus.thick.client import CNI_ENDPOINT, DELEGATE_ENDPOINT, HEALTH_ENDPOINT, READY_ENDPOINT, socket_path
from multus.thick.config import DaemonConfig
from multus.thick.metrics import Metrics
from multus.thick.service import Answer, Service

log = logging.getLogger("multus.daemon")

NOT_FOUND_LABEL = "NotFound"
_ROUTES: dict[str, tuple[str, ...]] = {
    CNI_ENDPOINT: ("POST",),
    DELEGATE_ENDPOINT: ("POST",),
    HEALTH_ENDPOINT: ("GET", "POST"),
    READY_ENDPOINT: ("GET", "POST"),
}
MAX_BODY = 4 * 1024 * 1024
"""A CNI request is an environment and a network configuration: kilobytes."""
MAX_HEAD = 16 * 1024
"""A request head still incomplete past this is refused (431)."""
MAX_CONNECTIONS = 1024
"""Connections open at once; the accept loop waits (the kernel backlog holds more) beyond."""
LISTEN_BACKLOG = socket.SOMAXCONN
WRITE_TIMEOUT = 30.0
LINGER_SECONDS = 1.0
LINGER_BYTES = 1024 * 1024
_UCRED = struct.Struct("3i")


class _Refused(Exception):
    """A request answered without routing (400, 408, 413) — or not at all (``status`` 0)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _encode(answer: Answer, method: str) -> bytes:
    try:
        reason = HTTPStatus(answer.status).phrase
    except ValueError:
        reason = ""
    head = [f"HTTP/1.1 {answer.status} {reason}", "Server: multus-daemon",
            f"Content-Length: {len(answer.body)}", "Connection: close"]
    if answer.body:
        head.append(f"Content-Type: {answer.content_type}")
    if answer.content_type.startswith("text/plain"):
        head.append("X-Content-Type-Options: nosniff")
    body = answer.body if method != "HEAD" else b""
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def peer_uid(conn: socket.socket) -> int:
    """The user ID of the process at the other end of a unix socket (``SO_PEERCRED``)."""
    _pid, uid, _gid = _UCRED.unpack(conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size))
    return int(uid)


class Daemon:
    """The running daemon: socket, accept loop, worker pool, readiness, metrics."""

    def __init__(self, config: DaemonConfig, service: Service, metrics: Metrics | None = None) -> None:
        self.config = config
        self.service = service
        self.metrics = metrics if metrics is not None else Metrics()
        self.socket_path = socket_path(config.socket_dir)
        self._ready = threading.Event()
        self._stopping = False
        self._sock: socket.socket | None = None
        self._sock_id: tuple[int, int] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._pending_shutdown: list[str] = []
        self._pool = ThreadPoolExecutor(max_workers=config.connection_limit, thread_name_prefix="cni")
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    # --- routing -------------------------------------------------------------------------

    def route(self, method: str, path: str) -> tuple[str, Answer | Callable[[bytes], Answer]]:
        """``(metrics handler label, answer)``, where the answer of ``/cni`` and ``/delegate`` is
        the service method to run on a worker."""
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
            return path, self.service.cni
        return path, self.service.delegate

    def _work(self, fn: Callable[[bytes], Answer], body: bytes, queued_at: float) -> Answer:
        """On a worker thread: one CNI request."""
        m = self.metrics
        m.queue_depth.dec()
        m.queue_wait.observe(time.monotonic() - queued_at)
        m.in_flight.inc()
        try:
            return fn(body)
        finally:
            m.in_flight.dec()

    # --- connections ---------------------------------------------------------------------

    async def _read_request(self, conn: socket.socket) -> tuple[str, str, bytes]:
        loop = asyncio.get_running_loop()
        parser = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
        method, target, body = "", "", bytearray()
        while True:
            try:
                event = parser.next_event()
            except h11.RemoteProtocolError as e:
                raise _Refused(e.error_status_hint, f"malformed request: {e}") from None
            if event is h11.NEED_DATA:
                # b"" is the end of the stream: h11 then answers ConnectionClosed (nothing was
                # sent) or raises (a truncated request)
                parser.receive_data(await loop.sock_recv(conn, 65536))
            elif isinstance(event, h11.Request):
                method, target = event.method.decode("latin-1"), event.target.decode("latin-1")
                for name, value in event.headers:
                    if name == b"content-length" and int(value) > MAX_BODY:
                        raise _Refused(413, f"request body too large ({int(value)} > {MAX_BODY} bytes)")
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > MAX_BODY:
                    raise _Refused(413, f"request body too large (> {MAX_BODY} bytes)")
            elif isinstance(event, h11.EndOfMessage):
                return method, target, bytes(body)
            else:  # ConnectionClosed, PAUSED
                raise _Refused(0, "connection closed")

    async def _connection(self, conn: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        m = self.metrics
        m.connections.inc()
        method, label = "GET", NOT_FOUND_LABEL
        try:
            uid = peer_uid(conn)
            try:
                # a refused peer's request is read too (bounded as any other), so that its
                # client gets the 403 instead of a broken pipe
                method, target, body = await asyncio.wait_for(self._read_request(conn),
                                                              self.config.request_timeout)
                if uid not in self.config.allowed_uids:
                    log.warning("refused a connection of uid %d (allowedUIDs %s)", uid,
                                list(self.config.allowed_uids))
                    answer = Answer.text(403, f"forbidden: uid {uid} is not allowed")
                else:
                    label, routed = self.route(method, urlsplit(target).path)
                    if isinstance(routed, Answer):
                        answer = routed
                    else:
                        m.queue_depth.inc()
                        answer = await loop.run_in_executor(self._pool, self._work, routed, body, time.monotonic())
                refused = False
            except TimeoutError:
                answer, refused = Answer.text(408, f"request not received within {self.config.request_timeout:g} s"), True
            except _Refused as e:
                if e.status == 0:
                    return
                answer, refused = Answer.text(e.status, f"invalid request: {e}"), True
            await asyncio.wait_for(loop.sock_sendall(conn, _encode(answer, method)), WRITE_TIMEOUT)
            m.count(label, answer.status, method)
            if refused:
                await self._linger(conn)
        except (TimeoutError, OSError) as e:
            log.debug("connection: %s", e)
        except Exception:
            log.exception("error serving a connection")
        finally:
            conn.close()
            m.connections.dec()

    @staticmethod
    async def _linger(conn: socket.socket) -> None:
        """Discard what the client still sends (briefly, boundedly) before closing: closing a unix
        socket with unread data resets it, and the client would lose the answer."""
        loop = asyncio.get_running_loop()
        conn.shutdown(socket.SHUT_WR)
        left = LINGER_BYTES
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(LINGER_SECONDS):
                while left > 0 and (data := await loop.sock_recv(conn, 65536)):
                    left -= len(data)

    def _start(self, conn: socket.socket) -> None:
        conn.setblocking(False)
        task = asyncio.get_running_loop().create_task(self._connection(conn))
        self._connections.add(task)
        task.add_done_callback(self._connections.discard)

    async def _accept(self, sock: socket.socket) -> None:
        """Wait until connections are pending, then take them. The wait takes none itself: when
        shutdown cancels it, no connection can be lost (``loop.sock_accept`` cancelled just after
        its ``accept()`` drops that connection, and its client gets an EOF instead of an answer)."""
        loop = asyncio.get_running_loop()
        while True:
            while len(self._connections) >= MAX_CONNECTIONS:
                await asyncio.wait(set(self._connections), return_when=asyncio.FIRST_COMPLETED)
            pending: asyncio.Future[None] = loop.create_future()
            loop.add_reader(sock.fileno(), _resolve, pending)
            try:
                await pending
            finally:
                loop.remove_reader(sock.fileno())
            self._drain_backlog(sock, MAX_CONNECTIONS - len(self._connections))

    def _drain_backlog(self, sock: socket.socket, limit: int | None = None) -> None:
        """Take the connections the kernel holds (at most ``limit``). At shutdown, every one: they
        were made before the name went."""
        while limit is None or limit > 0:
            if limit is not None:
                limit -= 1
            try:
                conn, _ = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                log.error("draining the listen backlog: %s", e)
                return
            self._start(conn)

    async def _main(self) -> None:
        sock = self._sock
        if sock is None:
            raise RuntimeError("listen() first")
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        for reason in self._pending_shutdown:
            self._begin_shutdown(reason)
        accept = asyncio.create_task(self._accept(sock))
        await self._stop.wait()
        accept.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await accept
        self._unlink_own_socket()  # new shims now retry until the next daemon listens
        self._drain_backlog(sock)
        sock.close()
        while self._connections:
            await asyncio.wait(set(self._connections))

    # --- lifecycle -----------------------------------------------------------------------

    def listen(self) -> None:
        """upstream's ``FilesystemPreRequirements`` + ``GetListener``: a 0700 directory, the
        socket in it 0600 (created so: no moment when it is more open)."""
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
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)
        try:
            sock.bind(self.socket_path)
        except OSError:
            sock.close()
            raise
        finally:
            os.umask(old_umask)
        os.chmod(self.socket_path, 0o600)
        st = os.lstat(self.socket_path)
        self._sock_id = (st.st_dev, st.st_ino)
        sock.listen(LISTEN_BACKLOG)
        sock.setblocking(False)
        self._sock = sock
        if self.config.metrics_port is not None:
            try:
                self.metrics.serve(self.config.metrics_port)
            except OSError:
                self._unlink_own_socket()
                sock.close()
                raise
        self._ready.set()
        log.info("listening on %s (%d workers, backlog %d)", self.socket_path, self.config.connection_limit,
                 LISTEN_BACKLOG)

    def _unlink_own_socket(self) -> None:
        """Remove the socket's name unless another daemon has replaced it meanwhile."""
        try:
            st = os.lstat(self.socket_path)
            if (st.st_dev, st.st_ino) == self._sock_id:
                os.unlink(self.socket_path)
        except OSError:
            pass

    def serve(self) -> None:
        """Serve until :meth:`request_shutdown`'s grace period is over, then finish every
        request already received or queued, and clean up."""
        # Everything loaded so far (modules, plugins, the informers' first lists) lives as long
        # as the daemon: out of the collector's sight, a full collection in a request is shorter.
        gc.collect()
        gc.freeze()
        try:
            asyncio.run(self._main())
        finally:
            self._pool.shutdown(wait=True)
            self._unlink_own_socket()
            self.metrics.close()
            self._sock = None
            log.info("stopped")

    def request_shutdown(self, reason: str = "") -> None:
        """Not ready from now on; stop serving after the grace period (at once when asked twice).
        Safe from a signal handler and from any thread."""
        self._ready.clear()
        loop = self._loop
        if loop is None:
            self._pending_shutdown.append(reason)
            return
        with contextlib.suppress(RuntimeError):  # the loop has already finished
            loop.call_soon_threadsafe(self._begin_shutdown, reason)

    def _begin_shutdown(self, reason: str) -> None:
        stop = self._stop
        if stop is None or stop.is_set():
            return
        self._ready.clear()
        if self._stopping:
            log.info("shutting down now (%s)", reason)
            stop.set()
            return
        self._stopping = True
        grace = self.config.shutdown_grace
        log.info("shutting down (%s): /readyz answers 500, serving %.1f s more", reason, grace)
        asyncio.get_running_loop().call_later(grace, stop.set)
