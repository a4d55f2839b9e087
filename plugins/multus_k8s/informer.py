"""The daemon's informers: list+watch caches of this node's pods and of every NetworkAttachmentDefinition.

Started by the daemon only (:mod:`multus_k8s.daemon`); the thin plugin never watches anything.

* Pods: ``/api/v1/pods`` with the field selector ``spec.nodeName=$MULTUS_NODE_NAME`` (every
  pod when the variable is not set, as upstream). NADs: ``k8s.cni.cncf.io/v1``
  network-attachment-definitions of every namespace.
* A list (pages of :data:`PAGE_SIZE`), then a watch from the list's ``resourceVersion`` with
  bookmarks; a watch that ends (its server-side timeout) or breaks (connection reset, API server
  restart) resumes from the last ``resourceVersion`` seen, after an exponential back-off
  (:data:`BACKOFF_MIN` to :data:`BACKOFF_MAX`, with jitter) when it failed. ``410 Gone`` (the
  version was compacted away) re-lists at once; any other error status of a watch (``422`` of
  an old API server, ``403``, ``5xx``) re-lists after the back-off; a ``401`` re-reads the
  credentials first.
* The caches keep only what the engine reads (:func:`trim_pod`, :func:`trim_nad`): name,
  namespace, UID, resourceVersion, annotations (without kubectl's last-applied copy), the pod's
  ``spec.nodeName`` and the NAD's ``spec.config``.

Readers (request threads) only ever look one key up in a dict the informer's own thread
replaces or updates; no lock is needed for that in CPython.
"""

from __future__ import annotations

import logging
import random
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from multus_k8s import client as kube
from multus_k8s.kubeclient import api_exception_class, as_transport_error, reason_of
from multus_k8s.source import CONFIG_SOURCE_ANNOTATION
from multus_k8s.transport import KUBERNETES, APIConnectionError, APIStatusError

log = logging.getLogger("multus.k8s")

POD_PATH = "/api/v1/pods"
NAD_PATH = f"/apis/{kube.NAD_GROUP}/{kube.NAD_VERSION}/{kube.NAD_PLURAL}"
NODE_ENV = "MULTUS_NODE_NAME"

SYNC_TIMEOUT = 20.0
"""Seconds the daemon waits at start for each cache's first list (upstream: 20 s each)."""
PAGE_SIZE = 50
"""Objects per list request. Small pages keep the list's transient JSON small: CPython keeps the
arenas it freed, so a 1,000-pod list in pages of 500 leaves ~38 MiB more resident than the
cache needs, pages of 50 ~8 MiB (benchmarks/informer_memory.py), at no measurable cost in time."""
WATCH_TIMEOUT = (300, 600)
"""The server ends a watch after a random number of seconds in this range (client-go: 5-10 min)."""
CONNECT_TIMEOUT = 10.0
LIST_TIMEOUT = 60.0
READ_SLACK = 30.0
"""A watch that sends nothing for its timeout plus this long is taken for broken."""
BACKOFF_MIN = 0.2
BACKOFF_MAX = 30.0
DROPPED_ANNOTATIONS = frozenset({"kubectl.kubernetes.io/last-applied-configuration"})


class Gone(Exception):
    """The resourceVersion to resume from is too old (``410 Gone``): re-list."""


class Stopped(Exception):
    """The informer is being stopped."""


# --- what the caches keep ------------------------------------------------------------------------

