"""What each delegate receives besides its config: CNI_ARGS and capability arguments (§8).

CNI_ARGS start with upstream's five Kubernetes keys, then every pair of the runtime's CNI_ARGS
(a key whose value is still empty is filled, any other pair is appended, duplicates included, as
upstream does), then the legacy ``MAC=``/``IP=`` of the selection. Capability arguments start from
the runtimeConfig the runtime gave multus; non-master delegates get their selection's requests on
top. Unlike upstream we keep every runtimeConfig key: libcni only forwards what a plugin declares.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from multus import gocompat as go
from multus.cni import args as cni_args
from multus.cni.request import CniRequest
from multus.errors import INVALID_ENV, CNIError

K8S_KEYS = ("K8S_POD_NAMESPACE", "K8S_POD_NAME", "K8S_POD_INFRA_CONTAINER_ID", "K8S_POD_UID")
_KNOWN = frozenset(("IgnoreUnknown", "IP", *K8S_KEYS))


def validate_k8s_args(req: CniRequest) -> None:
    """upstream's ``types.LoadArgs`` into K8sArgs: unknown keys fail unless IgnoreUnknown."""
    ignore = req.arg("IgnoreUnknown").lower() in ("1", "true")
    unknown = [k for k, _ in req.args if k not in _KNOWN]
    if unknown and not ignore:
        raise CNIError(INVALID_ENV, f"CNI_ARGS: unknown args {unknown}")
    ip = req.arg("IP")
    if ip and go.parse_ip(ip) is None:
        raise CNIError(INVALID_ENV, f"CNI_ARGS: error parsing value of \"IP\": invalid IP address {ip!r}")


def delegate_args(req: CniRequest, mac: str = "", ips: tuple[str, ...] = ()) -> cni_args.Pairs:
    out: list[list[str]] = [["IgnoreUnknown", "true"]] + [[k, req.arg(k)] for k in K8S_KEYS]
    extra: list[tuple[str, str]] = list(req.args)
    if mac or ips:
        extra.append(("IgnoreUnknown", "true"))
        if mac:
            extra.append(("MAC", mac))
        if ips:
            extra.append(("IP", ",".join(ips)))
    for key, value in extra:
        for pair in out:
            if pair[0] == key and pair[1] == "" and value != "":
                pair[1] = value
                break
        else:
            out.append([key, value])
    return tuple((k, v) for k, v in out)


def capability_args(runtime_config: Mapping[str, Any], master: bool, selection: Any,
                    device_id: str = "", device_info_file: str = "") -> dict[str, Any]:
    rc = {k: v for k, v in runtime_config.items() if v not in (None, "", [], {})}
    if not master and selection is not None:
        if selection.port_mappings is not None:
            rc["portMappings"] = list(selection.port_mappings)
        if selection.bandwidth is not None:
            rc["bandwidth"] = selection.bandwidth
        if selection.ips:
            rc["ips"] = list(selection.ips)
        if selection.mac:
            rc["mac"] = selection.mac
        if selection.infiniband_guid:
            rc["infinibandGUID"] = selection.infiniband_guid
    if not master and device_id:
        rc["deviceID"] = device_id
        if device_info_file:
            rc["CNIDeviceInfoFile"] = device_info_file
    return rc
