"""The daemon configuration file (``-config``, default ``/etc/cni/net.d/multus.d/daemon-config.json``).

Keys of the daemon itself (upstream's ``ControllerNetConf`` where it has them):

============================ ================ ===============================================
key                          default          meaning
============================ ================ ===============================================
``socketDir``                ``/run/multus/`` created (0700) at start; socket ``multus.sock`` (0600)
``logFile``, ``logLevel``,   ``""``, panic,   the daemon's logging, configured once at start
``logToStderr``,             ``false``,
``logOptions``               rotation
``metricsPort``              unset            serve ``/metrics`` (Prometheus) on ``:<port>``
``connectionLimit``          ``32``           CNI requests run at once (> 0); more wait in the daemon's queue
``allowedUIDs``              ``[0]``          user IDs whose connections are served (SO_PEERCRED); others get 403
``requestTimeout``           ``30``           seconds a client has to send its whole request (then 408)
``shutdownGracePeriod``      ``10``           seconds ``/readyz`` answers 500 before the server
                                              stops, after SIGTERM/SIGINT (then in-flight requests finish)
``chrootDir``                ``""``           delegates run chrooted into this directory (e.g. ``/hostroot``)
``cniConfigDir``             ``/etc/cni/net.d`` where ``00-multus.conf`` is written
``multusConfigFile``         ``auto``         ``auto``: generated from the primary; else a file copied verbatim
``multusAutoconfigDir``      ``""``           searched for the primary configuration, watched
``multusMasterCNI``          ``""``           the primary's file name (else the lexically first)
``forceCNIVersion``          ``false``        skip the primary's cniVersion compatibility check
``overrideNetworkName``      ``false``        the generated ``name`` is the primary's
``readinessindicatorfile``   ``""``           waited for at start (exit 1); its removal removes the config
``readinessTimeout``         ``45``           seconds to wait for the readiness indicator at start
``enablePprof``              ``false``        refused when true (no Go pprof here)
``perNodeCertificate``       unset            refused when ``enabled`` (no certificate bootstrap)
============================ ================ ===============================================

Every top-level key of the file, these included, is also laid over the configuration each shim
sends (the daemon wins), as upstream does: a node-wide ``cniDir``, ``clusterNetwork`` or
``kubeconfig`` set here applies to every request.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

import attrs

from multus.errors import INVALID_CONFIG, CNIError

DEFAULT_CONFIG_FILE = "/etc/cni/net.d/multus.d/daemon-config.json"
DEFAULT_SOCKET_DIR = "/run/multus/"
DEFAULT_SHUTDOWN_GRACE = 10.0
DEFAULT_CNI_CONFIG_DIR = "/etc/cni/net.d"
DEFAULT_READINESS_TIMEOUT = 45.0
# keys that configure the generation and never reach the generated file
GENERATION_KEYS = ("cniConfigDir", "multusConfigFile", "multusAutoconfigDir", "multusMasterCNI",
                   "forceCNIVersion", "readinessindicatorfile", "readinessTimeout")
DEFAULT_CONNECTION_LIMIT = 32
DEFAULT_ALLOWED_UIDS = (0,)
DEFAULT_REQUEST_TIMEOUT = 30.0


class ConfigError(CNIError):
    """The daemon configuration cannot be used: CNI error 7 whose message names the key (the
    daemon exits 1 at start-up; anywhere else it is answered like any other CNI error)."""

    def __init__(self, msg: str) -> None:
        super().__init__(INVALID_CONFIG, msg)


@attrs.frozen
class DaemonConfig:
    socket_dir: str = DEFAULT_SOCKET_DIR
    log_file: str = ""
    log_level: str = ""
    log_to_stderr: bool = False
    log_options: Mapping[str, Any] = attrs.field(factory=dict)
    metrics_port: int | None = None
    connection_limit: int = DEFAULT_CONNECTION_LIMIT
    shutdown_grace: float = DEFAULT_SHUTDOWN_GRACE
    chroot_dir: str = ""
    cni_config_dir: str = DEFAULT_CNI_CONFIG_DIR
    multus_config_file: str = "auto"
    autoconfig_dir: str = ""
    master_cni: str = ""
    readiness_file: str = ""
    readiness_timeout: float = DEFAULT_READINESS_TIMEOUT
    cleanup_config_on_exit: bool = True
    """Remove ``00-multus.conf`` when the daemon stops (upstream's behaviour). False keeps it, so that during a
    rolling upgrade the runtime keeps calling the shim, which waits for the next daemon, instead of falling
    back to the primary network alone."""
    allowed_uids: tuple[int, ...] = DEFAULT_ALLOWED_UIDS
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False)
    """The whole file: laid over every request's configuration."""

    @property
    def generates(self) -> bool:
        """The daemon writes ``00-multus.conf`` from the primary configuration."""
        return self.multus_config_file == "auto" and bool(self.autoconfig_dir)

    @property
    def manages_config(self) -> bool:
        """The daemon writes ``<cniConfigDir>/00-multus.conf`` (generated or copied)."""
        return self.generates or self.multus_config_file != "auto"

    def overlay(self) -> dict[str, Any]:
        """What is laid over each request: with a generated configuration the readiness
        indicator is the config manager's business, so ``readinessindicatorfile`` is dropped."""
        out = dict(self.raw)
        if self.generates:
            out.pop("readinessindicatorfile", None)
        return out

    def logging_netconf(self) -> dict[str, Any]:
        """The logging keys as a multus netconf, for :func:`multus.config.logs.configure`."""
        out: dict[str, Any] = {"logFile": self.log_file, "logLevel": self.log_level,
                               "logToStderr": self.log_to_stderr}
        if self.log_options:
            out["logOptions"] = dict(self.log_options)
        return out


def _typed(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], what: str) -> Any:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) and kind is not bool:
        raise ConfigError(f"{key}: expected {what}, got bool {value!r}")
    if not isinstance(value, kind):
        raise ConfigError(f"{key}: expected {what}, got {type(value).__name__} {value!r}")
    return value


