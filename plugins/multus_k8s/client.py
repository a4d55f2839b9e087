"""A small, fail-fast Kubernetes API client for multus, over one of two transports
(:mod:`multus_k8s.transport`): the standard library's ``http.client`` in the thin plugin, the
``kubernetes`` package in the daemon (and for kubeconfigs with credential plugins).

Where the connection comes from, as upstream's ``GetK8sClient``:

1. ``kubeconfig`` of the multus configuration, when set;
2. otherwise the in-cluster configuration, when ``KUBERNETES_SERVICE_HOST`` and
   ``KUBERNETES_SERVICE_PORT`` are set in the request's environment (token and CA from the
   service-account directory);
3. otherwise there is no client and the Kubernetes backend stays out of the way.

Settings (top-level keys of the multus configuration, read from ``conf.raw``):

``kubeAPITimeout`` (seconds, default 10)
    The **total** time one operation may take, retries and back-off included. Each attempt may
    use whatever is left of it, so a slow API server is not cut off after 250 ms as upstream's
    thin plugin does (#1461), and an unreachable one fails the ADD within the budget.
``kubeAPIRetries`` (default 3)
    Further attempts after a connection error, a timeout, 429 or a 5xx answer, with a short
    exponential back-off (0.1 s, 0.2 s, 0.4 s ..., at most 1 s). When they are used up the
    operation fails with code 11 (``TRY_AGAIN_LATER``): the runtime retries the sandbox.

A 401 answer re-reads the kubeconfig (and the token file it names) or the service-account token
from disk, builds a new connection and retries once, so rotated tokens keep working without a
restart (upstream #852). A server whose certificate does not verify fails at once with code 7.
Reads are JSON dicts (no model deserialisation), the same from either transport. Names are checked
before they are put into a URL.

:func:`client_for` returns the client of a request: one per connection source, kept in
``ctx.plugins.state`` so that the daemon reuses its connection pool; :func:`cached_pod` and
:func:`cached_nad` keep what was read in ``ctx.cache``, so no object is read twice in one request.
In the daemon the client also carries the informers' caches (:mod:`multus_k8s.informer`):
an object found there is not read from the API at all.

Every request to the API server is counted by verb and resource (:data:`REQUESTS`), which the
daemon exports as a metric.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from multus import INVALID_CONFIG, TRY_AGAIN_LATER, CNIError, seconds_setting
from multus_k8s.transport import (
    AUTO,
    APIConnectionError,
    APIStatusError,
    ConfigError,
    Timeout,
    Transport,
    open_transport,
)

if TYPE_CHECKING:
    from multus import MultusConf, RequestContext
    from multus_k8s.writer import Writer

log = logging.getLogger("multus.k8s")

NAD_GROUP = "k8s.cni.cncf.io"
NAD_VERSION = "v1"
NAD_PLURAL = "network-attachment-definitions"
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
HOST_ENV = "KUBERNETES_SERVICE_HOST"
PORT_ENV = "KUBERNETES_SERVICE_PORT"

DEFAULT_TIMEOUT = 10.0
DEFAULT_RETRIES = 3
BACKOFF_BASE = 0.1
BACKOFF_MAX = 1.0
RETRIABLE_STATUS = frozenset({429, 500, 502, 503, 504})
EVENT_COMPONENT = "multus"
EVENT_BUDGET = 3.0
"""Events are best effort: at most this long (and one retry) each, so they never hold an ADD up."""

STATE_PREFIX = "multus_k8s.client:"
WRITER_KEY = "multus_k8s.writer"
"""``plugins.state`` key of the daemon's background writer (:mod:`multus_k8s.writer`)."""
IMPLEMENTATION_KEY = "multus_k8s.transport"
"""``plugins.state`` key: the transport every client of this process is made with
(:mod:`multus_k8s.transport`; absent: ``auto``). The daemon sets ``kubernetes``."""
CACHE_PREFIX = "multus_k8s:"

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class KubeAPIError(CNIError):
    """The API server answered with an error status (``status``; 0 when it never answered)."""

    def __init__(self, code: int, msg: str, status: int = 0, reason: str = "", details: str = "") -> None:
        super().__init__(code, msg, details)
        self.status = status
        self.reason = reason


def valid_name(name: str) -> bool:
    """An object name the API accepts (DNS-1123 subdomain): never a path, never ``..``."""
    return 0 < len(name) <= 253 and _DNS1123_SUBDOMAIN.match(name) is not None


