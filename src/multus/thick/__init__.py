"""Thick mode: ``multus-daemon`` serves CNI requests over a unix socket, ``multus-shim`` forwards them.

The wire protocol is upstream Multus' (``pkg/server/api``), so upstream's Go shim can talk to our
daemon and our shim to upstream's daemon. See ``docs/thick.md``.

* :mod:`multus.thick.client` — the protocol constants, a tiny HTTP/1.1-over-unix-socket client
  and the 1.0.0 result conversion, re-exported from :mod:`multus.cli.shim` (one self-contained,
  standard-library-only file, so that it can be copied alone onto a node).
* :mod:`multus.thick.config` — the daemon configuration file.
* :mod:`multus.thick.service` — what each endpoint does (the engine runs here).
* :mod:`multus.thick.server` — the HTTP server on the unix socket, its queue, graceful shutdown.
* :mod:`multus.thick.metrics` — the Prometheus series and the ``/metrics`` listener.

This package's ``__init__`` imports nothing, so that ``import multus.thick.client`` stays light.
"""
