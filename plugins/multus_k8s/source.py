"""Source hooks of the Kubernetes backend: the Pod object and NetworkAttachmentDefinitions.

Both hooks answer only when the request has a Kubernetes API (``kubeconfig`` in the multus
configuration, or ``KUBERNETES_SERVICE_HOST``/``KUBERNETES_SERVICE_PORT`` in the request's
environment) and are ``tryfirst``, so the API is asked before files in ``confDir``.

Pod (``multus_source_pod``): one GET (retried within ``kubeAPITimeout``, see
:mod:`multus_k8s.client`); in the daemon, none when its informer has the pod with that UID. Not found -> ``PodInfo(exists=False)`` (the engine then answers as
upstream v4.3 does). ``K8S_POD_UID`` differing from the API's UID is an error (code 3,
``UNKNOWN_CONTAINER``: the name now belongs to another pod), except for static pods, whose
mirror pod has another UID. On DEL nothing here fails the request: an unreachable API or a
replaced pod only means the pod is unknown, as upstream's ``getPod(warnOnly)``.

Networks (``multus_source_network``), by ``ref.purpose``:

``cluster`` / ``default`` (``clusterNetwork``, ``defaultNetworks``)
    The NAD ``ref.name`` in ``ref.namespace`` (the engine passes ``multusNamespace``). A name
    that cannot be a NAD (a path, a CNI name with capitals ...), a missing NAD or one with an
    empty spec -> ``None``, and the conf-dir backend looks for the file, as upstream. No event.
``annotation`` / ``default-network`` (the pod's annotations)
    (Namespace isolation is the engine's, checked before any source is asked.)
    A missing NAD -> Warning event ``NoNetworkFound`` on the pod and code 7 with upstream's
    text.

An empty spec answers a ``NetworkConfig`` with an empty ``config``: the engine then asks the
sources again with ``ref.conf_dir_only`` set, and the conf-dir backend finds the file of that name,
which keeps the NAD's name and ``resourceName``. With ``conf_dir_only`` this backend answers nothing.

Every NAD's ``spec.config`` must be a JSON object with ``type`` or a non-empty ``plugins``
list (code 7, naming the NAD); its ``name`` is injected when missing or empty. The answer is
``NetworkConfig(name="<ns>/<nad>", resource_name=<k8s.v1.cni.cncf.io/resourceName>, origin="nad")``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from multus import (
    ANNOTATION,
    CLUSTER,
    DEFAULT,
    DEFAULT_NETWORK,
    INVALID_CONFIG,
    RESOURCE_NAME_ANNOTATION,
    UNKNOWN_CONTAINER,
    CNIError,
    NetworkConfig,
    NetworkRef,
    PodInfo,
    RequestContext,
    hookimpl,
    validate_delegate_config,
)
from multus_k8s import client as kube

log = logging.getLogger("multus.k8s")

CONFIG_SOURCE_ANNOTATION = "kubernetes.io/config.source"
"""Set by the kubelet on static pods (``file``, ``http``); ``api`` for ordinary pods."""

NAD_RESOURCE = f"{kube.NAD_PLURAL}.{kube.NAD_GROUP}"
_STRICT = (ANNOTATION, DEFAULT_NETWORK)
_LENIENT = (CLUSTER, DEFAULT)
_EVENT_SENT = kube.CACHE_PREFIX + "no-network-event:"


# --- the pod ---------------------------------------------------------------------------------

@hookimpl(tryfirst=True)
def multus_source_pod(ctx: RequestContext) -> PodInfo | None:
    client = kube.client_for(ctx)
    if client is None:
        return None
    req = ctx.request
    namespace, name, want_uid = req.arg("K8S_POD_NAMESPACE"), req.arg("K8S_POD_NAME"), req.arg("K8S_POD_UID")
    if not namespace or not name:
        return None
    is_del = req.command == "DEL"
    try:
        obj = kube.cached_pod(ctx, client, namespace, name, want_uid)
    except CNIError as e:
        if is_del:
            log.warning("getPod failed on DEL, continuing without the pod: %s", e.msg)
            return None
        raise
    if obj is None:
        log.info("pod %s/%s not found in the Kubernetes API", namespace, name)
        return PodInfo(namespace=namespace, name=name, uid=want_uid, source="api", exists=False)
    info = pod_info(obj)
    if want_uid and info.uid != want_uid and not info.static:
        msg = f'expected pod UID "{want_uid}" but got "{info.uid}" from Kube API'
        if is_del:
            log.info("warning: %s", msg)
            return PodInfo(namespace=namespace, name=name, uid=want_uid, source="api", exists=False)
        raise CNIError(UNKNOWN_CONTAINER, msg)
    return info


def pod_info(obj: Mapping[str, Any]) -> PodInfo:
    """A Pod object (as the API's JSON) -> :class:`PodInfo`."""
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    spec = obj.get("spec") or {}
    raw = meta.get("annotations") or {}
    annotations = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, Mapping) else {}
    config_source = annotations.get(CONFIG_SOURCE_ANNOTATION)
    rv = str(meta.get("resourceVersion") or "")
    return PodInfo(
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
        uid=str(meta.get("uid") or ""),
        annotations=annotations,
        source="api",
        node_name=str(spec.get("nodeName") or "") if isinstance(spec, Mapping) else "",
        static=config_source is not None and config_source != "api",
        exists=True,
        resource_versions={"pod": rv} if rv else {},
    )


def from_api(pod: PodInfo | None) -> bool:
    """Whether ``pod`` is a Pod object that exists in the API (events and status need one)."""
    return pod is not None and pod.source == "api" and pod.exists and bool(pod.uid)


