"""multus: a CNI meta-plugin, and a framework to build your own.

The names below are the public API, the one plugin authors and meta-plugin developers use;
everything else is private (modules not in the API reference ``docs/api``, and names starting
with ``_``). They are imported on first use, so ``import multus`` costs nothing at start-up.

* hooks: :data:`hookimpl` (the marker of hook implementations), :data:`FAMILIES`;
* what hooks receive and return: :class:`RequestContext`, :class:`CniRequest`,
  :class:`PodInfo`, :class:`NetworkRef`, :class:`NetworkConfig`, :class:`Delegate`,
  :class:`Attachment`, and the purposes of a :class:`NetworkRef` (``CLUSTER``, ``DEFAULT``,
  ``ANNOTATION``, ``DEFAULT_NETWORK``, ``AUXILIARY``);
* errors: :class:`CNIError` and the CNI error codes (``INCOMPATIBLE_VERSION`` 1,
  ``UNSUPPORTED_FIELD`` 2, ``UNKNOWN_CONTAINER`` 3, ``INVALID_ENV`` 4, ``IO_FAILURE`` 5,
  ``DECODE_FAILURE`` 6, ``INVALID_CONFIG`` 7, ``TRY_AGAIN_LATER`` 11, ``PLUGIN_NOT_AVAILABLE`` 50,
  ``PLUGIN_LIMITED_CONNECTIVITY`` 51, ``DELEGATE_FAILED`` 100, ``PLUGIN_LOAD_FAILED`` 101,
  ``TIMEOUT`` 102, ``PLUGIN_FAILED`` 103, ``INTERNAL`` 999);
* running: :class:`Plugins` (the typed facade), :func:`handle` (one request in-process),
  :func:`run_cni` / :func:`cni_main` (a CNI executable around a set of plugins);
* helpers for backends: :func:`validate_delegate_config`, :func:`network_status`,
  :func:`serialize_network_status`, :func:`path_setting`, :func:`seconds_setting`,
  :func:`valid_cni_name` (libcni's network-name rule) and the annotation names.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from multus._version import __version__ as __version__

_EXPORTS: dict[str, str] = {
    "hookimpl": "multus.plugin.hookspec",
    "FAMILIES": "multus.plugin.hookspec",
    "Plugins": "multus.plugin.manager",
    "RequestContext": "multus.plugin.models",
    "PodInfo": "multus.plugin.models",
    "NetworkRef": "multus.plugin.models",
    "NetworkConfig": "multus.plugin.models",
    "Delegate": "multus.plugin.models",
    "Attachment": "multus.plugin.models",
    "CLUSTER": "multus.plugin.models",
    "DEFAULT": "multus.plugin.models",
    "ANNOTATION": "multus.plugin.models",
    "DEFAULT_NETWORK": "multus.plugin.models",
    "AUXILIARY": "multus.plugin.models",
    "CniRequest": "multus.cni.request",
    "from_environ": "multus.cni.request",
    "parse_result": "multus.cni.result",
    "Result100": "multus.cni.result",
    "MultusConf": "multus.config.netconf",
    "load_netconf": "multus.config.netconf:load",
    "DaemonContext": "multus.plugin.models",
    "CNIError": "multus.errors",
    "INCOMPATIBLE_VERSION": "multus.errors",
    "UNSUPPORTED_FIELD": "multus.errors",
    "UNKNOWN_CONTAINER": "multus.errors",
    "INVALID_ENV": "multus.errors",
    "IO_FAILURE": "multus.errors",
    "DECODE_FAILURE": "multus.errors",
    "INVALID_CONFIG": "multus.errors",
    "TRY_AGAIN_LATER": "multus.errors",
    "PLUGIN_NOT_AVAILABLE": "multus.errors",
    "PLUGIN_LIMITED_CONNECTIVITY": "multus.errors",
    "DELEGATE_FAILED": "multus.errors",
    "PLUGIN_LOAD_FAILED": "multus.errors",
    "PLUGIN_FAILED": "multus.errors",
    "TIMEOUT": "multus.errors",
    "INTERNAL": "multus.errors",
    "handle": "multus.engine.run",
    "run_cni": "multus.executable",
    "cni_main": "multus.executable",
    "validate_delegate_config": "multus.cni.conf",
    "network_status": "multus.engine.netstatus",
    "serialize_network_status": "multus.engine.netstatus:serialize",
    "NETWORK_STATUS_ANNOTATION": "multus.engine.annotations",
    "NETWORKS_ANNOTATION": "multus.engine.annotations",
    "RESOURCE_NAME_ANNOTATION": "multus.engine.annotations",
    "DEFAULT_NETWORK_ANNOTATION": "multus.engine.annotations",
    "valid_cni_name": "multus.cni.names:valid_name",
    "path_setting": "multus.config.netconf",
    "seconds_setting": "multus.config.netconf",
}

__all__ = [
    "ANNOTATION",
    "AUXILIARY",
    "CLUSTER",
    "DECODE_FAILURE",
    "DEFAULT",
    "DEFAULT_NETWORK",
    "DEFAULT_NETWORK_ANNOTATION",
    "DELEGATE_FAILED",
    "FAMILIES",
    "INCOMPATIBLE_VERSION",
    "INTERNAL",
    "INVALID_CONFIG",
    "INVALID_ENV",
    "IO_FAILURE",
    "NETWORKS_ANNOTATION",
    "NETWORK_STATUS_ANNOTATION",
    "PLUGIN_FAILED",
    "PLUGIN_LIMITED_CONNECTIVITY",
    "PLUGIN_LOAD_FAILED",
    "PLUGIN_NOT_AVAILABLE",
    "RESOURCE_NAME_ANNOTATION",
    "TIMEOUT",
    "TRY_AGAIN_LATER",
    "UNKNOWN_CONTAINER",
    "UNSUPPORTED_FIELD",
    "Attachment",
    "CNIError",
    "CniRequest",
    "DaemonContext",
    "Delegate",
    "MultusConf",
    "NetworkConfig",
    "NetworkRef",
    "Plugins",
    "PodInfo",
    "RequestContext",
    "Result100",
    "cni_main",
    "from_environ",
    "handle",
    "hookimpl",
    "load_netconf",
    "network_status",
    "parse_result",
    "path_setting",
    "run_cni",
    "seconds_setting",
    "serialize_network_status",
    "valid_cni_name",
    "validate_delegate_config",
]


def __getattr__(name: str) -> Any:
    where = _EXPORTS.get(name)
    if where is None:
        raise AttributeError(f"module 'multus' has no attribute {name!r}")
    module, _, attr = where.partition(":")
    value = getattr(importlib.import_module(module), attr or name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


if TYPE_CHECKING:
    from multus.cni.conf import validate_delegate_config
    from multus.cni.names import valid_name as valid_cni_name
    from multus.cni.request import CniRequest, from_environ
    from multus.cni.result import Result100, parse_result
    from multus.config.netconf import MultusConf, path_setting, seconds_setting
    from multus.config.netconf import load as load_netconf
    from multus.engine.annotations import (
        DEFAULT_NETWORK_ANNOTATION,
        NETWORK_STATUS_ANNOTATION,
        NETWORKS_ANNOTATION,
        RESOURCE_NAME_ANNOTATION,
    )
    from multus.engine.netstatus import network_status
    from multus.engine.netstatus import serialize as serialize_network_status
    from multus.engine.run import handle
    from multus.errors import (
        DECODE_FAILURE,
        DELEGATE_FAILED,
        INCOMPATIBLE_VERSION,
        INTERNAL,
        INVALID_CONFIG,
        INVALID_ENV,
        IO_FAILURE,
        PLUGIN_FAILED,
        PLUGIN_LIMITED_CONNECTIVITY,
        PLUGIN_LOAD_FAILED,
        PLUGIN_NOT_AVAILABLE,
        TIMEOUT,
        TRY_AGAIN_LATER,
        UNKNOWN_CONTAINER,
        UNSUPPORTED_FIELD,
        CNIError,
    )
    from multus.executable import cni_main, run_cni
    from multus.plugin.hookspec import FAMILIES, hookimpl
    from multus.plugin.manager import Plugins
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
        PodInfo,
        RequestContext,
    )