def valid_namespace(ns: str) -> bool:
    return 0 < len(ns) <= 63 and _DNS1123_LABEL.match(ns) is not None


# --- configuration ---------------------------------------------------------------------------

def in_cluster(env: Mapping[str, str]) -> bool:
    return bool(env.get(HOST_ENV)) and bool(env.get(PORT_ENV))


def configured(conf: MultusConf, env: Mapping[str, str]) -> bool:
    """Whether this request has a Kubernetes API at all (kubeconfig or in-cluster env)."""
    return bool(conf.kubeconfig) or in_cluster(env)


def settings(conf: MultusConf) -> tuple[float, int]:
    """``(kubeAPITimeout, kubeAPIRetries)`` from the configuration, validated (code 7)."""
    timeout = seconds_setting(conf, "kubeAPITimeout", DEFAULT_TIMEOUT)
    retries = conf.raw.get("kubeAPIRetries", DEFAULT_RETRIES)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise CNIError(INVALID_CONFIG, f"kubeAPIRetries: must be a non-negative integer, got {retries!r}")
    return timeout, retries


def background_writer(state: dict[str, Any]) -> Writer | None:
    """The daemon's writer when it takes work; ``None`` in the thin plugin, which so never imports
    :mod:`multus_k8s.writer`."""
    if WRITER_KEY not in state:
        return None
    from multus_k8s.writer import writer_of

    return writer_of(state)


def client_for(ctx: RequestContext) -> KubeClient | None:
    """The request's client (``None`` without kubeconfig and in-cluster env), reused across
    requests through ``ctx.plugins.state``."""
    conf, env = ctx.conf, ctx.request.env
    if not configured(conf, env):
        return None
    key = ctx.cache.get(CACHE_PREFIX + "client-key")
    if isinstance(key, str):
        found = ctx.plugins.state.get(key)
        if isinstance(found, KubeClient):
            return found
    key = client_key(conf, env)
    client = shared_client(ctx.plugins.state, conf, env)
    ctx.cache[CACHE_PREFIX + "client-key"] = key
    return client


def client_key(conf: MultusConf, env: Mapping[str, str]) -> str:
    """The ``plugins.state`` key of the client for this connection source."""
    if conf.kubeconfig:
        return STATE_PREFIX + conf.kubeconfig
    return f"{STATE_PREFIX}in-cluster:{env.get(HOST_ENV)}:{env.get(PORT_ENV)}"


def shared_client(state: dict[str, Any], conf: MultusConf, env: Mapping[str, str]) -> KubeClient:
    """The client of ``conf``'s connection source in ``state``, made on first use; its time
    budget and retries follow ``conf``."""
    timeout, retries = settings(conf)
    key = client_key(conf, env)
    client = state.get(key)
    if not isinstance(client, KubeClient):
        implementation = str(state.get(IMPLEMENTATION_KEY, AUTO))
        client = state.setdefault(key, KubeClient(conf.kubeconfig, env, timeout=timeout, retries=retries,
                                                  implementation=implementation))
    client.timeout, client.retries = timeout, retries
    return client


def cached_pod(ctx: RequestContext, client: KubeClient, namespace: str, name: str,
               uid: str = "") -> dict[str, Any] | None:
    """The pod, read at most once per request (``None``: not found).

    With the daemon's informers, a pod in the cache whose UID is ``uid`` (or any UID when
    ``uid`` is empty) is taken from there; otherwise (a pod created a moment ago, a cache not
    synced) one live GET decides."""
    key = f"{CACHE_PREFIX}pod:{namespace}/{name}"
    if key not in ctx.cache:
        found = client.informers.pod(namespace, name, uid) if client.informers is not None else None
        ctx.cache[key] = found if found is not None else client.get_pod(namespace, name)
    pod: dict[str, Any] | None = ctx.cache[key]
    return pod


def cached_nad(ctx: RequestContext, client: KubeClient, namespace: str, name: str) -> dict[str, Any] | None:
    """The NetworkAttachmentDefinition, read at most once per request (``None``: not found);
    from the daemon's informer cache when it has it, else with one live GET."""
    key = f"{CACHE_PREFIX}nad:{namespace}/{name}"
    if key not in ctx.cache:
        found = client.informers.nad(namespace, name) if client.informers is not None else None
        ctx.cache[key] = found if found is not None else client.get_nad(namespace, name)
    nad: dict[str, Any] | None = ctx.cache[key]
    return nad