def parse(data: Mapping[str, Any]) -> DaemonConfig:
    """Validate the file's object (wrong types are errors; unknown keys are kept for the overlay)."""
    if not isinstance(data, Mapping):
        raise ConfigError("the daemon configuration must be a JSON object")
    socket_dir = _typed(data, "socketDir", str, "a string")
    if socket_dir is not None and not socket_dir.strip():
        raise ConfigError("socketDir: must not be empty")
    port = _typed(data, "metricsPort", int, "an integer")
    if port is not None and not 0 < port < 65536:
        raise ConfigError(f"metricsPort: {port} is not a TCP port")
    limit = _typed(data, "connectionLimit", int, "an integer")
    if limit is not None and limit <= 0:
        raise ConfigError(f"connectionLimit: must be greater than 0, got {limit}")
    grace = _typed(data, "shutdownGracePeriod", (int, float), "a number of seconds")
    if grace is not None and not (math.isfinite(grace) and grace >= 0):
        raise ConfigError(f"shutdownGracePeriod: must be a non-negative number of seconds, got {grace!r}")
    log_options = _typed(data, "logOptions", dict, "an object")
    strings = {key: _typed(data, key, str, "a string") or "" for key in (
        "cniConfigDir", "multusConfigFile", "multusAutoconfigDir", "multusMasterCNI",
        "readinessindicatorfile", "chrootDir", "cniVersion")}
    for key in ("forceCNIVersion", "overrideNetworkName"):
        _typed(data, key, bool, "a bool")
    cleanup = _typed(data, "cleanupConfigOnExit", bool, "a bool")
    if strings["chrootDir"] and not os.path.isabs(strings["chrootDir"]):
        raise ConfigError(f"chrootDir: must be an absolute path, got {strings['chrootDir']!r}")
    if strings["multusMasterCNI"] and "/" in strings["multusMasterCNI"]:
        raise ConfigError("multusMasterCNI: must be a file name in multusAutoconfigDir")
    config_file = strings["multusConfigFile"] or "auto"
    if config_file == "auto" and "multusAutoconfigDir" in data and not strings["multusAutoconfigDir"]:
        raise ConfigError("multusAutoconfigDir: must not be empty")
    if config_file == "auto" and strings["multusAutoconfigDir"] and not strings["cniVersion"]:
        raise ConfigError("cniVersion: required to generate the multus configuration")
    if _typed(data, "enablePprof", bool, "a bool"):
        raise ConfigError("enablePprof: not supported (Go's pprof has no equivalent in this daemon; "
                          "profile it with a sampling profiler such as py-spy)")
    cert = _typed(data, "perNodeCertificate", dict, "an object")
    if cert and cert.get("enabled"):
        raise ConfigError("perNodeCertificate: not supported (the daemon does not bootstrap client "
                          "certificates; set kubeconfig to a kubeconfig with the node's credentials)")
    rtimeout = _typed(data, "readinessTimeout", (int, float), "a number of seconds")
    if rtimeout is not None and not (math.isfinite(rtimeout) and rtimeout >= 0):
        raise ConfigError(f"readinessTimeout: must be a non-negative number of seconds, got {rtimeout!r}")
    uids = _typed(data, "allowedUIDs", list, "an array of user IDs")
    if uids is not None and not all(isinstance(u, int) and not isinstance(u, bool) and u >= 0 for u in uids):
        raise ConfigError(f"allowedUIDs: expected an array of non-negative integers, got {uids!r}")
    timeout = _typed(data, "requestTimeout", (int, float), "a number of seconds")
    if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
        raise ConfigError(f"requestTimeout: must be a positive number of seconds, got {timeout!r}")
    return DaemonConfig(
        socket_dir=socket_dir if socket_dir is not None else DEFAULT_SOCKET_DIR,
        log_file=_typed(data, "logFile", str, "a string") or "",
        log_level=_typed(data, "logLevel", str, "a string") or "",
        log_to_stderr=bool(_typed(data, "logToStderr", bool, "a bool")),
        log_options=log_options or {},
        metrics_port=port,
        connection_limit=limit if limit is not None else DEFAULT_CONNECTION_LIMIT,
        shutdown_grace=float(grace) if grace is not None else DEFAULT_SHUTDOWN_GRACE,
        chroot_dir=strings["chrootDir"],
        cni_config_dir=strings["cniConfigDir"] or DEFAULT_CNI_CONFIG_DIR,
        multus_config_file=config_file,
        autoconfig_dir=strings["multusAutoconfigDir"],
        master_cni=strings["multusMasterCNI"],
        readiness_file=strings["readinessindicatorfile"],
        readiness_timeout=float(rtimeout) if rtimeout is not None else DEFAULT_READINESS_TIMEOUT,
        cleanup_config_on_exit=cleanup if cleanup is not None else True,
        allowed_uids=tuple(uids) if uids is not None else DEFAULT_ALLOWED_UIDS,
        request_timeout=float(timeout) if timeout is not None else DEFAULT_REQUEST_TIMEOUT,
        raw=dict(data),
    )


def load(path: str) -> DaemonConfig:
    from multus.config.generate import read_json

    return parse(read_json(path, "the daemon configuration", ConfigError))
