"""A CNI request: the ``CNI_*`` environment and the stdin config, validated per verb.

The rules are those of the CNI specification 1.1.0 and of libcni's ``skel`` package, whose error
texts runtimes and operators already know.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from multus.cni import args as cni_args
from multus.cni import names, version
from multus.errors import DECODE_FAILURE, INCOMPATIBLE_VERSION, INVALID_CONFIG, INVALID_ENV, CNIError
from multus.gocompat import loads, quote

COMMANDS = ("ADD", "DEL", "CHECK", "VERSION", "GC", "STATUS")

# Which variables each verb needs (libcni skel's reqForCmd table).
_REQUIRED: dict[str, tuple[str, ...]] = {
    "ADD": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"),
    "CHECK": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"),
    "DEL": ("CNI_CONTAINERID", "CNI_IFNAME", "CNI_PATH"),
    "GC": ("CNI_PATH",),
    "STATUS": ("CNI_PATH",),
    "VERSION": (),
}


@attrs.frozen
class CniRequest:
    """One invocation of the plugin. ``config`` is the raw stdin object (unknown keys kept)."""

    command: str
    container_id: str = ""
    netns: str = ""
    ifname: str = ""
    args: cni_args.Pairs = ()
    path: tuple[str, ...] = ()
    stdin: bytes = b""
    config: Mapping[str, Any] = attrs.field(factory=dict)
    env: Mapping[str, str] = attrs.field(factory=dict, repr=False)

    @property
    def cni_version(self) -> str:
        v = self.config.get("cniVersion", "")
        return v if isinstance(v, str) else ""

    def arg(self, key: str, default: str = "") -> str:
        return cni_args.lookup(self.args, key, default)


def validate_interface_name(name: str, field: str = "CNI_IFNAME", code: int = INVALID_ENV) -> None:
    """libcni's ``utils.ValidateInterfaceName`` (:func:`multus.cni.names.interface_name_problem`),
    the message naming ``field``."""
    problem = names.interface_name_problem(name)
    if problem == names.IFNAME_TOO_LONG:
        raise CNIError(code, f"{field}: {problem}: {quote(name)} (at most {names.MAX_IFNAME_BYTES} bytes)")
    if problem == names.IFNAME_EMPTY:
        raise CNIError(code, f"{field}: {problem}")
    if problem:
        raise CNIError(code, f"{field}: {problem}: {quote(name)}")


def decode_config(stdin: bytes) -> dict[str, Any]:
    if not stdin.strip():
        raise CNIError(DECODE_FAILURE, "stdin: the network configuration is empty")
    try:
        conf = loads(stdin)
    except (ValueError, UnicodeDecodeError) as e:
        raise CNIError(DECODE_FAILURE, f"stdin: error unmarshalling network config: {e}") from None
    if not isinstance(conf, dict):
        raise CNIError(DECODE_FAILURE, f"stdin: the network configuration must be a JSON object, "
                       f"not {type(conf).__name__}")
    cv = conf.get("cniVersion", "")
    if not isinstance(cv, str):
        raise CNIError(DECODE_FAILURE, "cniVersion: must be a string")
    return conf


def from_environ(env: Mapping[str, str], stdin: bytes) -> CniRequest:
    """Validate the environment and stdin for ``CNI_COMMAND`` and build the request."""
    command = env.get("CNI_COMMAND", "")
    if command == "":
        raise CNIError(INVALID_ENV, "required env variables [CNI_COMMAND] missing")
    if command not in COMMANDS:
        raise CNIError(INVALID_ENV, f"unknown CNI_COMMAND: {command}")
    missing = [v for v in _REQUIRED[command] if env.get(v, "") == ""]
    if missing:
        raise CNIError(INVALID_ENV, f"required env variables [{','.join(missing)}] missing")

    if command == "VERSION":
        return CniRequest(command=command, stdin=stdin, env=env)

    container_id = env.get("CNI_CONTAINERID", "")
    if container_id and not names.valid_name(container_id):
        raise CNIError(INVALID_ENV, f"CNI_CONTAINERID: invalid characters in {container_id!r}")
    ifname = env.get("CNI_IFNAME", "")
    if command in ("ADD", "CHECK", "DEL"):
        validate_interface_name(ifname)
    pairs = cni_args.parse(env.get("CNI_ARGS", ""))
    path = tuple(p for p in env.get("CNI_PATH", "").split(":") if p)

    conf = decode_config(stdin)
    cv = version.check_supported(conf.get("cniVersion", ""))
    name = conf.get("name", "")
    if not isinstance(name, str):
        raise CNIError(DECODE_FAILURE, "name: must be a string")
    if name == "":
        raise CNIError(INVALID_CONFIG, "name: missing network name")
    if not names.valid_name(name):
        raise CNIError(INVALID_CONFIG, f"name: invalid characters found in network name {name!r}")
    if command == "CHECK" and not version.at_least(cv, "0.4.0"):
        raise CNIError(INCOMPATIBLE_VERSION, f"config version does not allow CHECK (cniVersion {cv})")
    if command in ("GC", "STATUS") and not version.at_least(cv, "1.1.0"):
        raise CNIError(INCOMPATIBLE_VERSION, f"config version does not allow {command} (cniVersion {cv})")

    return CniRequest(command=command, container_id=container_id, netns=env.get("CNI_NETNS", ""),
                      ifname=ifname, args=pairs, path=path, stdin=stdin, config=conf, env=env)