class CacheLookup(Protocol):
    """What the request path asks of the daemon's informers (:class:`multus_k8s.informer.Informers`)."""

    def pod(self, namespace: str, name: str, uid: str = "") -> dict[str, Any] | None: ...

    def nad(self, namespace: str, name: str) -> dict[str, Any] | None: ...


# --- request counting ------------------------------------------------------------------------

REQUESTS: dict[tuple[str, str], int] = {}
"""API requests made by this process, by ``(verb, resource)`` (Kubernetes' verbs: ``get``,
``list``, ``watch``, ``create``, ``patch`` ...; resource with ``/subresource``)."""
_requests_lock = threading.Lock()
_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def count_request(method: str, path: str, query: Sequence[tuple[str, str]] = ()) -> None:
    verb, resource = request_kind(method, path, query)
    with _requests_lock:
        REQUESTS[(verb, resource)] = REQUESTS.get((verb, resource), 0) + 1


def request_kind(method: str, path: str, query: Sequence[tuple[str, str]] = ()) -> tuple[str, str]:
    """``(verb, resource)`` of a request, as the API server's audit and metrics name them."""
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    # /api/v1/... or /apis/<group>/<version>/...
    rest = parts[2:] if parts[:1] == ["api"] else parts[3:]
    if len(rest) >= 2 and rest[0] == "namespaces" and len(rest) != 2:
        rest = rest[2:]
    resource = "/".join(rest[:1] + rest[2:3])
    named = len(rest) >= 2
    if method == "GET":
        if any(k == "watch" and v in ("true", "1") for k, v in query):
            verb = "watch"
        else:
            verb = "get" if named else "list"
    else:
        verb = _VERBS.get(method, method.lower())
    return verb, resource


# --- the client ------------------------------------------------------------------------------

