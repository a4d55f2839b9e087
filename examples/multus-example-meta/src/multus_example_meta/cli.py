"""The ``multus-example-meta`` CNI executable: two plugins around ``multus.cni_main``.

* :class:`SecondNetwork` (a source): the network named ``<namespace>/<name>`` by the
  configuration key ``secondNetwork`` is the CNI configuration under the key
  ``secondNetworkConfig``;
* :class:`ClusterPlusOne` (the plan): every pod gets the cluster network (the first of
  ``delegates``, or ``clusterNetwork``) as ``eth0``, then ``secondNetwork`` as ``net1``, and no
  pod annotation is read.

The configuration, as the runtime passes it (``/etc/cni/net.d/00-example-meta.conf``)::

    {"cniVersion": "1.0.0", "name": "example-meta", "type": "multus-example-meta",
     "delegates": [{"cniVersion": "1.0.0", "name": "cluster", "type": "bridge", "bridge": "cni0"}],
     "secondNetwork": "lab/blue",
     "secondNetworkConfig": {"cniVersion": "1.0.0", "name": "blue", "type": "macvlan", "master": "eth1"}}
"""

from __future__ import annotations

import logging
from typing import Any

import multus
from multus import CNIError, Delegate, NetworkConfig, NetworkRef, RequestContext, hookimpl

ABOUT = "multus-example-meta: version 0.1.0"
log = logging.getLogger("multus.example_meta")


def second_ref(ctx: RequestContext) -> NetworkRef:
    """The reference named by ``secondNetwork`` (code 7 naming the key when it is not one)."""
    value = ctx.conf.raw.get("secondNetwork")
    if not isinstance(value, str) or value.count("/") != 1 or not all(map(multus.valid_cni_name, value.split("/"))):
        raise CNIError(multus.INVALID_CONFIG, f"secondNetwork: must be \"<namespace>/<name>\", not {value!r}")
    namespace, name = value.split("/")
    return NetworkRef(name, namespace, multus.ANNOTATION)


class SecondNetwork:
    """Resolves the reference ``secondNetwork`` names, from ``secondNetworkConfig``."""

    @hookimpl(tryfirst=True)
    def multus_source_network(self, ctx: RequestContext, ref: NetworkRef) -> NetworkConfig | None:
        if ctx.conf.raw.get("secondNetwork") != f"{ref.namespace}/{ref.name}":
            return None  # not mine: the next source is asked
        config = ctx.conf.raw.get("secondNetworkConfig")
        if not isinstance(config, dict):
            raise CNIError(multus.INVALID_CONFIG, "secondNetworkConfig: must be a CNI configuration object")
        log.debug("example-meta: %s/%s from secondNetworkConfig", ref.namespace, ref.name)
        return NetworkConfig(config=config, name=f"{ref.namespace}/{ref.name}", origin="secondNetworkConfig")


class ClusterPlusOne:
    """The plan: the cluster network as ``eth0``, the second network as ``net1``."""

    @hookimpl(tryfirst=True)
    def multus_source_delegates(self, ctx: RequestContext) -> list[Delegate]:
        cluster: dict[str, Any]
        if ctx.conf.delegates:
            cluster = ctx.conf.delegates[0]
        else:
            found = ctx.plugins.source_network(ctx, NetworkRef(ctx.conf.cluster_network, ctx.conf.multus_namespace, multus.CLUSTER))
            if found is None:
                raise CNIError(multus.INVALID_CONFIG, "example-meta: no cluster network: set delegates or clusterNetwork")
            cluster = found.config
        ref = second_ref(ctx)
        second = ctx.plugins.source_network(ctx, ref)
        if second is None:
            raise CNIError(multus.INVALID_CONFIG, f"example-meta: network {ref.namespace}/{ref.name} not found")
        return [Delegate(config=cluster, name=str(cluster.get("name", "")), ifname="eth0", master=True),
                Delegate(config=second.config, name=second.name, ifname="net1")]


PLUGINS: list[object] = [SecondNetwork(), ClusterPlusOne()]
"""The plugins of this executable, in the order given to ``cni_main``."""


def main() -> None:
    """The console script ``multus-example-meta``."""
    multus.cni_main(plugins=PLUGINS, about=ABOUT)
