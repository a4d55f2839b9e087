"""``multusctl explain``: the ADD plan of a pod, computed by the engine itself, executed never.

The request goes through the same facade an ADD uses (``Plugins.source_pod`` then
``Plugins.source_delegates``: the core's plan, the Kubernetes backend's NAD rules, the conf-dir
backend's files, device IDs), so what it prints is what an ADD would do. Nothing is invoked
and nothing is written: the Kubernetes backend is given a client whose writes (events,
network-status) are recorded instead of sent. Offline, that client answers reads from the pod
and NAD manifests given on the command line; live, it reads from the API server.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from multus.ctl.main import EXIT_FAILED, EXIT_OK, EXIT_REJECTED
from multus.ctl.output import Output
from multus.plugin.hookspec import hookimpl

if TYPE_CHECKING:
    from multus.engine.models import Delegate, PodInfo

OFFLINE_KUBECONFIG = "<offline: manifests from the command line>"
NODE_CONFIG_NAMES = ("00-multus.conf", "00-multus.conflist")


class ExplainError(Exception):
    """An input cannot be used (exit 1)."""


def load_documents(path: str) -> list[dict[str, Any]]:
    import yaml  # type: ignore[import-untyped]

    try:
        with open(path, encoding="utf-8") as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
    except OSError as e:
        raise ExplainError(f"cannot read {path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise ExplainError(f"{path}: not YAML/JSON: {e}") from None
    out: list[dict[str, Any]] = []
    for d in docs:
        if not isinstance(d, dict):
            raise ExplainError(f"{path}: a document is not an object")
        if d.get("kind") == "List":
            out += [i for i in d.get("items") or [] if isinstance(i, dict)]
        else:
            out.append(d)
    return out


def load_config(config_file: str | None, cni_conf_dir: str) -> tuple[str, dict[str, Any]]:
    """The multus configuration: the given file or the node's 00-multus.conf[list]; a conflist
    means its first plugin (how the runtime calls multus)."""
    candidates = [config_file] if config_file else [os.path.join(cni_conf_dir, n) for n in NODE_CONFIG_NAMES]
    for path in candidates:
        if not os.path.exists(path):
            continue
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError) as e:
            raise ExplainError(f"cannot read the multus config {path}: {e}") from None
        if not isinstance(data, dict):
            raise ExplainError(f"{path}: the multus config must be a JSON object")
        if isinstance(data.get("plugins"), list) and not data.get("type"):
            first = data["plugins"][0] if data["plugins"] else {}
            if not isinstance(first, dict):
                raise ExplainError(f"{path}: plugins[0] must be an object")
            data = {"cniVersion": data.get("cniVersion", ""), "name": data.get("name", ""), **first}
        return path, data
    raise ExplainError(f"no multus config: give --config, or none of {', '.join(candidates)} exists")


def _client_class() -> type:
    """A Kubernetes backend client that reads from manifests (offline) or from the API (live),
    and records writes instead of making them."""
    KubeClient = _k8s().KubeClient

    class ExplainClient(KubeClient):  # type: ignore[misc,valid-type]
        def __init__(self, kubeconfig: str, pods: Iterable[dict[str, Any]] | None,
                     nads: Iterable[dict[str, Any]] | None) -> None:
            super().__init__("" if pods is not None else kubeconfig, {})
            self.offline = pods is not None
            self.pods = {_key(p): p for p in pods or ()}
            self.nads = {_key(n): n for n in nads or ()}
            self.writes: list[str] = []

        def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
            if self.offline:
                return self.pods.get((namespace, name))
            return super().get_pod(namespace, name)  # type: ignore[no-any-return]

        def get_nad(self, namespace: str, name: str) -> dict[str, Any] | None:
            if self.offline:
                return self.nads.get((namespace, name))
            return super().get_nad(namespace, name)  # type: ignore[no-any-return]

        def patch_pod_status_annotation(self, namespace: str, name: str, key: str, value: str,
                                        uid: str = "") -> bool:
            self.writes.append(f"would set {key} on pod {namespace}/{name}")
            return True

        def create_event(self, involved: Mapping[str, str], event_type: str, reason: str, message: str,
                         host: str = "") -> None:
            self.writes.append(f"would record a {event_type} event {reason}: {message}")

    return ExplainClient


def _k8s() -> Any:
    """The Kubernetes backend's client module (a plugin: the core does not import it statically)."""
    import importlib

    return importlib.import_module("multus_k8s.client")


