"""The hook models under the engine's name for them; their home is :mod:`multus.plugin.models`."""

from __future__ import annotations

from multus.plugin.models import (
    ANNOTATION,
    AUXILIARY,
    CLUSTER,
    DEFAULT,
    DEFAULT_NETWORK,
    Attachment,
    DaemonContext,
    Delegate,
    NetworkConfig,
    NetworkRef,
    NetworkSelection,
    PodInfo,
    RequestContext,
)

__all__ = [
    "ANNOTATION",
    "AUXILIARY",
    "CLUSTER",
    "DEFAULT",
    "DEFAULT_NETWORK",
    "Attachment",
    "DaemonContext",
    "Delegate",
    "NetworkConfig",
    "NetworkRef",
    "NetworkSelection",
    "PodInfo",
    "RequestContext",
]
