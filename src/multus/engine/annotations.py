"""Names of the Kubernetes annotations multus reads and writes."""

from __future__ import annotations

NETWORKS_ANNOTATION = "k8s.v1.cni.cncf.io/networks"
"""Pod: the secondary networks to attach (network selection elements)."""

DEFAULT_NETWORK_ANNOTATION = "v1.multus-cni.io/default-network"
"""Pod: a NetworkAttachmentDefinition replacing the cluster network."""

NETWORK_STATUS_ANNOTATION = "k8s.v1.cni.cncf.io/network-status"
"""Pod: written by multus after ADD, one entry per attached network."""

RESOURCE_NAME_ANNOTATION = "k8s.v1.cni.cncf.io/resourceName"
"""NetworkAttachmentDefinition: the device-plugin / DRA resource whose device IDs the delegate gets."""
