"""MultusConf: every key of upstream's netconf, with upstream's defaults.

Loaded with cattrs in strict mode: a value of the wrong type is an error (code 7) whose
``details`` list the field paths, instead of cattrs' default coercions (``None`` -> ``'None'``,
``"false"`` -> ``True``). Unknown keys are ignored, as upstream does, and stay available to
plugins through :attr:`MultusConf.raw`. Delegate configurations are kept as raw dicts.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any

import attrs

from multus.errors import INVALID_CONFIG, CNIError

DEFAULT_CONF_DIR = "/etc/cni/multus/net.d"
DEFAULT_CNI_DIR = "/var/lib/cni/multus"
DEFAULT_BIN_DIR = "/opt/cni/bin"
DEFAULT_MULTUS_NAMESPACE = "kube-system"
DEFAULT_READINESS_TIMEOUT = 45.0
DEFAULT_DELEGATE_TIMEOUT = 120.0


@attrs.frozen
class LogOptions:
    max_age: int | None = attrs.field(default=None, alias="maxAge")
    max_size: int | None = attrs.field(default=None, alias="maxSize")
    max_backups: int | None = attrs.field(default=None, alias="maxBackups")
    compress: bool | None = attrs.field(default=None, alias="compress")


@attrs.frozen
class MultusConf:
    """The netconf multus receives. Attribute names are snake_case; JSON keys are upstream's."""

    cni_version: str = attrs.field(default="", alias="cniVersion")
    name: str = attrs.field(default="", alias="name")
    type: str = attrs.field(default="", alias="type")
    conf_dir: str = attrs.field(default=DEFAULT_CONF_DIR, alias="confDir")
    cni_dir: str = attrs.field(default=DEFAULT_CNI_DIR, alias="cniDir")
    bin_dir: str = attrs.field(default=DEFAULT_BIN_DIR, alias="binDir")
    kubeconfig: str = attrs.field(default="", alias="kubeconfig")
    delegates: tuple[dict[str, Any], ...] = attrs.field(default=(), alias="delegates")
    cluster_network: str = attrs.field(default="", alias="clusterNetwork")
    default_networks: tuple[str, ...] = attrs.field(default=(), alias="defaultNetworks")
    multus_namespace: str = attrs.field(default=DEFAULT_MULTUS_NAMESPACE, alias="multusNamespace")
    system_namespaces: tuple[str, ...] = attrs.field(default=("kube-system",), alias="systemNamespaces")
    namespace_isolation: bool = attrs.field(default=False, alias="namespaceIsolation")
    global_namespaces_raw: str = attrs.field(default="", alias="globalNamespaces")
    readiness_indicator_file: str = attrs.field(default="", alias="readinessindicatorfile")
    readiness_timeout: float = attrs.field(default=DEFAULT_READINESS_TIMEOUT, alias="readinessTimeout")
    log_file: str = attrs.field(default="", alias="logFile")
    log_level: str = attrs.field(default="", alias="logLevel")
    log_to_stderr: bool = attrs.field(default=True, alias="logToStderr")
    log_options: LogOptions = attrs.field(factory=LogOptions, alias="logOptions")
    capabilities: dict[str, bool] = attrs.field(factory=dict, alias="capabilities")
    runtime_config: dict[str, Any] = attrs.field(factory=dict, alias="runtimeConfig")
    prev_result: dict[str, Any] | None = attrs.field(default=None, alias="prevResult")
    retry_delete_on_error: bool = attrs.field(default=False, alias="retryDeleteOnError")
    auxiliary_cni_chain_name: str = attrs.field(default="", alias="auxiliaryCNIChainName")
    daemon_socket_dir: str = attrs.field(default="/run/multus/", alias="daemonSocketDir")
    delegate_timeout: float = attrs.field(default=DEFAULT_DELEGATE_TIMEOUT, alias="delegateTimeout")
    plugins: tuple[str, ...] = attrs.field(default=(), alias="plugins")
    """Third-party multus plugins (entry-point names) to enable; ours are always on."""
    raw: Mapping[str, Any] = attrs.field(factory=dict, alias="raw", eq=False, repr=False)

    @property
    def global_namespaces(self) -> tuple[str, ...]:
        """Comma list, items trimmed; empty means ``("default",)`` as upstream."""
        items = tuple(s.strip() for s in self.global_namespaces_raw.split(",") if s.strip())
        return items or ("default",)

    @property
    def bin_dirs(self) -> tuple[str, ...]:
        return (self.bin_dir,) if self.bin_dir else ()


