"""A network configuration (a single plugin conf or a conflist) and what makes it valid.

The rules live here once, for every part of multus that looks at a delegate's configuration:

* :func:`is_conflist`: a config is a conflist when its ``type`` is empty and it has ``plugins``
  (upstream Multus' ``LoadDelegateNetConf`` reads a config with a ``type`` as a single plugin
  conf, ``plugins`` or not, and so does libcni's ``ConfFromBytes``);
* :func:`plugins_of`: the plugins it runs, in order;
* :func:`check_config`: libcni's ``ConfFromBytes`` / ``ConfListFromBytes`` checks (texts included);
* :func:`validate_delegate_config`: what a delegate must be before multus runs anything:
  upstream Multus' checks (their texts), then libcni's, each message naming the network.

Configurations stay raw ``dict``s: unknown keys pass through untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from multus.cni import version
from multus.errors import INVALID_CONFIG, CNIError
from multus.gocompat import quote as go_quote


def is_conflist(config: Mapping[str, Any]) -> bool:
    """Whether ``config`` is a conflist: no (or an empty) ``type``, and a ``plugins`` key."""
    return not config.get("type") and "plugins" in config


def plugins_of(config: Mapping[str, Any]) -> list[Any]:
    """The plugin configs ``config`` runs: its ``plugins`` (a conflist), else ``[config]``."""
    if is_conflist(config):
        plugins = config["plugins"]
        return list(plugins) if isinstance(plugins, list) else []
    return [config]


def _invalid(msg: str) -> CNIError:
    return CNIError(INVALID_CONFIG, msg)


def _check_plugin_conf(plugin: Any, prefix: str) -> None:
    """libcni ``ConfFromBytes``: an object with a string ``type`` (and well-typed known keys)."""
    if not isinstance(plugin, dict):
        raise _invalid(f"{prefix}error parsing configuration: expected a JSON object, "
                       f"not {type(plugin).__name__}")
    for key in ("name", "cniVersion"):
        if key in plugin and not isinstance(plugin[key], str):
            raise _invalid(f"{prefix}error parsing configuration: {key!r} must be a string, "
                           f"not {type(plugin[key]).__name__}")
    caps = plugin.get("capabilities")
    if caps is not None and (not isinstance(caps, dict)
                             or not all(isinstance(v, bool) for v in caps.values())):
        raise _invalid(f"{prefix}error parsing configuration: 'capabilities' must be a map of "
                       "capability name to boolean")


def read_bool(conf: Mapping[str, Any], key: str) -> bool:
    """libcni 1.2 ``readBool``: a JSON boolean or the strings "true"/"false" (any case)."""
    raw = conf.get(key)
    if raw is None:
        return False
    if isinstance(raw, bool):
        return raw
    if not isinstance(raw, str):
        raise _invalid(f"error parsing configuration list: invalid type {type(raw).__name__} for {key}")
    low = raw.lower()
    if low in ("true", "false"):
        return low == "true"
    raise _invalid(f"error parsing configuration list: invalid value {go_quote(low)} for {key}")


def select_version(conf: Mapping[str, Any]) -> str:
    """``cniVersion``, or the highest of ``cniVersions`` (and ``cniVersion``) that we implement."""
    cni_version = conf.get("cniVersion", "")
    if not isinstance(cni_version, str):
        raise _invalid(f"error parsing configuration list: invalid cniVersion type "
                       f"{type(cni_version).__name__}")
    versions = conf.get("cniVersions")
    if versions is None:
        return cni_version
    if not isinstance(versions, list):
        raise _invalid(f"error parsing configuration list: invalid type for cniVersions: "
                       f"{type(versions).__name__}")
    current = version.parse(version.CURRENT)
    candidates: list[tuple[tuple[int, int, int], str]] = []
    for i, v in enumerate(versions):
        if not isinstance(v, str):
            raise _invalid(f"error parsing configuration list: invalid type for cniVersions index {i}: "
                           f"{type(v).__name__}")
        try:
            parsed = version.parse(v)
        except CNIError as e:
            raise _invalid(f"error parsing configuration list: invalid cniVersions entry {v} "
                           f"at index {i}: {e.msg}") from None
        if parsed <= current:
            candidates.append((parsed, v))
    if cni_version:
        parsed = version.parse(cni_version)
        if parsed <= current:
            candidates.append((parsed, cni_version))
    if candidates:
        return max(candidates)[1]
    return cni_version


def check_config(conf: Mapping[str, Any]) -> None:
    """libcni's ``ConfFromBytes`` (a conf) or ``ConfListFromBytes`` (a conflist) checks; code 7."""
    if is_conflist(conf):
        name = conf.get("name")
        if name is None:
            raise _invalid("error parsing configuration list: no name")
        if not isinstance(name, str):
            raise _invalid(f"error parsing configuration list: invalid name type {type(name).__name__}")
        select_version(conf)
        read_bool(conf, "disableCheck")
        read_bool(conf, "disableGC")
        plugins = conf["plugins"]
        if not isinstance(plugins, list):
            raise _invalid(f"error parsing configuration list: invalid 'plugins' type "
                           f"{type(plugins).__name__}")
        if not plugins:
            raise _invalid("error parsing configuration list: no plugins in list")
        for i, plugin in enumerate(plugins):
            prefix = f"failed to parse plugin config {i}: "
            _check_plugin_conf(plugin, prefix)
            if "type" not in plugin or plugin["type"] == "":
                raise _invalid(f"{prefix}error parsing configuration: missing 'type'")
            if not isinstance(plugin["type"], str):
                raise _invalid(f"{prefix}error parsing configuration: 'type' must be a string, "
                               f"not {type(plugin['type']).__name__}")
    else:
        _check_plugin_conf(conf, "")
        ptype = conf.get("type")
        if ptype is None or ptype == "":
            raise _invalid("error parsing configuration: no 'type'; perhaps this is a .conflist?")
        if not isinstance(ptype, str):
            raise _invalid(f"error parsing configuration: 'type' must be a string, "
                           f"not {type(ptype).__name__}")


def validate_delegate_config(config: Mapping[str, Any], where: str) -> None:
    """What a delegate must be before multus runs anything; messages start with ``where`` (which
    network). Upstream Multus' ``LoadDelegateNetConf`` checks (and texts) first, then libcni's
    (:func:`check_config`)."""
    if config.get("type"):
        if not isinstance(config["type"], str):
            raise CNIError(INVALID_CONFIG, f"{where}: 'type' must be a string")
    else:
        plugins = config.get("plugins")
        if plugins is None:
            raise CNIError(INVALID_CONFIG, f"{where}: delegate must have the 'type' or 'plugin' field")
        if not isinstance(plugins, list) or not plugins or not all(isinstance(p, dict) for p in plugins):
            raise CNIError(INVALID_CONFIG, f"{where}: 'plugins' must be a non-empty array of objects")
        if not plugins[0].get("type"):
            raise CNIError(INVALID_CONFIG, f"{where}: a plugin delegate must have the 'type' field")
    try:
        check_config(config)
    except CNIError as e:
        raise CNIError(e.code, f"{where}: {e.msg}", e.details) from None
