"""The daemon's Prometheus metrics and the ``/metrics`` listener (``metricsPort``).

The daemon registers its collectors on :data:`prometheus_client.REGISTRY`, the default registry,
and ``/metrics`` serves that registry: a plugin running inside the daemon (an informer, an API
client) adds its own series by creating ``prometheus_client`` metrics without a ``registry``
argument. The default registry also carries the client's ``process_*`` series (RSS, CPU, open
file descriptors), like Go's default registry.

=========================================== ========= ===================================================
series                                      kind      labels / meaning
=========================================== ========= ===================================================
``multus_server_request_total``             counter   ``handler`` (path or ``NotFound``), ``code``,
                                                      ``method`` (lower case): upstream's, as promhttp
``multus_server_request_duration_seconds``  histogram ``command`` (ADD, DEL, ...) and ``result``
                                                      (``ok``/``error``): the engine's time per request
``multus_server_queue_wait_seconds``        histogram time a CNI request waited for a worker
``multus_server_queue_depth``               gauge     CNI requests read and waiting for a worker
``multus_server_requests_in_flight``        gauge     CNI requests running on a worker
``multus_server_open_connections``          gauge     connections accepted and not yet closed
``multus_delegate_duration_seconds``        histogram ``type`` (the plugin, a conflist's first plugin)
                                                      and ``command``: one delegate's exec
=========================================== ========= ===================================================
"""

from __future__ import annotations

import http.server
import logging
import socket
import threading
from typing import Any
from urllib.parse import urlsplit

import prometheus_client
from prometheus_client.registry import CollectorRegistry

log = logging.getLogger("multus.daemon")

# CNI calls take milliseconds to seconds (a DHCP delegate, a slow apiserver); Go's default buckets
# start at 5 ms, which hides the difference between a 2 ms and a 5 ms daemon overhead.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    """Every series of the daemon, on ``registry`` (the default registry unless a test gives one)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        # Go's client has no *_created series; this switch is process-wide, which suits a daemon.
        prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = prometheus_client.REGISTRY if registry is None else registry
        r = self.registry
        self.requests = prometheus_client.Counter(
            "multus_server_request_total", "Counter of HTTP requests", ["handler", "code", "method"], registry=r)
        self.duration = prometheus_client.Histogram(
            "multus_server_request_duration_seconds", "Time the engine took for a CNI request",
            ["command", "result"], buckets=LATENCY_BUCKETS, registry=r)
        self.queue_wait = prometheus_client.Histogram(
            "multus_server_queue_wait_seconds", "Time a CNI request waited for a worker",
            buckets=LATENCY_BUCKETS, registry=r)
        self.queue_depth = prometheus_client.Gauge(
            "multus_server_queue_depth", "CNI requests waiting for a worker", registry=r)
        self.in_flight = prometheus_client.Gauge(
            "multus_server_requests_in_flight", "CNI requests running", registry=r)
        self.connections = prometheus_client.Gauge(
            "multus_server_open_connections", "Open connections on the daemon socket", registry=r)
        self.delegate = prometheus_client.Histogram(
            "multus_delegate_duration_seconds", "Time one delegate plugin took", ["type", "command"],
            buckets=LATENCY_BUCKETS, registry=r)
        self._server: http.server.ThreadingHTTPServer | None = None

    def count(self, handler: str, code: int, method: str) -> None:
        # promhttp's labels: the status as a number, the method lower-cased
        self.requests.labels(handler=handler, code=str(code), method=method.lower()).inc()

    def request_done(self, command: str, ok: bool, seconds: float) -> None:
        self.duration.labels(command=command, result="ok" if ok else "error").observe(seconds)

    def delegate_done(self, plugin_type: str, command: str, seconds: float) -> None:
        self.delegate.labels(type=plugin_type or "unknown", command=command).observe(seconds)

    def render(self) -> tuple[bytes, str]:
        return prometheus_client.generate_latest(self.registry), prometheus_client.CONTENT_TYPE_LATEST

    def serve(self, port: int) -> None:
        """``/metrics`` on ``:<port>`` (every address, IPv6 too when the host has it)."""
        metrics = self

        class Handler(http.server.BaseHTTPRequestHandler):
            timeout = 30

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