class KubeClient:
    """One connection to one API server; thread-safe (the daemon shares it between requests)."""

    def __init__(self, kubeconfig: str = "", env: Mapping[str, str] | None = None, *,
                 timeout: float = DEFAULT_TIMEOUT, retries: int = DEFAULT_RETRIES,
                 service_account_dir: str = SERVICE_ACCOUNT_DIR, implementation: str = AUTO) -> None:
        self.kubeconfig = kubeconfig
        self.env = dict(os.environ if env is None else env)
        self.timeout = timeout
        self.retries = retries
        self.service_account_dir = service_account_dir
        self.implementation = implementation
        """:data:`~multus_k8s.transport.AUTO` (the light transport when it can),
        ``kubernetes`` (the daemon) or ``rest``."""
        self._lock = threading.Lock()
        self._transport: Transport | None = None
        self._generation = 0
        self.host = ""
        self.informers: CacheLookup | None = None
        """The daemon's informer caches for this API server (``None`` in the thin plugin)."""

    @property
    def source(self) -> str:
        """Where the credentials come from, for messages."""
        if self.kubeconfig:
            return f"kubeconfig {self.kubeconfig}"
        return f"service account {self.service_account_dir}"

    # --- connection ------------------------------------------------------------------------

    def _build(self) -> Transport:
        try:
            transport = open_transport(self.kubeconfig, self.env, self.service_account_dir, self.implementation)
        except ConfigError as e:
            raise CNIError(INVALID_CONFIG, f"error getting k8s client: {self.source}: {e}") from None
        self.host = transport.host
        return transport

    def _api(self) -> tuple[Transport, int]:
        """The transport (connected on first use) and its generation (counts credential reloads)."""
        with self._lock:
            if self._transport is None:
                self._transport = self._build()
                self._generation += 1
            return self._transport, self._generation

    def reload(self, generation: int) -> None:
        """Re-read the credentials from disk, unless another thread already did since
        ``generation`` was current."""
        with self._lock:
            if self._generation != generation:
                return
            old, self._transport = self._transport, None
            self._transport = self._build()
            self._generation += 1
        if old is not None:
            try:
                old.close()
            except Exception:  # pragma: no cover - best effort
                log.debug("closing the old API connection failed", exc_info=True)

    def close(self) -> None:
        with self._lock:
            transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()

    # --- the retry loop --------------------------------------------------------------------

    def call(self, what: str, fn: Callable[[Transport, float], Any], *, retries: int | None = None,
             budget: float | None = None, retry_status: frozenset[int] = RETRIABLE_STATUS) -> Any:
        """Run ``fn(transport, seconds_left)`` with retries inside the time budget.

        Raises :class:`KubeAPIError`: code 11 when the server cannot be reached (or keeps
        answering 5xx/429) or still refuses the credentials after they were re-read, code 7 when
        its certificate does not verify; the :class:`~multus_k8s.transport.APIStatusError` of any
        other error status, for the caller to judge.
        """
        retries = self.retries if retries is None else retries
        budget = self.timeout if budget is None else min(budget, self.timeout)
        start = time.monotonic()
        deadline = start + budget
        attempts = 0
        reauthenticated = False
        last = "no attempt was made within the time budget"
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            transport, generation = self._api()
            attempts += 1
            try:
                return fn(transport, left)
            except APIStatusError as e:
                if e.status == 401:
                    if not reauthenticated:
                        log.info("%s: 401 Unauthorized, re-reading the %s", what, self.source)
                        reauthenticated = True
                        attempts -= 1
                        self.reload(generation)
                        continue
                    raise KubeAPIError(TRY_AGAIN_LATER, f"{what}: the Kubernetes API server {self.host} "
                                       f"rejected the credentials of the {self.source} (401 Unauthorized) "
                                       "even after re-reading them from disk: expired or revoked token? "
                                       "try again later", 401, "Unauthorized") from None
                if e.status not in retry_status:
                    raise
                last = f"{e.status} {status_message(e)}"
            except APIConnectionError as e:
                if e.certificate:
                    raise KubeAPIError(INVALID_CONFIG, f"{what}: the Kubernetes API server {self.host} "
                                       f"presented a certificate that the {self.source} does not trust: "
                                       f"{e.reason}") from None
                last = e.reason
            if attempts > retries:
                break
            delay = min(BACKOFF_BASE * 2 ** (attempts - 1), BACKOFF_MAX)
            if time.monotonic() + delay >= deadline:
                break
            log.debug("%s: attempt %d failed (%s), retrying in %.2f s", what, attempts, last, delay)
            time.sleep(delay)
        elapsed = time.monotonic() - start
        raise KubeAPIError(TRY_AGAIN_LATER, f"{what}: the Kubernetes API server {self.host or '?'} is "
                           f"unreachable after {attempts} attempt(s) in {elapsed:.1f} s "
                           f"(time budget {budget:g} s): {last}; try again later")

    def error(self, what: str, e: APIStatusError) -> KubeAPIError:
        """An error status the caller does not handle, as a CNI error."""
        status = e.status
        retriable = status in (408, 409) or status in RETRIABLE_STATUS
        code = TRY_AGAIN_LATER if retriable else INVALID_CONFIG
        hint = " (check the multus ClusterRole)" if status == 403 else ""
        return KubeAPIError(code, f"{what}: {status_message(e)}{hint}", status, e.reason)

    # --- operations ------------------------------------------------------------------------

    def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        """``GET /api/v1/namespaces/<ns>/pods/<name>`` as a dict; ``None`` when not found."""
        _check(namespace, name, "pod")

        def fn(api: Transport, left: float) -> Any:
            return _request(api, "GET", f"/api/v1/namespaces/{namespace}/pods/{name}", left)

        return self._get(f"error getting pod {namespace}/{name}", fn)

    def get_nad(self, namespace: str, name: str) -> dict[str, Any] | None:
        """``GET`` a NetworkAttachmentDefinition as a dict; ``None`` when not found."""
        _check(namespace, name, "network-attachment-definition")

        def fn(api: Transport, left: float) -> Any:
            return _request(api, "GET", f"/apis/{NAD_GROUP}/{NAD_VERSION}/namespaces/{namespace}/{NAD_PLURAL}/{name}",
                            left)

        return self._get(f"error getting network-attachment-definition {namespace}/{name}", fn)

    def _get(self, what: str, fn: Callable[[Transport, float], Any]) -> dict[str, Any] | None:
        try:
            out = self.call(what, fn)
        except APIStatusError as e:
            if e.status == 404:
                return None
            raise self.error(what, e) from None
        if not isinstance(out, dict):
            raise KubeAPIError(TRY_AGAIN_LATER, f"{what}: the API server answered with "
                               f"{type(out).__name__}, not an object")
        return out

    def patch_pod_status_annotation(self, namespace: str, name: str, key: str, value: str,
                                    uid: str = "", budget: float | None = None) -> bool:
        """Set one annotation with ONE JSON merge patch of ``pods/<name>/status``.

        With ``uid`` the patch also carries ``metadata.uid``: the server refuses it (422, the
        UID is immutable) when the name now belongs to another pod. Returns ``False`` when the
        pod is gone or was replaced, which callers tolerate; 409 is retried.
        """
        _check(namespace, name, "pod")
        meta: dict[str, Any] = {"annotations": {key: value}}
        if uid:
            meta["uid"] = uid
        body = {"metadata": meta}
        what = f"error setting the annotation {key} of pod {namespace}/{name}"

        def fn(api: Transport, left: float) -> Any:
            return _request(api, "PATCH", f"/api/v1/namespaces/{namespace}/pods/{name}/status", left, body,
                            content_type="application/merge-patch+json")

        try:
            self.call(what, fn, budget=budget, retry_status=RETRIABLE_STATUS | {409})
        except APIStatusError as e:
            if e.status == 404:
                log.info("%s: the pod is gone", what)
                return False
            if e.status == 422 and uid and _uid_rejected(e):
                log.info("%s: the pod was replaced (its UID is no longer %s)", what, uid)
                return False
            raise self.error(what, e) from None
        return True

    def create_event(self, involved: Mapping[str, str], event_type: str, reason: str, message: str,
                     host: str = "") -> None:
        """Create one ``core/v1`` Event about ``involved`` (``kind``, ``namespace``, ``name``,
        ``uid``, ``apiVersion``, ``resourceVersion``), named ``<name>.<unique hex>`` like
        client-go's recorder; a retried creation that already went through (409) is fine."""
        namespace = involved.get("namespace", "") or "default"
        name = involved.get("name", "")
        _check(namespace, name, "event object")
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        body: dict[str, Any] = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{name}.{time.time_ns():x}{os.urandom(3).hex()}", "namespace": namespace},
            "involvedObject": {k: v for k, v in involved.items() if v},
            "reason": reason, "message": message, "type": event_type,
            "source": {"component": EVENT_COMPONENT, **({"host": host} if host else {})},
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        }
        what = f"error creating the {reason} event of {namespace}/{name}"

        def fn(api: Transport, left: float) -> Any:
            return _request(api, "POST", f"/api/v1/namespaces/{namespace}/events", left, body)

        try:
            self.call(what, fn, retries=min(self.retries, 1), budget=EVENT_BUDGET)
        except APIStatusError as e:
            if e.status != 409:
                raise self.error(what, e) from None


