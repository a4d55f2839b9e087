"""The Kubernetes backend's Prometheus series, on the default registry the daemon serves.

Registered by the daemon only (:mod:`multus_k8s.daemon`), once per process; the values are read
when ``/metrics`` is scraped, from the live informers, the writer and :data:`multus_k8s.client.REQUESTS`.

=================================================== ======= ==============================================
series                                              kind    labels / meaning
=================================================== ======= ==============================================
``multus_informer_cache_objects``                   gauge   ``resource``: objects in the cache
``multus_informer_synced``                          gauge   ``resource``: 1 once the first list is done
``multus_informer_last_sync_timestamp_seconds``     gauge   ``resource``: when the cache was last known
                                                            current (a list, a watch opened, an event)
``multus_informer_last_list_timestamp_seconds``     gauge   ``resource``: the last complete list
``multus_informer_lists_total``                     counter ``resource``: lists (the first, and re-lists)
``multus_informer_watch_errors_total``              counter ``resource``: watches that failed or broke
``multus_informer_lookups_total``                   counter ``resource``, ``result`` (``hit``/``miss``):
                                                            request lookups; a miss reads the API
``multus_k8s_api_requests_total``                   counter ``verb`` (get, list, watch, create, patch),
                                                            ``resource``: requests to the API server
``multus_k8s_writes_pending``                       gauge   background writes queued or in flight
``multus_k8s_writes_total``                         counter ``kind`` (network-status, event),
                                                            ``result`` (written, failed, dropped)
=================================================== ======= ==============================================
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from multus_k8s import client as kube
from multus_k8s.informer import Informers
from multus_k8s.writer import Writer

_lock = threading.Lock()
_collector: Collector | None = None


class Collector:
    """A ``prometheus_client`` custom collector over the backend's live objects."""

    def __init__(self) -> None:
        self.informers: list[Informers] = []
        self.writers: list[Writer] = []

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        r = ["resource"]
        size = GaugeMetricFamily("multus_informer_cache_objects", "Objects in the informer's cache", labels=r)
        synced = GaugeMetricFamily("multus_informer_synced", "1 once the informer's first list is done", labels=r)
        last = GaugeMetricFamily("multus_informer_last_sync_timestamp_seconds",
                                 "When the informer's cache was last known to be current", labels=r)
        listed = GaugeMetricFamily("multus_informer_last_list_timestamp_seconds",
                                   "When the informer last listed its resource", labels=r)
        lists = CounterMetricFamily("multus_informer_lists", "Lists of the informer (first and re-lists)", labels=r)
        errors = CounterMetricFamily("multus_informer_watch_errors", "Watches that failed or broke", labels=r)
        lookups = CounterMetricFamily("multus_informer_lookups", "Request lookups in the informer's cache",
                                      labels=["resource", "result"])
        for group in self.informers:
            for i in group.all:
                size.add_metric([i.resource], len(i))
                synced.add_metric([i.resource], 1.0 if i.synced else 0.0)
                last.add_metric([i.resource], i.last_sync)
                listed.add_metric([i.resource], i.last_list)
                lists.add_metric([i.resource], i.lists)
                errors.add_metric([i.resource], i.errors)
                lookups.add_metric([i.resource, "hit"], group.hits.get(i.resource, 0))
                lookups.add_metric([i.resource, "miss"], group.misses.get(i.resource, 0))
        yield from (size, synced, last, listed, lists, errors, lookups)

        requests = CounterMetricFamily("multus_k8s_api_requests", "Requests to the Kubernetes API server",
                                       labels=["verb", "resource"])
        for (verb, resource), n in sorted(dict(kube.REQUESTS).items()):  # a copy: threads keep counting
            requests.add_metric([verb, resource], n)
        yield requests

        pending = GaugeMetricFamily("multus_k8s_writes_pending", "Background API writes queued or in flight")
        pending.add_metric([], sum(w.pending() for w in self.writers))
        yield pending
        writes = CounterMetricFamily("multus_k8s_writes", "Background API writes done", labels=["kind", "result"])
        totals: dict[tuple[str, str], int] = {}
        for w in self.writers:
            for key, n in dict(w.done).items():
                totals[key] = totals.get(key, 0) + n
        for (kind, result), n in sorted(totals.items()):
            writes.add_metric([kind, result], n)
        yield writes


def register(informers: Informers | None, writer: Writer | None, registry: Any = None) -> Collector:
    """Export ``informers`` and ``writer`` (the collector is registered on first use)."""
    global _collector
    with _lock:
        if _collector is None:
            import prometheus_client

            _collector = Collector()
            (registry or prometheus_client.REGISTRY).register(_collector)
        if informers is not None and informers not in _collector.informers:
            _collector.informers.append(informers)
        if writer is not None and writer not in _collector.writers:
            _collector.writers.append(writer)
        return _collector


def unregister(informers: Informers | None, writer: Writer | None) -> None:
    with _lock:
        if _collector is not None:
            if informers in _collector.informers:
                _collector.informers.remove(informers)  # type: ignore[arg-type]
            if writer in _collector.writers:
                _collector.writers.remove(writer)  # type: ignore[arg-type]
