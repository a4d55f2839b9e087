"""Run a network configuration (a single conf or a conflist) like libcni does.

A port of containernetworking/cni ``libcni`` (``api.go``, ``conf.go``; 1.2 behaviour): per-plugin
config injection (``name``, ``cniVersion``, ``prevResult``, capability-filtered ``runtimeConfig``),
ADD chaining with ``prevResult``, CHECK and DEL with the cached result, DEL in reverse order, GC of
stale cached attachments, STATUS, and the result cache in libcni's on-disk format
(``<cacheDir>/results/<network>-<containerID>-<ifName>``, kind ``cniCacheV1``), so that the cache
stays readable by (and from) other libcni users of the same cache directory.

Configurations and results stay raw ``dict``s: unknown keys pass through untouched.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from attrs import field, frozen

from multus.cni import names, version
from multus.cni.conf import check_config, is_conflist, read_bool, select_version
from multus.cni.invoke import build_env, exec_plugin, find_plugin
from multus.errors import (
    DECODE_FAILURE,
    INCOMPATIBLE_VERSION,
    INVALID_CONFIG,
    INVALID_ENV,
    IO_FAILURE,
    UNKNOWN_CONTAINER,
    CNIError,
)
from multus.gocompat import quote as go_quote

CACHE_KIND = "cniCacheV1"
DEFAULT_CACHE_DIR = "/var/lib/cni"
VALID_ATTACHMENTS_KEY = "cni.dev/valid-attachments"
ATTACHMENTS_KEY = "cni.dev/attachments"
"""libcni 1.2 injects the valid attachments under both names (the spec first used this one)."""


Pairs = tuple[tuple[str, str], ...]


def _pairs(value: Any) -> Pairs:
    return tuple((str(k), str(v)) for k, v in value)


@frozen
class RuntimeConf:
    """The arguments of one invocation except the network configuration (libcni ``RuntimeConf``).

    ``capability_args`` are the runtime's offers (``portMappings``, ``ips`` ...); each plugin gets
    only those it declares in its ``capabilities``. ``cache_dir`` holds the ``results`` cache.
    """

    container_id: str
    netns: str
    ifname: str
    args: Pairs = field(default=(), converter=_pairs)
    capability_args: Mapping[str, Any] = field(factory=dict)
    cache_dir: str = DEFAULT_CACHE_DIR

    @property
    def args_str(self) -> str:
        """``CNI_ARGS``: ``K=V;K2=V2``."""
        return ";".join(f"{k}={v}" for k, v in self.args)


@frozen
class CachedAttachment:
    """One valid file of ``<cacheDir>/results`` (libcni ``NetworkAttachment`` plus the result)."""

    container_id: str
    ifname: str
    network_name: str
    netns: str
    cni_args: Pairs
    capability_args: Mapping[str, Any]
    config: Mapping[str, Any]
    result: Mapping[str, Any] | None
    path: str


def _invalid(msg: str) -> CNIError:
    return CNIError(INVALID_CONFIG, msg)


@frozen(eq=False)
class Network:
    """A network configuration: a single plugin conf or a conflist, kept as the raw dict.

    Build it with :meth:`from_config` (or :meth:`from_bytes` to keep the original bytes, which
    then are what the cache stores, as libcni does).
    """

    config: dict[str, Any]
    source: bytes | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any], source: bytes | None = None) -> Network:
        """Validate like libcni's ``ConfFromBytes`` / ``ConfListFromBytes`` (errors: code 7)."""
        if not isinstance(config, Mapping):
            raise _invalid(f"error parsing configuration: expected a JSON object, "
                           f"not {type(config).__name__}")
        conf = dict(config)
        check_config(conf)
        return cls(conf, source)

    @classmethod
    def from_bytes(cls, data: bytes) -> Network:
        """Parse JSON bytes; the bytes themselves are what the cache will store."""
        try:
            conf = json.loads(data)
        except (ValueError, UnicodeDecodeError) as e:
            raise CNIError(DECODE_FAILURE, f"error parsing configuration: {e}") from None
        if not isinstance(conf, dict):
            raise _invalid(f"error parsing configuration: expected a JSON object, not {type(conf).__name__}")
        return cls.from_config(conf, bytes(data))

    @property
    def is_list(self) -> bool:
        return is_conflist(self.config)

    @property
    def name(self) -> str:
        name = self.config.get("name", "")
        return name if isinstance(name, str) else ""

    @property
    def cni_version(self) -> str:
        if self.is_list:
            return select_version(self.config)
        v = self.config.get("cniVersion", "")
        return v if isinstance(v, str) else ""

    @property
    def plugins(self) -> list[dict[str, Any]]:
        if self.is_list:
            return list(self.config["plugins"])
        return [self.config]

    @property
    def disable_check(self) -> bool:
        return self.is_list and read_bool(self.config, "disableCheck")

    @property
    def disable_gc(self) -> bool:
        return self.is_list and read_bool(self.config, "disableGC")

    @property
    def raw_bytes(self) -> bytes:
        """What the cache stores as ``config``: the original bytes, else the compact JSON."""
        if self.source is not None:
            return self.source
        return json.dumps(self.config, separators=(",", ":")).encode()