def _strict(cls: type) -> Any:
    def hook(value: Any, _t: Any) -> Any:
        if cls is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if type(value) is not cls:
            raise TypeError(f"expected {cls.__name__}, got {type(value).__name__} {value!r}")
        return value
    return hook


def _raw_dict(value: Any, _t: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"expected a JSON object, got {type(value).__name__}")
    return value


def _make_converter() -> Any:
    import cattrs

    conv = cattrs.Converter(use_alias=True, forbid_extra_keys=False)
    for cls in (str, bool, int, float):
        conv.register_structure_hook(cls, _strict(cls))
    conv.register_structure_hook_func(lambda t: t == dict[str, Any], _raw_dict)
    conv.register_structure_hook_func(lambda t: t == (dict[str, Any] | None),
                                      lambda v, t: None if v is None else _raw_dict(v, t))

    def seq(item: type) -> Any:
        def hook(value: Any, _t: Any) -> tuple[Any, ...]:
            if not isinstance(value, list):
                raise TypeError(f"expected a JSON array, got {type(value).__name__}")
            out: list[Any] = []
            for i, v in enumerate(value):
                try:
                    out.append(conv.structure(v, item))
                except TypeError as e:
                    raise TypeError(f"item {i}: {e}") from None
            return tuple(out)
        return hook

    conv.register_structure_hook_func(lambda t: t == tuple[str, ...], seq(str))
    conv.register_structure_hook_func(lambda t: t == tuple[dict[str, Any], ...], seq(dict[str, Any]))

    def caps(value: Any, _t: Any) -> dict[str, bool]:
        d = _raw_dict(value, _t)
        for k, v in d.items():
            if not isinstance(v, bool):
                raise TypeError(f"capability {k!r}: expected bool, got {type(v).__name__}")
        return d
    conv.register_structure_hook_func(lambda t: t == dict[str, bool], caps)

    from cattrs.gen import make_dict_structure_fn

    log_options = make_dict_structure_fn(LogOptions, conv)

    def objects_only(value: Any, t: Any) -> LogOptions:
        if not isinstance(value, dict):
            raise TypeError(f"expected a JSON object, got {type(value).__name__}")
        return log_options(value, t)
    conv.register_structure_hook(LogOptions, objects_only)
    return conv


def _paths(exc: BaseException) -> list[str]:
    """cattrs' error paths, spelled with the JSON keys the operator wrote."""
    from cattrs import transform_error

    def fmt(e: BaseException, _t: Any) -> str:
        return str(e) if isinstance(e, (TypeError, ValueError)) else f"{type(e).__name__}: {e}"

    out = []
    for line in transform_error(exc, path="", format_exception=fmt):
        msg, _, path = line.rpartition(" @ ")
        key = ".".join(_ALIASES.get(p, p) for p in path.strip(".").split("."))
        out.append(f"{key}: {msg}")
    return out


def _plain(kind: str, value: Any) -> tuple[bool, Any]:
    """``(True, structured)`` when ``value`` is exactly what the converter accepts for a field
    annotated ``kind``, unchanged but for ints given for floats and arrays as tuples."""
    if value is None and kind.endswith(" | None"):
        return True, None
    base = kind.removesuffix(" | None")
    exact = _EXACT.get(base)
    if exact is not None:
        return type(value) is exact, value
    if base == "float":
        return type(value) in (int, float), float(value) if type(value) is int else value
    if base == "dict[str, Any]":
        return type(value) is dict, value
    if base == "dict[str, bool]":
        return type(value) is dict and all(type(v) is bool for v in value.values()), value
    if base in ("tuple[str, ...]", "tuple[dict[str, Any], ...]"):
        item = str if base == "tuple[str, ...]" else dict
        if type(value) is not list or not all(type(v) is item for v in value):
            return False, None
        return True, tuple(value)
    if base == "LogOptions" and type(value) is dict:
        options = _plain_fields(LogOptions, value)
        return options is not None, options
    return False, None


def _plain_fields(cls: type[Any], data: Mapping[str, Any]) -> Any:
    """``cls`` built from ``data`` without the converter when every value already has its field's
    type (the usual configuration); None when one does not, to let the converter report it."""
    kwargs: dict[str, Any] = {}
    for alias, kind in _KINDS[cls]:
        if alias in data:
            ok, kwargs[alias] = _plain(kind, data[alias])
            if not ok:
                return None
    return cls(**kwargs)


