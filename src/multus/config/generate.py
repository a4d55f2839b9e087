"""Generation of the multus CNI configuration from the node's primary CNI configuration.

Pure functions (no watching, no daemon state); the daemon's config manager and the thin
installer build on them.  Stable API:

``find_primary(autoconfig_dir: str, master: str = "") -> str``
    Path of the primary file: ``<dir>/<master>`` when given, else the lexically first
    ``.conf``/``.conflist`` not starting with ``00-multus`` (``.json`` ignored).
    Raises :class:`GenerateError` when there is none.
``load_primary(path: str) -> dict[str, Any]``
    The primary's JSON object; :class:`GenerateError` when unreadable or invalid.
``capabilities_union(primary: Mapping[str, Any]) -> dict[str, bool]``
    ``capabilities`` entries that are ``true`` (top level of a conf, every plugin of a conflist).
``thick_config(daemon: Mapping[str, Any], primary_path: str, primary: Mapping[str, Any]) -> dict[str, Any]``
    The thick ``00-multus.conf`` object (``type: multus-shim``), upstream's field order.
``thin_config(primary: Mapping[str, Any], options: ThinOptions) -> tuple[str, dict[str, Any]]``
    ``(file name, object)``: ``00-multus.conf`` with ``delegates`` below CNI 1.0.0, else
    ``00-multus.conflist`` with the object as ``plugins[0]``.
``generate_thin(autoconfig_dir: str, master: str, options: ThinOptions) -> ThinResult``
    The thin installer's whole step: find and load the primary, build, render.
    Returns ``ThinResult(name, data, primary)``.
``render(obj: Mapping[str, Any]) -> bytes``
    The bytes written (indented JSON, insertion order kept, trailing newline).
``write_atomic(path: str, data: bytes, mode: int = 0o600) -> None``
    Temp file in the same directory, fsync, rename, fsync of the directory. Never empty.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from multus.cni.version import parse as parse_version
from multus.errors import CNIError

MULTUS_FILE_PREFIX = "00-multus"
THICK_FILE = "00-multus.conf"
THIN_CONFLIST = "00-multus.conflist"
DEFAULT_NAME = "multus-cni-network"
LOG_LEVELS = ("debug", "verbose", "error", "panic")

# Upstream's generated field order (thick), after the keys taken from the daemon config.
_THICK_ORDER = ("binDir", "capabilities", "cniVersion", "logFile", "logLevel", "logToStderr",
                "logOptions", "name", "clusterNetwork", "namespaceIsolation", "globalNamespaces",
                "type", "cniDir", "auxiliaryCNIChainName", "daemonSocketDir")


class GenerateError(Exception):
    """The configuration cannot be generated (the message names the file or key)."""


def find_primary(autoconfig_dir: str, master: str = "") -> str:
    if master:
        path = os.path.join(autoconfig_dir, master)
        if not os.path.isfile(path):
            raise GenerateError(f"multusMasterCNI: {path} does not exist")
        return path
    try:
        names = sorted(os.listdir(autoconfig_dir))
    except OSError as e:
        raise GenerateError(f"multusAutoconfigDir: cannot list {autoconfig_dir}: {e.strerror}") from None
    for name in names:
        if name.startswith(MULTUS_FILE_PREFIX) or not name.endswith((".conf", ".conflist")):
            continue
        path = os.path.join(autoconfig_dir, name)
        if os.path.isfile(path):
            return path
    raise GenerateError(f"could not find a plugin configuration in {autoconfig_dir}")


def read_json(path: str, what: str, error: Callable[[str], Exception]) -> Any:
    """The JSON in ``path``; ``error(message)`` is raised naming ``what`` when it cannot be read."""
    try:
        with open(path, "rb") as f:
            text = f.read()
    except OSError as e:
        raise error(f"failed to read {what} {path}: {e.strerror}") from None
    try:
        return json.loads(text)
    except ValueError as e:
        raise error(f"failed to unmarshall {what} {path}: {e}") from None


def load_primary(path: str) -> dict[str, Any]:
    data = read_json(path, "the primary configuration", GenerateError)
    if not isinstance(data, dict):
        raise GenerateError(f"the primary configuration {path} is not a JSON object")
    plugins = data.get("plugins")
    if path.endswith(".conflist") and not (isinstance(plugins, list) and plugins
                                           and all(isinstance(p, dict) for p in plugins)):
        raise GenerateError(f"plugins: the primary configuration {path} has no plugin list")
    if not path.endswith(".conflist") and not isinstance(data.get("type"), str):
        raise GenerateError(f"type: the primary configuration {path} names no plugin type")
    return data


def capabilities_union(primary: Mapping[str, Any]) -> dict[str, bool]:
    sources: list[Any] = [primary]
    plugins = primary.get("plugins")
    if isinstance(plugins, list):
        sources = list(plugins)
    out: dict[str, bool] = {}
    for src in sources:
        caps = src.get("capabilities") if isinstance(src, Mapping) else None
        if isinstance(caps, Mapping):
            for key, value in caps.items():
                if value is True:
                    out[str(key)] = True
    return out


def _version(value: Any, key: str) -> tuple[int, ...]:
    if not isinstance(value, str) or not value:
        raise GenerateError(f"{key}: a CNI version string is required, got {value!r}")
    try:
        return tuple(parse_version(value))
    except CNIError:
        raise GenerateError(f"{key}: {value!r} is not a CNI version") from None


def check_versions(multus_version: str, primary: Mapping[str, Any]) -> None:
    """Multus >= 0.4.0 needs a primary >= 0.4.0 (upstream's compatibility rule)."""
    mine = _version(multus_version, "cniVersion")
    theirs = _version(primary.get("cniVersion"), "cniVersion of the primary configuration")
    if mine >= (0, 4, 0) and theirs < (0, 4, 0):
        raise GenerateError(f"delegate cni version is {primary.get('cniVersion')} "
                            f"while top level cni version is {multus_version}")


def thick_config(daemon: Mapping[str, Any], primary_path: str,
                 primary: Mapping[str, Any]) -> dict[str, Any]:
    version = daemon.get("cniVersion")
    if not daemon.get("forceCNIVersion"):
        check_versions(version if isinstance(version, str) else "", primary)
    else:
        _version(version, "cniVersion")
    values: dict[str, Any] = {
        "binDir": daemon.get("binDir"),
        "capabilities": capabilities_union(primary) or None,
        "cniVersion": version,
        "logFile": daemon.get("logFile"),
        "logLevel": daemon.get("logLevel"),
        "logToStderr": daemon.get("logToStderr"),
        "logOptions": daemon.get("logOptions"),
        "name": DEFAULT_NAME,
        "clusterNetwork": primary_path,
        "namespaceIsolation": daemon.get("namespaceIsolation"),
        "globalNamespaces": daemon.get("globalNamespaces"),
        "type": "multus-shim",
        "cniDir": daemon.get("cniDir"),
        "auxiliaryCNIChainName": daemon.get("auxiliaryCNIChainName"),
        "daemonSocketDir": daemon.get("daemonSocketDir"),
    }
    if daemon.get("overrideNetworkName"):
        name = primary.get("name")
        if not isinstance(name, str) or not name:
            raise GenerateError(f"overrideNetworkName: the primary configuration {primary_path} has no name")
        values["name"] = name
    out = {k: values[k] for k in _THICK_ORDER if values[k] not in (None, "", False, {})}
    if daemon.get("overrideNetworkName"):
        out["overrideNetworkName"] = True
    return out


@attrs.frozen
class ThinOptions:
    """The thin installer's flags that shape the generated configuration."""

    kubeconfig: str = "/etc/cni/net.d/multus.d/multus.kubeconfig"
    cni_version: str = ""
    force_cni_version: bool = False
    override_network_name: bool = False
    conf_dir: str = "/etc/cni/multus/net.d"
    namespace_isolation: bool = False
    global_namespaces: str = ""
    log_to_stderr: bool = True
    log_level: str = ""
    log_file: str = ""
    additional_bin_dir: str = ""
    readiness_indicator_file: str = ""


def thin_config(primary: Mapping[str, Any], options: ThinOptions) -> tuple[str, dict[str, Any]]:
    master_version = primary.get("cniVersion")
    version = options.cni_version or master_version
    if options.cni_version and not options.force_cni_version and master_version != options.cni_version:
        raise GenerateError(f"cniVersion: the primary configuration has {master_version!r}, "
                            f"--cni-version is {options.cni_version!r}")
    parsed = _version(version, "cniVersion")
    level = options.log_level.lower()
    if level and level not in LOG_LEVELS:
        raise GenerateError(f"logLevel: {options.log_level!r} is not one of {', '.join(LOG_LEVELS)}")
    master = dict(primary)
    if options.force_cni_version:
        master["cniVersion"] = version
    name = DEFAULT_NAME
    if options.override_network_name:
        pname = primary.get("name")
        if not isinstance(pname, str) or not pname:
            raise GenerateError("overrideNetworkName: the primary configuration has no name")
        name = pname
    obj: dict[str, Any] = {"cniVersion": version, "name": name, "type": "multus"}
    caps = capabilities_union(primary)
    if caps:
        obj["capabilities"] = caps
    optional: tuple[tuple[str, Any], ...] = (
        ("confDir", options.conf_dir), ("namespaceIsolation", True if options.namespace_isolation else None),
        ("globalNamespaces", options.global_namespaces),
        ("logToStderr", None if options.log_to_stderr else False), ("logLevel", level),
        ("logFile", options.log_file), ("binDir", options.additional_bin_dir),
        ("readinessindicatorfile", options.readiness_indicator_file))
    obj.update((key, value) for key, value in optional if value is not None and value != "")
    obj["kubeconfig"] = options.kubeconfig
    obj["delegates"] = [json.loads(json.dumps(master, sort_keys=True))]
    if parsed < (1, 0, 0):
        return THICK_FILE, obj
    plugin = {k: v for k, v in obj.items() if k not in ("cniVersion", "name")}
    return THIN_CONFLIST, {"cniVersion": version, "name": name, "plugins": [plugin]}


@attrs.frozen
class ThinResult:
    name: str
    """``00-multus.conf`` or ``00-multus.conflist``."""
    data: bytes
    primary: str
    """The primary file's path."""


def generate_thin(autoconfig_dir: str, master: str, options: ThinOptions) -> ThinResult:
    path = find_primary(autoconfig_dir, master)
    name, obj = thin_config(load_primary(path), options)
    return ThinResult(name=name, data=render(obj), primary=path)


def render(obj: Mapping[str, Any]) -> bytes:
    return (json.dumps(obj, indent=2) + "\n").encode()


def write_atomic(path: str, data: bytes, mode: int = 0o600) -> None:
    if not data.strip():
        raise GenerateError(f"refusing to write an empty {path}")
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.rename(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dfd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