# --- helpers ---------------------------------------------------------------------------------

def _check(namespace: str, name: str, kind: str) -> None:
    if not valid_namespace(namespace):
        raise CNIError(INVALID_CONFIG, f"invalid namespace {namespace!r} for {kind} {name!r}: "
                       "must be a DNS-1123 label")
    if not valid_name(name):
        raise CNIError(INVALID_CONFIG, f"invalid {kind} name {name!r} in namespace {namespace}: "
                       "must be a DNS-1123 subdomain")


def status_message(e: APIStatusError) -> str:
    """The ``message`` of the Status object the server answered, else ``<status> <reason>``."""
    if e.body:
        try:
            data = json.loads(e.body)
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("message"), str) and data["message"]:
            return str(data["message"])
    return f"{e.status} {e.reason}".strip()


def _uid_rejected(e: APIStatusError) -> bool:
    try:
        data = json.loads(e.body or "")
        causes = data.get("details", {}).get("causes", [])
        return any(isinstance(c, dict) and c.get("field") == "metadata.uid" for c in causes)
    except (ValueError, TypeError, AttributeError):
        return False


def _request(api: Transport, method: str, path: str, timeout: Timeout, body: Any = None,
             content_type: str = "application/json", query: Sequence[tuple[str, str]] = (),
             stream: bool = False) -> Any:
    """One request through ``api`` (a :class:`~multus_k8s.transport.Transport`), counted in
    :data:`REQUESTS`. Non-2xx answers raise :class:`~multus_k8s.transport.APIStatusError`."""
    count_request(method, path, query)
    return api.request(method, path, timeout, body, content_type=content_type, query=query, stream=stream)