def load(config: Mapping[str, Any]) -> MultusConf:
    """Build the MultusConf from the stdin object; wrong types raise code 7 with field paths."""
    if not isinstance(config, Mapping):
        raise CNIError(INVALID_CONFIG, "the multus configuration must be a JSON object")
    data = {k: v for k, v in config.items() if k in _KEYS}
    conf: MultusConf | None = _plain_fields(MultusConf, data)
    if conf is None:
        conf = _structure(data)
    for key in ("delegateTimeout", "readinessTimeout"):
        if key in config and not (math.isfinite(config[key]) and config[key] > 0):
            raise CNIError(INVALID_CONFIG, f"invalid multus configuration: {key} must be a positive number")
    if not conf.cni_dir:
        raise CNIError(INVALID_CONFIG, "invalid multus configuration: cniDir must not be empty")
    return attrs.evolve(conf, raw=dict(config))


def _structure(data: dict[str, Any]) -> MultusConf:
    """The converter's load (cattrs, strict): the field paths of every wrong value."""
    import cattrs

    try:
        conf: MultusConf = _converter().structure(data, MultusConf)
    except (cattrs.BaseValidationError, TypeError, ValueError) as e:
        details = _paths(e) if isinstance(e, cattrs.BaseValidationError) else [str(e)]
        first = details[0] if details else str(e)
        raise CNIError(INVALID_CONFIG, f"invalid multus configuration: {first}", "; ".join(details)) from None
    return conf


def unknown_keys(conf: MultusConf) -> list[tuple[str, str]]:
    """Keys of the configuration multus does not know, each with the closest known key (or "").
    They are not errors: plugins read their own settings from ``conf.raw``."""
    return [(key, closest_key(key)) for key in sorted(k for k in conf.raw if k not in _KEYS and k not in _CNI_KEYS)]


@functools.lru_cache(maxsize=256)
def closest_key(key: str) -> str:
    """The known configuration key closest to ``key`` ("" when none is close); remembered, since a
    daemon sees the same configuration in every request."""
    import difflib

    match = difflib.get_close_matches(key, sorted(str(k) for k in _KEYS), n=1, cutoff=0.75)
    return match[0] if match else ""


_CNI_KEYS = frozenset({"args", "dns", "ipam", "ipMasq", "forceAddress", "mtu", "disableCheck", "disableGC"})
_ALIASES = {a.name: a.alias for cls in (MultusConf, LogOptions) for a in attrs.fields(cls)}
_KEYS = frozenset(a.alias for a in attrs.fields(MultusConf) if a.alias != "raw")
_CONVERTER: list[Any] = []
_EXACT: dict[str, type] = {"str": str, "bool": bool, "int": int}
# the annotations as written (cattrs replaces attrs' string types by the types when it builds a loader)
_KINDS: dict[type, tuple[tuple[str, str], ...]] = {
    cls: tuple((a.alias, str(a.type)) for a in attrs.fields(cls) if a.alias != "raw") for cls in (MultusConf, LogOptions)}


def _converter() -> Any:
    # Built on first use; a converter is immutable once built, so sharing it between requests is safe.
    if not _CONVERTER:
        _CONVERTER.append(_make_converter())
    return _CONVERTER[0]


def path_setting(conf: MultusConf, key: str, default: str) -> str:
    """A plugin's own key of the multus configuration holding a non-empty string (code 7 if not)."""
    value = conf.raw.get(key, default)
    if not isinstance(value, str) or not value:
        raise CNIError(INVALID_CONFIG, f"invalid multus configuration: {key}: expected a non-empty string, "
                       f"got {value!r}")
    return value


def seconds_setting(conf: MultusConf, key: str, default: float) -> float:
    """A plugin's own key holding a positive, finite number of seconds (code 7 if not)."""
    value = conf.raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not (math.isfinite(value) and value > 0):
        raise CNIError(INVALID_CONFIG, f"invalid multus configuration: {key}: expected a positive number of "
                       f"seconds, got {value!r}")
    return float(value)


def validate(conf: MultusConf) -> None:
    """upstream's ``LoadNetConf`` check: something must say what the cluster network is."""
    if not conf.delegates and not conf.cluster_network:
        raise CNIError(INVALID_CONFIG,
                       "delegates/clusterNetwork: at least one delegate/clusterNetwork must be specified")