def _key(obj: Mapping[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or "default"), str(meta.get("name") or "")


def plan(conf: dict[str, Any], namespace: str, name: str, uid: str, *, client: Any, ifname: str = "eth0",
         container_id: str = "explain", resource_map: dict[str, list[str]] | None = None,
         ) -> tuple[PodInfo | None, list[Delegate]]:
    """The pod and its delegates, as ADD would compute them (raises CNIError when rejected)."""
    from multus.cni.request import CniRequest
    from multus.config import netconf
    from multus.engine.models import RequestContext
    from multus.plugin.manager import Plugins

    conf = dict(conf)
    conf["kubeconfig"] = client.kubeconfig or OFFLINE_KUBECONFIG
    args = (("IgnoreUnknown", "1"), ("K8S_POD_NAMESPACE", namespace), ("K8S_POD_NAME", name),
            ("K8S_POD_INFRA_CONTAINER_ID", container_id), ("K8S_POD_UID", uid))
    req = CniRequest(command="ADD", container_id=container_id, netns=f"/var/run/netns/{container_id}",
                     ifname=ifname, args=args, path=("/opt/cni/bin",), config=conf, env={})
    plugins = Plugins(enabled=netconf.load(conf).plugins, env={})
    plugins.state[_k8s().STATE_PREFIX + conf["kubeconfig"]] = client
    if resource_map is not None:
        plugins.register(_ResourceMap(resource_map), name="multusctl-explain-resource-map")
    ctx = RequestContext(request=req, conf=netconf.load(conf), plugins=plugins)
    netconf.validate(ctx.conf)
    ctx.pod = plugins.source_pod(ctx)
    return ctx.pod, plugins.source_delegates(ctx)


class _ResourceMap:
    """The devices allocated to the pod, given with --resource-map (instead of the kubelet's)."""

    def __init__(self, resources: dict[str, list[str]]) -> None:
        self.resources = resources

    @hookimpl(tryfirst=True)
    def multus_source_resource_map(self, ctx: Any) -> dict[str, list[str]]:
        return self.resources


def describe(d: Delegate, index: int) -> dict[str, Any]:
    return {
        "index": index,
        "interface": d.ifname,
        "network": d.name,
        "cniName": d.cni_name,
        "type": d.plugin_type,
        "clusterNetwork": d.master,
        "deviceID": d.device_id or None,
        "resourceName": d.resource_name or None,
        "cniArgs": dict(d.cni_args),
        "runtimeConfig": dict(d.runtime_config),
        "dropDefaultRoute": {"ipv4": d.filter_v4_gateway, "ipv6": d.filter_v6_gateway},
        "defaultRoute": list(d.default_route) if d.default_route is not None else None,
        "config": d.config,
    }


def command(pod_ref: str | None, pod_file: str | None, config_file: str | None, cni_conf_dir: str,
            nad_files: tuple[str, ...], kubeconfig: str, resource_map: str | None, ifname: str,
            container_id: str, fmt: str) -> int:
    from multus.errors import CNIError

    out = Output(fmt)
    try:
        if bool(pod_ref) == bool(pod_file):
            raise ExplainError("give either --pod NS/NAME (live) or --pod-file (offline)")
        config_path, conf = load_config(config_file, cni_conf_dir)
        rmap = _load_resource_map(resource_map) if resource_map else None
        cls = _client_class()
        if pod_file:
            pods = [d for d in load_documents(pod_file) if d.get("kind", "Pod") == "Pod"]
            if len(pods) != 1:
                raise ExplainError(f"{pod_file}: expected one Pod, found {len(pods)}")
            pod_obj = pods[0]
            pod_obj.setdefault("metadata", {}).setdefault("namespace", "default")
            nads = [d for f in nad_files for d in load_documents(f)
                    if d.get("kind") == "NetworkAttachmentDefinition"]
            client = cls("", [pod_obj], nads)
            namespace, name = _key(pod_obj)
            uid = str(pod_obj["metadata"].get("uid") or "")
            source = f"offline: {pod_file}" + (f" + {len(nads)} NAD(s)" if nads else "")
        else:
            if pod_ref is None:
                raise ExplainError("give --pod NAMESPACE/NAME or a pod manifest")
            namespace, _, name = pod_ref.partition("/")
            if not namespace or not name:
                raise ExplainError(f"--pod: expected NAMESPACE/NAME, got {pod_ref!r}")
            kc = kubeconfig or str(conf.get("kubeconfig") or "")
            if not kc:
                raise ExplainError("--pod needs a kubeconfig (--kubeconfig, or 'kubeconfig' in the config)")
            client = cls(kc, None, None)
            live = client.get_pod(namespace, name)
            if live is None:
                raise ExplainError(f"pod {namespace}/{name} not found ({client.source})")
            uid = str((live.get("metadata") or {}).get("uid") or "")
            source = f"live: {client.source}"
        try:
            pod, delegates = plan(conf, namespace, name, uid, client=client, ifname=ifname,
                                  container_id=container_id, resource_map=rmap)
        except CNIError as e:
            return _rejected(out, namespace, name, config_path, source, e, client.writes)
    except (ExplainError, CNIError) as e:
        msg = e.msg if isinstance(e, CNIError) else str(e)
        if fmt == "json":
            out.json({"error": msg})
        else:
            import click

            click.echo(f"multusctl: {msg}", err=True)
        return EXIT_FAILED
    report = {
        "pod": f"{namespace}/{name}", "config": config_path, "source": source,
        "annotations": {k: v for k, v in (pod.annotations if pod else {}).items()
                        if k.startswith(("k8s.v1.cni.cncf.io/", "v1.multus-cni.io/"))},
        "networks": [describe(d, i) for i, d in enumerate(delegates)],
        "sideEffects": client.writes,
    }
    _print(out, report)
    return EXIT_OK


def _load_resource_map(path: str) -> dict[str, list[str]]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise ExplainError(f"--resource-map: cannot read {path}: {e}") from None
    if not isinstance(data, dict) or not all(isinstance(v, list) and all(isinstance(i, str) for i in v)
                                             for v in data.values()):
        raise ExplainError('--resource-map: expected {"<resourceName>": ["<deviceID>", ...]}')
    return data


def _rejected(out: Output, namespace: str, name: str, config_path: str, source: str, e: Any,
              writes: list[str]) -> int:
    report = {"pod": f"{namespace}/{name}", "config": config_path, "source": source, "rejected": True,
              "code": e.code, "reason": e.msg, "details": e.details or None, "sideEffects": writes}
    if out.fmt == "json":
        out.json(report)
    else:
        out.heading(f"pod {namespace}/{name}: ADD would fail")
        out.fields([("config", config_path), ("source", source), ("CNI error", e.code)])
        out.line(f"reason: {e.msg}", style="bold red")
        if e.details:
            out.line(f"details: {e.details}")
        for w in writes:
            out.line(f"  {w}")
    return EXIT_REJECTED


def _print(out: Output, report: dict[str, Any]) -> None:
    if out.fmt == "json":
        out.json(report)
        return
    out.heading(f"pod {report['pod']}: {len(report['networks'])} network(s), in attach order")
    out.fields([("config", report["config"]), ("source", report["source"])])
    for k, v in report["annotations"].items():
        out.line(f"annotation {k}: {v}")
    out.table(["#", "interface", "network", "type", "deviceID", "runtimeConfig"],
              [[n["index"], n["interface"] + (" (cluster network)" if n["clusterNetwork"] else ""),
                n["network"], n["type"], n["deviceID"], n["runtimeConfig"] or None] for n in report["networks"]])
    for n in report["networks"]:
        out.heading(f"{n['index']}: {n['interface']} <- {n['network']}")
        out.fields([("CNI_ARGS", ";".join(f"{k}={v}" for k, v in n["cniArgs"].items())),
                    ("drop default route", n["dropDefaultRoute"])])
        out.block(json.dumps(n["config"], indent=2))
    for w in report["sideEffects"]:
        out.line(w)