def _meta(obj: Mapping[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping):
        return {}
    out: dict[str, Any] = {}
    for key in ("namespace", "name", "uid", "resourceVersion"):
        value = meta.get(key)
        if isinstance(value, str):
            out[key] = sys.intern(value) if key == "namespace" else value
    annotations = meta.get("annotations")
    if isinstance(annotations, Mapping) and annotations:
        out["annotations"] = {sys.intern(str(k)): v for k, v in annotations.items() if k not in DROPPED_ANNOTATIONS}
    return out


def trim_pod(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A Pod as the pod source reads it (:func:`multus_k8s.source.pod_info`)."""
    spec = obj.get("spec")
    node = spec.get("nodeName") if isinstance(spec, Mapping) else None
    return {"metadata": _meta(obj), "spec": {"nodeName": sys.intern(node)} if isinstance(node, str) else {}}


def trim_nad(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A NetworkAttachmentDefinition as the network source reads it (:func:`multus_k8s.source.nad_config`)."""
    spec = obj.get("spec")
    out_spec = {"config": spec["config"]} if isinstance(spec, Mapping) and "config" in spec else {}
    return {"metadata": _meta(obj), "spec": out_spec}


def key_of(obj: Mapping[str, Any]) -> str | None:
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping) or not isinstance(meta.get("name"), str):
        return None
    return f"{meta.get('namespace') or ''}/{meta['name']}"


# --- one informer ----------------------------------------------------------------------------------

class Informer:
    """A list+watch cache of one resource, kept by a thread of its own."""

    def __init__(self, client: kube.KubeClient, resource: str, path: str,
                 trim: Callable[[Mapping[str, Any]], dict[str, Any]], *, field_selector: str = "",
                 page_size: int = PAGE_SIZE, watch_timeout: tuple[int, int] = WATCH_TIMEOUT) -> None:
        if client.implementation != KUBERNETES:
            raise ValueError(f"an informer watches through the {KUBERNETES} transport, not {client.implementation!r}")
        self.client = client
        self.resource = resource
        self.path = path
        self.trim = trim
        self.field_selector = field_selector
        self.page_size = page_size
        self.watch_timeout = watch_timeout
        self.resource_version = ""
        self.last_list = 0.0
        """Wall-clock time of the last complete list (0: never)."""
        self.last_sync = 0.0
        """Wall-clock time the cache was last known current (a list, a watch opened, an event)."""
        self.lists = 0
        self.watches = 0
        self.events = 0
        self.errors = 0
        self._items: dict[str, dict[str, Any]] = {}
        self._synced = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._watch: Any = None

    # --- reading -------------------------------------------------------------------------------

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._items.get(f"{namespace}/{name}")

    def __len__(self) -> int:
        return len(self._items)

    @property
    def synced(self) -> bool:
        """Listed at least once (later the cache may lag behind while a watch reconnects)."""
        return self._synced.is_set()

    def wait_synced(self, timeout: float) -> bool:
        return self._synced.wait(timeout)

    # --- running -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start (or, after :meth:`stop`, restart) the thread; a restart keeps the cache and
        resumes from its resourceVersion."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name=f"informer-{self.resource}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        w = self._watch
        if w is not None:
            w.stop()  # shuts the watch's socket down, so the blocked read returns at once
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        import urllib3.exceptions

        delay = BACKOFF_MIN
        while not self._stopping.is_set():
            try:
                if not self.resource_version:
                    self._list()
                self._watch_once()
                delay = BACKOFF_MIN
                continue  # the watch's timeout: resume at once
            except Stopped:
                break
            except Gone as e:
                log.info("%s informer: %s; re-listing", self.resource, e)
                self.resource_version = ""
                continue
            except APIStatusError as e:
                what = f"{e.status} {kube.status_message(e)}"
                if e.status == 401:
                    self._reauthenticate()
                else:
                    self.resource_version = ""  # re-list
            except APIConnectionError as e:
                what = e.reason  # no answer: resume from resourceVersion
            except (urllib3.exceptions.HTTPError, OSError, ValueError) as e:
                what = reason_of(e)  # a broken connection: resume from resourceVersion
            except Exception as e:  # never let the thread die: the daemon would serve a frozen cache
                log.exception("%s informer failed", self.resource)
                what = f"{type(e).__name__}: {e}"
                self.resource_version = ""
            if self._stopping.is_set():
                break
            self.errors += 1
            wait = delay * random.uniform(1.0, 1.5)
            log.warning("%s informer: %s; retrying in %.1f s", self.resource, what, wait)
            if self._stopping.wait(wait):
                break
            delay = min(delay * 2, BACKOFF_MAX)

    def _reauthenticate(self) -> None:
        _api, generation = self.client._api()
        log.info("%s informer: 401 Unauthorized, re-reading the %s", self.resource, self.client.source)
        self.client.reload(generation)

    def _query(self) -> list[tuple[str, str]]:
        return [("fieldSelector", self.field_selector)] if self.field_selector else []

    def _list(self) -> None:
        api, _ = self.client._api()
        items: dict[str, dict[str, Any]] = {}
        cont = ""
        while True:
            if self._stopping.is_set():
                raise Stopped
            query = [("limit", str(self.page_size)), *self._query()]
            if cont:
                query.append(("continue", cont))
            try:
                page = kube._request(api, "GET", self.path, (CONNECT_TIMEOUT, LIST_TIMEOUT), query=query)
            except APIStatusError as e:
                if e.status == 410 and cont:
                    log.info("%s informer: the list's continue token expired; listing again", self.resource)
                    items, cont = {}, ""
                    continue
                raise
            if not isinstance(page, Mapping):
                raise TypeError(f"the list of {self.resource} is {type(page).__name__}, not an object")
            for obj in page.get("items") or ():
                if isinstance(obj, Mapping) and (key := key_of(obj)) is not None:
                    items[key] = self.trim(obj)
            meta = page.get("metadata") or {}
            cont = str(meta.get("continue") or "")
            if not cont:
                version = str(meta.get("resourceVersion") or "")
                break
        self._items = items
        self.resource_version = version
        self.lists += 1
        self.last_list = self.last_sync = time.time()
        self._synced.set()
        log.info("%s informer: listed %d objects at resourceVersion %s", self.resource, len(items), version)

    def _watch_once(self) -> None:
        from kubernetes import watch

        api_exception = api_exception_class()
        api, _ = self.client._api()
        timeout = random.randint(*self.watch_timeout)
        query = [("watch", "true"), ("allowWatchBookmarks", "true"), ("resourceVersion", self.resource_version),
                 ("timeoutSeconds", str(timeout)), *self._query()]

        def open_watch(**_kwargs: Any) -> Any:
            resp = kube._request(api, "GET", self.path, (CONNECT_TIMEOUT, timeout + READ_SLACK), query=query,
                                 stream=True)
            if self._stopping.is_set():
                resp.close()
                raise Stopped
            return resp

        w = watch.Watch()
        self._watch = w
        self.watches += 1
        try:
            for event in w.stream(open_watch, timeout_seconds=timeout):
                if isinstance(event, dict):
                    self._apply(event)
                if self._stopping.is_set():
                    raise Stopped
        except APIStatusError as e:
            if e.status == 410:
                raise Gone(f"{e.status} {e.reason}") from None
            raise
        except api_exception as e:  # an ERROR event of the watch, raised by kubernetes.watch
            err = as_transport_error(e)
            if isinstance(err, APIStatusError) and err.status == 410:
                raise Gone(f"{err.status} {err.reason}") from None
            raise err from None
        finally:
            self._watch = None
        if self._stopping.is_set():
            raise Stopped

    def _apply(self, event: Mapping[str, Any]) -> None:
        kind = event.get("type")
        obj = event.get("raw_object") or event.get("object")
        if not isinstance(obj, Mapping):
            return
        meta = obj.get("metadata")
        version = meta.get("resourceVersion") if isinstance(meta, Mapping) else None
        if kind in ("ADDED", "MODIFIED", "DELETED"):
            key = key_of(obj)
            if key is not None:
                if kind == "DELETED":
                    self._items.pop(key, None)
                else:
                    self._items[key] = self.trim(obj)
            self.events += 1
        if isinstance(version, str) and version:
            self.resource_version = version
        self.last_sync = time.time()


# --- the daemon's pair -----------------------------------------------------------------------------

class Informers:
    """This node's pods and every NAD, for one API server (:class:`kube.CacheLookup`)."""

    def __init__(self, client: kube.KubeClient, node_name: str = "", **options: Any) -> None:
        self.client = client
        self.node_name = node_name
        selector = f"spec.nodeName={node_name}" if node_name else ""
        self.pods = Informer(client, "pods", POD_PATH, trim_pod, field_selector=selector, **options)
        self.nads = Informer(client, kube.NAD_PLURAL, NAD_PATH, trim_nad, **options)
        self.hits: dict[str, int] = {"pods": 0, kube.NAD_PLURAL: 0}
        self.misses: dict[str, int] = {"pods": 0, kube.NAD_PLURAL: 0}

    @property
    def all(self) -> tuple[Informer, Informer]:
        return self.pods, self.nads

    def start(self) -> None:
        for i in self.all:
            i.start()

    def wait_synced(self, timeout: float = SYNC_TIMEOUT) -> bool:
        """Wait up to ``timeout`` seconds for each cache's first list."""
        ok = True
        for i in self.all:
            if not i.wait_synced(timeout):
                log.warning("%s informer: not synced after %g s; requests read the API until it is",
                            i.resource, timeout)
                ok = False
        return ok

    def stop(self, timeout: float = 5.0) -> None:
        for i in self.all:
            i._stopping.set()
        for i in self.all:
            i.stop(timeout)

    def pod(self, namespace: str, name: str, uid: str = "") -> dict[str, Any] | None:
        """The cached pod, or ``None`` (not cached, not synced, or another pod of that name)."""
        obj = self.pods.get(namespace, name) if self.pods.synced else None
        if obj is not None and uid and obj["metadata"].get("uid") != uid and not _static(obj):
            obj = None  # the cache may lag behind a pod replaced under the same name
        return self._count("pods", obj)

    def nad(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._count(kube.NAD_PLURAL, self.nads.get(namespace, name) if self.nads.synced else None)

    def _count(self, resource: str, obj: dict[str, Any] | None) -> dict[str, Any] | None:
        counter = self.hits if obj is not None else self.misses
        counter[resource] += 1
        return obj


def _static(pod: Mapping[str, Any]) -> bool:
    source = (pod["metadata"].get("annotations") or {}).get(CONFIG_SOURCE_ANNOTATION)
    return source is not None and source != "api"
