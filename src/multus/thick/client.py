"""The shim <-> daemon protocol (upstream's ``pkg/server/api``): constants, a minimal
HTTP/1.1-over-unix-socket client, the stdlib JSON codec and the 1.0.0 result conversion.

They live in :mod:`multus.cli.shim`, which must stay one self-contained file (it is copied alone
into ``/opt/cni/bin``); this module re-exports them for the daemon, the tests and the tools.
"""

from __future__ import annotations

from multus.cli.shim import (
    CNI_ENDPOINT,
    CURRENT_VERSION,
    DEFAULT_SOCKET_DIR,
    DELEGATE_ENDPOINT,
    HEALTH_ENDPOINT,
    READY_ENDPOINT,
    READY_POLL_INTERVAL,
    READY_TIMEOUT,
    REQUESTED_RESULT_KEY,
    RESULT_KEY,
    SOCKET_NAME,
    SUPPORTED_VERSIONS,
    Backoff,
    ConversionError,
    Reply,
    TransportError,
    convert_result,
    dumps,
    encode_request,
    healthy,
    loads,
    request,
    socket_path,
)

__all__ = [
    "CNI_ENDPOINT",
    "CURRENT_VERSION",
    "DEFAULT_SOCKET_DIR",
    "DELEGATE_ENDPOINT",
    "HEALTH_ENDPOINT",
    "READY_ENDPOINT",
    "READY_POLL_INTERVAL",
    "READY_TIMEOUT",
    "REQUESTED_RESULT_KEY",
    "RESULT_KEY",
    "SOCKET_NAME",
    "SUPPORTED_VERSIONS",
    "Backoff",
    "ConversionError",
    "Reply",
    "TransportError",
    "convert_result",
    "dumps",
    "encode_request",
    "healthy",
    "loads",
    "request",
    "socket_path",
]