def involved_object(pod: PodInfo) -> dict[str, str]:
    return {"kind": "Pod", "apiVersion": "v1", "namespace": pod.namespace, "name": pod.name, "uid": pod.uid,
            "resourceVersion": pod.resource_versions.get("pod", "")}


def emit_event(ctx: RequestContext, event_type: str, reason: str, message: str) -> None:
    """A best-effort event about the request's pod: failures are logged, never raised. In the
    daemon it is queued for the background writer (:mod:`multus_k8s.writer`)."""
    client = kube.client_for(ctx)
    pod = ctx.pod
    if client is None or pod is None or not from_api(pod):
        return
    involved = involved_object(pod)

    def write(budget: float | None = None) -> None:
        client.create_event(involved, event_type, reason, message, host=pod.node_name)

    what = f"the {reason} event of pod {pod.namespace}/{pod.name}"
    queue = kube.background_writer(ctx.plugins.state)
    if queue is not None:
        from multus_k8s import writer

        queue.submit(writer.Write((pod.namespace, pod.name), ctx.request.container_id, writer.EVENT, what, write))
        return
    try:
        write()
    except CNIError as e:
        log.warning("could not record %s: %s", what, e.msg)


# --- networks --------------------------------------------------------------------------------

@hookimpl(tryfirst=True)
def multus_source_network(ctx: RequestContext, ref: NetworkRef) -> NetworkConfig | None:
    if ref.conf_dir_only or (ref.purpose not in _STRICT and ref.purpose not in _LENIENT):
        return None
    client = kube.client_for(ctx)
    if client is None:
        return None
    conf = ctx.conf
    if ref.purpose in _LENIENT:
        namespace = ref.namespace or conf.multus_namespace
        if not kube.valid_name(ref.name) or not kube.valid_namespace(namespace):
            return None  # a path or a CNI network name: the conf-dir backend's job
        nad = kube.cached_nad(ctx, client, namespace, ref.name)
        if nad is None:
            log.debug("no network-attachment-definition %s/%s; trying files", namespace, ref.name)
            return None
        return nad_config(nad, namespace, ref.name)

    pod_ns = _pod_namespace(ctx)
    default_ns = conf.multus_namespace if ref.purpose == DEFAULT_NETWORK else pod_ns
    namespace = ref.namespace or default_ns
    where = "tryLoadK8sPodDefaultNetwork" if ref.purpose == DEFAULT_NETWORK else "GetNetworkDelegates"
    if not kube.valid_namespace(namespace):
        raise CNIError(INVALID_CONFIG, f"{where}: invalid namespace {namespace!r} of network {ref.name!r}: "
                       "must be a DNS-1123 label")
    if not kube.valid_name(ref.name):
        raise CNIError(INVALID_CONFIG, f"{where}: invalid network-attachment-definition name {ref.name!r} "
                       f"in namespace {namespace}: must be a DNS-1123 subdomain")
    nad = kube.cached_nad(ctx, client, namespace, ref.name)
    if nad is None:
        detail = f'{NAD_RESOURCE} "{ref.name}" not found'
        msg = f"cannot find a network-attachment-definition ({ref.name}) in namespace ({namespace}): {detail}"
        key = f"{_EVENT_SENT}{namespace}/{ref.name}"
        if key not in ctx.cache:
            ctx.cache[key] = True
            emit_event(ctx, "Warning", "NoNetworkFound", msg)
        raise CNIError(INVALID_CONFIG, f"getKubernetesDelegate: {msg}")
    return nad_config(nad, namespace, ref.name)


def nad_config(nad: Mapping[str, Any], namespace: str, name: str) -> NetworkConfig:
    """A NetworkAttachmentDefinition -> its delegate configuration (empty for an empty spec)."""
    what = f"network-attachment-definition {namespace}/{name}"
    spec = nad.get("spec")
    text = spec.get("config") if isinstance(spec, Mapping) else None
    meta = nad.get("metadata") or {}
    annotations = meta.get("annotations") if isinstance(meta, Mapping) else None
    resource = annotations.get(RESOURCE_NAME_ANNOTATION, "") if isinstance(annotations, Mapping) else ""
    if text is None or text == "":
        return NetworkConfig(config={}, name=f"{namespace}/{name}", resource_name=str(resource or ""),
                             origin="nad-empty-spec")
    if not isinstance(text, str):
        raise CNIError(INVALID_CONFIG, f"{what}: spec.config must be a string holding JSON, "
                       f"not {type(text).__name__}")
    try:
        config = json.loads(text)
    except ValueError as e:
        raise CNIError(INVALID_CONFIG, f"GetCNIConfigFromSpec: failed to unmarshal Spec.Config of {what}: "
                       f"not valid JSON: {e}") from None
    if not isinstance(config, dict):
        kind = "a JSON array" if isinstance(config, list) else f"JSON {type(config).__name__}"
        raise CNIError(INVALID_CONFIG, f"GetCNIConfigFromSpec: failed to unmarshal Spec.Config of {what}: "
                       f"it is {kind}, not a JSON object (a CNI conf or conflist)")
    if "name" not in config or config["name"] == "":
        config["name"] = name
    elif not isinstance(config["name"], str):
        raise CNIError(INVALID_CONFIG, f"{what}: spec.config: 'name' must be a string")
    validate_delegate_config(config, f"{what}: spec.config")
    return NetworkConfig(config=config, name=f"{namespace}/{name}", resource_name=str(resource or ""),
                         origin="nad")


def _pod_namespace(ctx: RequestContext) -> str:
    if ctx.pod is not None and ctx.pod.namespace:
        return ctx.pod.namespace
    return ctx.request.arg("K8S_POD_NAMESPACE")
