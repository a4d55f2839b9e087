"""The models hooks receive and return: the contract between the engine and plugins.

They belong to the plugin layer (with the hook specification), so that neither the hook
specification nor the facade imports the engine. Delegate configurations stay raw dicts (CNI
requires unknown keys to pass through untouched); everything else is a frozen attrs class."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from multus.cni.args import Pairs
from multus.cni.conf import is_conflist, plugins_of

if TYPE_CHECKING:
    from multus.cni.request import CniRequest
    from multus.cni.result import Result
    from multus.config.netconf import MultusConf
    from multus.plugin.manager import Plugins

# Why a network is being resolved: decides fallbacks (a missing NAD for the cluster network falls
# back to a file in confDir; a missing NAD named by the pod annotation is an error).
CLUSTER = "cluster"
DEFAULT = "default"                  # one of defaultNetworks
ANNOTATION = "annotation"            # k8s.v1.cni.cncf.io/networks
DEFAULT_NETWORK = "default-network"  # v1.multus-cni.io/default-network
AUXILIARY = "auxiliary"              # auxiliaryCNIChainName


@attrs.frozen
class NetworkSelection:
    """One network selection element: a NetworkAttachmentDefinition and what the pod requests of it.

    ``port_mappings``, ``bandwidth`` and ``cni_args`` are the raw JSON values as given (validated for
    type only). ``None`` means the key was absent (or ``null``): ``default_route=()`` (the annotation
    said ``"default-route": []``) is not the same request as ``None``, nor ``cni_args={}`` as ``None``.
    ``default_route`` items are kept as written (``""`` for an empty string or ``null`` item, which
    Go decodes to a nil IP).
    """

    name: str
    namespace: str
    interface: str = ""
    ips: tuple[str, ...] = ()
    mac: str = ""
    infiniband_guid: str = ""
    port_mappings: tuple[dict[str, Any], ...] | None = None
    bandwidth: dict[str, Any] | None = None
    default_route: tuple[str, ...] | None = None
    cni_args: dict[str, Any] | None = None
    device_id: str = ""
    ipam_claim_reference: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Upstream's JSON keys; empty strings, no ``ips`` and absent (``None``) requests are omitted."""
        out: dict[str, Any] = {"name": self.name}
        if self.namespace:
            out["namespace"] = self.namespace
        if self.interface:
            out["interface"] = self.interface
        if self.ips:
            out["ips"] = list(self.ips)
        if self.mac:
            out["mac"] = self.mac
        if self.infiniband_guid:
            out["infiniband-guid"] = self.infiniband_guid
        if self.port_mappings is not None:
            out["portMappings"] = copy.deepcopy(list(self.port_mappings))
        if self.bandwidth is not None:
            out["bandwidth"] = copy.deepcopy(self.bandwidth)
        if self.default_route is not None:
            out["default-route"] = list(self.default_route)
        if self.cni_args is not None:
            out["cni-args"] = copy.deepcopy(self.cni_args)
        if self.device_id:
            out["deviceID"] = self.device_id
        if self.ipam_claim_reference:
            out["ipam-claim-reference"] = self.ipam_claim_reference
        return out


@attrs.frozen
class PodInfo:
    """What is known of the pod. ``source`` says where it came from: ``api`` (a Pod object),
    ``runtime`` (annotations the runtime passed in runtimeConfig) or ``args`` (CNI_ARGS only)."""

    namespace: str = ""
    name: str = ""
    uid: str = ""
    annotations: Mapping[str, str] = attrs.field(factory=dict)
    source: str = "args"
    node_name: str = ""
    static: bool = False
    """A static (mirror) pod: its UID differs from the kubelet's, so UIDs are not compared."""
    exists: bool = True
    """False when the API says the pod does not exist."""
    resource_versions: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen
class NetworkRef:
    """A network to resolve into a delegate configuration."""

    name: str
    namespace: str = ""
    purpose: str = ANNOTATION
    selection: NetworkSelection | None = None
    conf_dir_only: bool = False
    """Set when a NetworkAttachmentDefinition with an empty spec named this network: only the
    file of that name in ``confDir`` may answer."""


@attrs.frozen
class NetworkConfig:
    """A source's answer: the raw conf or conflist and the name multus reports it under
    (``<namespace>/<nad>`` for NetworkAttachmentDefinitions, the CNI name for files)."""

    config: dict[str, Any]
    name: str
    resource_name: str = ""
    origin: str = ""


@attrs.frozen
class Delegate:
    """One network attached to the pod: what the engine invokes, caches and tears down."""

    config: dict[str, Any]
    name: str
    ifname: str
    master: bool = False
    selection: NetworkSelection | None = None
    resource_name: str = ""
    device_id: str = ""
    filter_v4_gateway: bool = False
    filter_v6_gateway: bool = False
    cni_args: Pairs = ()
    runtime_config: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def cni_name(self) -> str:
        n = self.config.get("name", "")
        return n if isinstance(n, str) else ""

    @property
    def is_list(self) -> bool:
        return is_conflist(self.config)

    @property
    def plugin_type(self) -> str:
        """The ``type`` of the (first) plugin."""
        plugins = plugins_of(self.config)
        first = plugins[0] if plugins and isinstance(plugins[0], Mapping) else {}
        return str(first.get("type", ""))

    @property
    def default_route(self) -> tuple[str, ...] | None:
        return self.selection.default_route if self.selection is not None else None


@attrs.frozen
class Attachment:
    """A delegate after ADD with the result it printed (raw, in its own cniVersion).

    :attr:`parsed_result` is that result decoded (libcni's rules), once: every consumer of a
    request (network-status, events, the merged result) reads the same object."""

    delegate: Delegate
    result: dict[str, Any]
    device_info: dict[str, Any] | None = None
    _parsed: Result | None = attrs.field(default=None, init=False, repr=False, eq=False)

    @property
    def parsed_result(self) -> Result:
        """:attr:`result` parsed by :func:`multus.parse_result` on first use, then kept
        (a :class:`~multus.CNIError` if it is not a valid result)."""
        parsed = self._parsed
        if parsed is None:
            from multus.cni.result import parse_result

            parsed = parse_result(self.result)
            object.__setattr__(self, "_parsed", parsed)
        return parsed


@attrs.define
class RequestContext:
    """Everything one request needs, passed to every hook. ``cache`` is per request (for example
    a NAD fetched once); ``plugins.state`` outlives requests in the daemon."""

    request: CniRequest
    conf: MultusConf
    plugins: Plugins
    pod: PodInfo | None = None
    cache: dict[str, Any] = attrs.field(factory=dict)

    @property
    def pod_label(self) -> str:
        p = self.pod
        if p is None:
            return f"{self.request.arg('K8S_POD_NAMESPACE')}/{self.request.arg('K8S_POD_NAME')}"
        return f"{p.namespace}/{p.name}"


@attrs.frozen
class DaemonContext:
    """What the daemon's lifecycle hooks get: its plugin manager (whose ``state`` outlives
    requests), the daemon configuration file's object and the daemon's environment."""

    plugins: Plugins
    config: Mapping[str, Any]
    env: Mapping[str, str]