# --------------------------------------------------------------------------- config injection

def inject_conf(plugin: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """libcni ``InjectConf``: a copy of ``plugin`` with ``values`` set (no key may be empty/None)."""
    out = dict(plugin)
    for key, value in values.items():
        if key == "":
            raise _invalid("keys cannot be empty")
        if value is None:
            raise _invalid(f"key '{key}' value must not be nil")
        out[key] = value
    return out


def runtime_config_for(plugin: Mapping[str, Any], capability_args: Mapping[str, Any]) -> dict[str, Any]:
    """The capability args the plugin declares (true) in ``capabilities`` (libcni ``injectRuntimeConfig``)."""
    caps = plugin.get("capabilities")
    if not isinstance(caps, Mapping):
        return {}
    return {cap: capability_args[cap] for cap, supported in caps.items()
            if supported is True and cap in capability_args}


def build_plugin_config(plugin: Mapping[str, Any], name: str, cni_version: str,
                        prev_result: Mapping[str, Any] | None, rt: RuntimeConf | None) -> bytes:
    """The stdin of one plugin (libcni ``buildOneConfig``); ``plugin`` is not modified.

    Sets ``name`` and ``cniVersion``, ``prevResult`` when given, and replaces ``runtimeConfig`` by
    the capability args the plugin declares when there is at least one; every other key is kept.
    """
    inject: dict[str, Any] = {"name": name, "cniVersion": cni_version}
    if prev_result is not None:
        inject["prevResult"] = prev_result
    conf = inject_conf(plugin, inject)
    if rt is not None:
        rc = runtime_config_for(plugin, rt.capability_args)
        if rc:
            conf["runtimeConfig"] = rc
    return json.dumps(conf, separators=(",", ":")).encode()


# --------------------------------------------------------------------------- validation

def validate_container_id(container_id: str) -> None:
    """libcni ``utils.ValidateContainerID``."""
    if container_id == "":
        raise CNIError(UNKNOWN_CONTAINER, "missing containerID")
    if not names.valid_name(container_id):
        raise CNIError(INVALID_ENV, "invalid characters in containerID", container_id)


def validate_network_name(name: str) -> None:
    """libcni ``utils.ValidateNetworkName``."""
    if name == "":
        raise CNIError(INVALID_CONFIG, "missing network name:")
    if not names.valid_name(name):
        raise CNIError(INVALID_CONFIG, "invalid characters found in network name", name)


def validate_interface_name(ifname: str) -> None:
    """libcni ``utils.ValidateInterfaceName`` (the rule: :func:`multus.cni.names.interface_name_problem`)."""
    problem = names.interface_name_problem(ifname)
    if problem == names.IFNAME_TOO_LONG:
        raise CNIError(INVALID_ENV, problem,
                       f"interface name should be less than {names.IFNAMSIZ} characters")
    if problem:
        raise CNIError(INVALID_ENV, problem)


# --------------------------------------------------------------------------- result cache

def cache_file_path(cache_dir: str, net_name: str, container_id: str, ifname: str) -> str:
    """``<cache_dir>/results/<net_name>-<container_id>-<ifname>`` (libcni ``getCacheFilePath``)."""
    if net_name == "" or container_id == "" or ifname == "":
        raise CNIError(INVALID_CONFIG, f"cache file path requires network name ({go_quote(net_name)}), "
                       f"container ID ({go_quote(container_id)}), and interface name ({go_quote(ifname)})")
    fname = f"{net_name}-{container_id}-{ifname}"
    if "/" in fname or "\0" in fname:
        raise CNIError(INVALID_CONFIG, f"cache file name {fname!r} must not contain '/'")
    return os.path.join(cache_dir or DEFAULT_CACHE_DIR, "results", fname)


def _encode_cache(net: Network, rt: RuntimeConf, result: Mapping[str, Any]) -> bytes:
    """libcni ``cachedInfo`` marshalled: field order and ``omitempty`` as in Go."""
    info: dict[str, Any] = {
        "kind": CACHE_KIND,
        "containerId": rt.container_id,
        "config": base64.b64encode(net.raw_bytes).decode("ascii"),
        "ifName": rt.ifname,
        "networkName": net.name,
    }
    if rt.netns:
        info["netns"] = rt.netns
    if rt.args:
        info["cniArgs"] = [[k, v] for k, v in rt.args]
    if rt.capability_args:
        info["capabilityArgs"] = dict(rt.capability_args)
    if result:
        info["result"] = dict(result)
    return json.dumps(info, separators=(",", ":")).encode()


def _write_atomic(path: str, data: bytes) -> None:
    """Write ``data`` to ``path``: temp file in the same directory, then rename (mode 0600).

    No fsync, as libcni: a reader sees the old file or the new one, never half of one; after a
    power loss, multus' own scratch cache (synced before any delegate ran) still lists the
    delegates to tear down."""
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_cached_result(net: Network, rt: RuntimeConf, result: Mapping[str, Any]) -> str:
    """Store the result of a successful ADD (libcni ``cacheAdd``); returns the file path."""
    path = cache_file_path(rt.cache_dir, net.name, rt.container_id, rt.ifname)
    try:
        _write_atomic(path, _encode_cache(net, rt, result))
    except OSError as e:
        raise CNIError(IO_FAILURE, f"failed to set network {go_quote(net.name)} cached result: {e}") from None
    return path


def edit_cached_result(cache_dir: str, net_name: str, container_id: str, ifname: str,
                       edit: Callable[[dict[str, Any]], dict[str, Any]]) -> bool:
    """Replace the result cached for ``net_name`` / ``container_id`` / ``ifname`` by ``edit(result)``.

    Every other field of the ``cniCacheV1`` file is kept; the file is replaced atomically (a
    temp file, mode 0600, renamed over it). False (nothing written) when there is no valid cache
    file with a result."""
    path = cache_file_path(cache_dir, net_name, container_id, ifname)
    info = get_cached_info(path)
    if info is None or not isinstance(info.get("result"), dict):
        return False
    info["result"] = edit(info["result"])
    try:
        _write_atomic(path, json.dumps(info, separators=(",", ":")).encode())
    except OSError as e:
        raise CNIError(IO_FAILURE, f"failed to set network {go_quote(net_name)} cached result: {e}") from None
    return True


def get_cached_info(path: str) -> dict[str, Any] | None:
    """The decoded ``cniCacheV1`` object stored at ``path``; None if unreadable or not one."""
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or data.get("kind") != CACHE_KIND:
        return None
    for key in ("containerId", "ifName", "networkName", "netns"):
        if not isinstance(data.get(key, ""), str):
            return None
    config = data.get("config")
    if config is not None and not isinstance(config, str):
        return None
    if isinstance(config, str):
        try:
            base64.b64decode(config, validate=True)
        except (binascii.Error, ValueError):
            return None
    args = data.get("cniArgs")
    if args is not None and not (isinstance(args, list) and all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(s, str) for s in p) for p in args)):
        return None
    for key in ("capabilityArgs", "result"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            return None
    return data


def get_cached_result(net_name: str, rt: RuntimeConf) -> dict[str, Any] | None:
    """The result cached by the ADD of ``net_name`` for ``rt`` (libcni ``getCachedResult``).

    None when there is no cache file. A file that is not a ``cniCacheV1`` object is read as the
    legacy format (the result itself); a file that is neither raises code 6.
    """
    path = cache_file_path(rt.cache_dir, net_name, rt.container_id, rt.ifname)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError:
        return None
    info = get_cached_info(path)
    if info is not None:
        result = info.get("result")
        return dict(result) if isinstance(result, dict) else None
    try:
        legacy = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise CNIError(DECODE_FAILURE, f"failed to get network {go_quote(net_name)} cached result: "
                       f"{path}: {e}") from None
    if not isinstance(legacy, dict) or legacy.get("kind") is not None \
            or not isinstance(legacy.get("cniVersion"), str):
        raise CNIError(DECODE_FAILURE, f"failed to get network {go_quote(net_name)} cached result: "
                       f"{path}: not a cached result")
    return legacy


def delete_cached_result(net_name: str, rt: RuntimeConf) -> None:
    """Remove the cache file of ``net_name`` for ``rt``; missing is fine (libcni ``cacheDel``)."""
    try:
        path = cache_file_path(rt.cache_dir, net_name, rt.container_id, rt.ifname)
    except CNIError:
        return
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as e:
        raise CNIError(IO_FAILURE, f"failed to delete network {go_quote(net_name)} cached result: {e}") from None


def list_cached_attachments(cache_dir: str, network_name: str | None = None,
                            container_id: str | None = None) -> list[CachedAttachment]:
    """Valid cache files of ``<cache_dir>/results``, sorted by name (libcni ``GetCachedAttachments``).

    Files that cannot be read or decoded, of another kind, or without interface/network name are
    skipped. ``network_name`` / ``container_id`` filter when given.
    """
    directory = os.path.join(cache_dir or DEFAULT_CACHE_DIR, "results")
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    out: list[CachedAttachment] = []
    for fname in names:
        if fname.startswith("."):
            continue  # our own temp files while a write is in flight
        if container_id and f"-{container_id}-" not in fname:
            continue
        path = os.path.join(directory, fname)
        info = get_cached_info(path)
        if info is None:
            continue
        if not info.get("ifName") or not info.get("networkName"):
            continue
        if container_id and info.get("containerId") != container_id:
            continue
        if network_name is not None and info["networkName"] != network_name:
            continue
        try:
            config = json.loads(base64.b64decode(info.get("config") or ""))
        except (ValueError, UnicodeDecodeError):
            continue
        if not isinstance(config, dict):
            continue
        out.append(CachedAttachment(
            container_id=info.get("containerId", ""),
            ifname=info["ifName"],
            network_name=info["networkName"],
            netns=info.get("netns", ""),
            cni_args=tuple((p[0], p[1]) for p in info.get("cniArgs") or ()),
            capability_args=dict(info.get("capabilityArgs") or {}),
            config=config,
            result=info.get("result"),
            path=path,
        ))
    return out


# --------------------------------------------------------------------------- operations

def _plugin_description(plugin: Mapping[str, Any]) -> str:
    """libcni ``pluginDescription``: ``type="bridge" name="x"``."""
    out = f"type={go_quote(str(plugin.get('type', '')))}"
    name = plugin.get("name")
    if isinstance(name, str) and name:
        out += f" name={go_quote(name)}"
    return out


def _wrap(net: Network, plugin: Mapping[str, Any], verb: str, e: CNIError) -> CNIError:
    """Conflist errors name the failing plugin, as in libcni's ``*NetworkList``."""
    if not net.is_list:
        return e
    return CNIError(e.code, f"plugin {_plugin_description(plugin)} failed ({verb}): {e.msg}", e.details)


def _cni_path(bin_dirs: Sequence[str]) -> str:
    return os.pathsep.join(bin_dirs)


def _env(base_env: Mapping[str, str], command: str, rt: RuntimeConf, bin_dirs: Sequence[str]) -> dict[str, str]:
    return build_env(base_env, command, rt.container_id, rt.netns, rt.ifname, rt.args_str, _cni_path(bin_dirs))


def _fixup_result_version(result: dict[str, Any], cni_version: str) -> dict[str, Any]:
    """libcni ``fixupResultVersion``: a result without ``cniVersion`` is of the config's version."""
    v = result.get("cniVersion")
    if isinstance(v, str) and v:
        return result
    out = dict(result)
    out["cniVersion"] = cni_version
    return out


def check_result_shape(result: Mapping[str, Any], what: str) -> None:
    """Reject a result whose fields have the wrong JSON types (libcni decodes every result into
    its typed form and fails the same way). Only the shape is checked here, which costs nothing;
    addresses are parsed where a result is converted."""
    def bad(field: str, want: str) -> CNIError:
        return CNIError(DECODE_FAILURE, f"{what}: failed to unmarshal raw result: {field} must be {want}")

    if not isinstance(result.get("cniVersion", ""), str):
        raise bad("cniVersion", "a string")
    for key, inner in (("interfaces", None), ("ips", "address"), ("routes", "dst")):
        items = result.get(key)
        if items is None:
            continue
        if not isinstance(items, list):
            raise bad(key, "an array")
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise bad(f"{key}[{i}]", "an object")
            if inner is not None and not isinstance(item.get(inner), str):
                raise bad(f"{key}[{i}].{inner}", "a string")
    for key in ("dns", "ip4", "ip6"):
        if result.get(key) is not None and not isinstance(result[key], dict):
            raise bad(key, "an object")
    for key in ("ip4", "ip6"):
        if isinstance(result.get(key), dict) and not isinstance(result[key].get("ip"), str):
            raise bad(f"{key}.ip", "a string")


def _version_at_least(net: Network, minimum: str) -> bool:
    return version.at_least(net.cni_version, minimum)


def add_network(net: Network, rt: RuntimeConf, bin_dirs: Sequence[str], base_env: Mapping[str, str],
                timeout: float | None) -> dict[str, Any]:
    """ADD every plugin in order, each getting the previous result; cache and return the last one."""
    name, cni_version = net.name, net.cni_version
    result: dict[str, Any] | None = None
    for plugin in net.plugins:
        try:
            path = find_plugin(plugin["type"], bin_dirs)
            validate_container_id(rt.container_id)
            validate_network_name(name)
            validate_interface_name(rt.ifname)
            stdin = build_plugin_config(plugin, name, cni_version, result, rt)
            answer = exec_plugin(path, "ADD", stdin, _env(base_env, "ADD", rt, bin_dirs), timeout)
            if answer is None:
                raise CNIError(DECODE_FAILURE, f"plugin {path} (ADD): failed to unmarshal raw result: "
                               "empty answer")
            check_result_shape(answer, f"plugin {path} (ADD)")
            result = _fixup_result_version(answer, cni_version)
        except CNIError as e:
            raise _wrap(net, plugin, "add", e) from None
    if result is None:
        raise _invalid(f"network {name!r}: no plugins to add")
    write_cached_result(net, rt, result)
    return result


def check_network(net: Network, rt: RuntimeConf, bin_dirs: Sequence[str], base_env: Mapping[str, str],
                  timeout: float | None) -> None:
    """CHECK every plugin in order with the cached result as ``prevResult`` (libcni ``CheckNetworkList``).

    Needs cniVersion 0.4.0 or later (code 1 otherwise); ``disableCheck`` makes it a no-op. As in
    libcni, a missing cache file is not an error here: the plugins get no ``prevResult`` and
    answer for themselves.
    """
    if not _version_at_least(net, "0.4.0"):
        raise CNIError(INCOMPATIBLE_VERSION,
                       f"configuration version {go_quote(net.cni_version)} does not support the CHECK command")
    if net.disable_check:
        return
    name, cni_version = net.name, net.cni_version
    cached = get_cached_result(name, rt)
    for plugin in net.plugins:
        path = find_plugin(plugin["type"], bin_dirs)
        stdin = build_plugin_config(plugin, name, cni_version, cached, rt)
        exec_plugin(path, "CHECK", stdin, _env(base_env, "CHECK", rt, bin_dirs), timeout, want_result=False)


def del_network(net: Network, rt: RuntimeConf, bin_dirs: Sequence[str], base_env: Mapping[str, str],
                timeout: float | None) -> None:
    """DEL every plugin in reverse order (libcni ``DelNetworkList``), then drop the cache file.

    From cniVersion 0.4.0 the cached result is the ``prevResult``; a missing or unreadable cache
    is fine (the plugins then get none).
    """
    name, cni_version = net.name, net.cni_version
    cached: dict[str, Any] | None = None
    if _version_at_least(net, "0.4.0"):
        try:
            cached = get_cached_result(name, rt)
        except CNIError:
            delete_cached_result(name, rt)
            cached = None
    for plugin in reversed(net.plugins):
        try:
            path = find_plugin(plugin["type"], bin_dirs)
            stdin = build_plugin_config(plugin, name, cni_version, cached, rt)
            exec_plugin(path, "DEL", stdin, _env(base_env, "DEL", rt, bin_dirs), timeout, want_result=False)
        except CNIError as e:
            raise _wrap(net, plugin, "delete", e) from None
    delete_cached_result(name, rt)


def _join_errors(errors: list[CNIError]) -> CNIError:
    if len(errors) == 1:
        return errors[0]
    return CNIError(errors[0].code, "; ".join(e.msg for e in errors),
                    "; ".join(e.details for e in errors if e.details))


def _gc_attachment(item: Mapping[str, Any]) -> dict[str, str]:
    cid = item.get("containerID", "")
    ifname = item.get("ifname", "")
    if not isinstance(cid, str) or not isinstance(ifname, str):
        raise _invalid(f"invalid valid attachment {dict(item)!r}: containerID and ifname must be strings")
    return {"containerID": cid, "ifname": ifname}


def gc_network(net: Network, valid_attachments: Sequence[Mapping[str, Any]], bin_dirs: Sequence[str],
               base_env: Mapping[str, str], cache_dir: str, timeout: float | None) -> None:
    """Garbage-collect one network (libcni 1.2 ``GCNetworkList``).

    First DEL every cached attachment of this network that is not in ``valid_attachments``
    (``{"containerID", "ifname"}`` objects), with the netns, CNI_ARGS and capability args it was
    added with. Then, from cniVersion 1.1.0, send GC to every plugin with the valid attachments
    under ``cni.dev/valid-attachments`` (and ``cni.dev/attachments``). ``disableGC`` skips all.
    Errors are collected and raised together at the end.
    """
    if net.disable_gc:
        return
    valid = [_gc_attachment(a) for a in valid_attachments]
    valid_keys = {(a["containerID"], a["ifname"]) for a in valid}
    errors: list[CNIError] = []
    for att in list_cached_attachments(cache_dir, net.name):
        if (att.container_id, att.ifname) in valid_keys:
            continue
        rt = RuntimeConf(container_id=att.container_id, netns=att.netns, ifname=att.ifname,
                         args=att.cni_args, capability_args=att.capability_args, cache_dir=cache_dir)
        try:
            del_network(net, rt, bin_dirs, base_env, timeout)
        except CNIError as e:
            errors.append(CNIError(e.code, f"failed to delete stale attachment {att.container_id} "
                                   f"{att.ifname}: {e.msg}", e.details))
    if _version_at_least(net, "1.1.0"):
        inject = {"name": net.name, "cniVersion": net.cni_version,
                  VALID_ATTACHMENTS_KEY: valid, ATTACHMENTS_KEY: valid}
        env = build_env(base_env, "GC", "", "", "", "", _cni_path(bin_dirs))
        for plugin in net.plugins:
            try:
                path = find_plugin(plugin["type"], bin_dirs)
                stdin = json.dumps(inject_conf(plugin, inject), separators=(",", ":")).encode()
                exec_plugin(path, "GC", stdin, env, timeout, want_result=False)
            except CNIError as e:
                errors.append(CNIError(e.code, f"failed to GC plugin {plugin.get('type')}: {e.msg}", e.details))
    if errors:
        raise _join_errors(errors)


def status_network(net: Network, bin_dirs: Sequence[str], base_env: Mapping[str, str],
                   timeout: float | None) -> None:
    """STATUS every plugin in order, from cniVersion 1.1.0 (libcni ``GetStatusNetworkList``).

    The first failing plugin's error is raised as is (its code tells the runtime why).
    """
    if not _version_at_least(net, "1.1.0"):
        return
    inject = {"name": net.name, "cniVersion": net.cni_version}
    env = build_env(base_env, "STATUS", "", "", "", "", _cni_path(bin_dirs))
    for plugin in net.plugins:
        path = find_plugin(plugin["type"], bin_dirs)
        stdin = json.dumps(inject_conf(plugin, inject), separators=(",", ":")).encode()
        exec_plugin(path, "STATUS", stdin, env, timeout, want_result=False)
