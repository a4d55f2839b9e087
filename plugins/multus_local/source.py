"""Local sources: networks from files, and pod annotations handed over by the runtime.

Works without any Kubernetes API, as a drop-in for upstream's thin plugin, and serves as the
fallback behind the Kubernetes backend (a NetworkAttachmentDefinition with an empty spec names a
file in ``confDir``; a ``clusterNetwork`` that is no NAD is a file, a directory or a CNI name).

Both hooks are ``trylast``: any other source (the Kubernetes backend, a third-party plugin) is
asked first, and this one, which rejects an unknown annotation network, has the last word.

A network *name* is only ever compared with the ``name`` inside the files of ``confDir``; it is
never joined into a path, so ``../x`` cannot read outside ``confDir``.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from multus import (
    ANNOTATION,
    AUXILIARY,
    CLUSTER,
    DEFAULT,
    DEFAULT_NETWORK,
    INVALID_CONFIG,
    IO_FAILURE,
    CNIError,
    NetworkConfig,
    NetworkRef,
    PodInfo,
    RequestContext,
    hookimpl,
)

POD_ANNOTATIONS_CAPABILITY = "io.kubernetes.cri.pod-annotations"
CONF_EXTENSIONS = (".conf", ".json", ".conflist")
_LIST_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


@hookimpl(trylast=True)
def multus_source_pod(ctx: RequestContext) -> PodInfo | None:
    """The pod as the runtime describes it: CNI_ARGS plus the annotations containerd passes to a
    plugin that declares the ``io.kubernetes.cri.pod-annotations`` capability."""
    req = ctx.request
    rc = req.config.get("runtimeConfig")
    annotations: dict[str, str] = {}
    source = "args"
    if isinstance(rc, dict) and POD_ANNOTATIONS_CAPABILITY in rc:
        raw = rc[POD_ANNOTATIONS_CAPABILITY]
        if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
            raise CNIError(INVALID_CONFIG, f"runtimeConfig.{POD_ANNOTATIONS_CAPABILITY}: must be an object of strings")
        annotations = dict(raw)
        source = "runtime"
    return PodInfo(namespace=req.arg("K8S_POD_NAMESPACE"), name=req.arg("K8S_POD_NAME"),
                   uid=req.arg("K8S_POD_UID"), annotations=annotations, source=source)


@hookimpl(trylast=True)
def multus_source_network(ctx: RequestContext, ref: NetworkRef) -> NetworkConfig | None:
    conf = ctx.conf
    if ref.purpose == AUXILIARY:
        return auxiliary_chain(conf.cluster_network, ref.name, conf.cni_version)
    if ref.purpose in (CLUSTER, DEFAULT) and "/" in ref.name:
        if not os.path.exists(ref.name):
            key = "clusterNetwork" if ref.purpose == CLUSTER else "defaultNetworks"
            raise CNIError(INVALID_CONFIG, f"{key} {ref.name}: file not found")
        return from_path(ref.name)
    if "/" in ref.name or ref.name in (".", "..") or not ref.name:
        raise CNIError(INVALID_CONFIG, f"network name {ref.name!r}: must not be a path")
    found = by_name(conf.conf_dir, ref.name, strict=ref.purpose in (ANNOTATION, DEFAULT_NETWORK))
    if found is None:
        return None
    if ref.purpose in (ANNOTATION, DEFAULT_NETWORK) and ref.namespace:
        # the "NAD with an empty spec" rule: reported under the NAD's name, as upstream does
        return NetworkConfig(config=found.config, name=f"{ref.namespace}/{ref.name}", origin=found.origin)
    return found


def _read_json(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read())
    except OSError as e:
        raise CNIError(IO_FAILURE, f"error reading CNI config file {path}: {e.strerror}") from None
    except ValueError as e:
        raise CNIError(INVALID_CONFIG, f"error parsing CNI config file {path}: {e}") from None
    if not isinstance(data, dict):
        raise CNIError(INVALID_CONFIG, f"error parsing CNI config file {path}: not a JSON object")
    return data


def conf_files(directory: str, extensions: tuple[str, ...] = CONF_EXTENSIONS) -> list[str]:
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    return [os.path.join(directory, n) for n in names
            if n.endswith(extensions) and os.path.isfile(os.path.join(directory, n))]


def by_name(conf_dir: str, name: str, strict: bool) -> NetworkConfig | None:
    """The file of ``conf_dir`` whose ``name`` is ``name`` (conflist whole; conf needs ``type``)."""
    files = conf_files(conf_dir)
    if not files:
        if strict:
            raise CNIError(INVALID_CONFIG, f"No networks found in {conf_dir} (looking for network {name!r})")
        return None
    for path in files:
        try:
            data = _read_json(path)
        except CNIError:
            continue
        if data.get("name") != name:
            continue
        if path.endswith(".conflist"):
            return NetworkConfig(config=data, name=name, origin=path)
        if not data.get("type"):
            raise CNIError(INVALID_CONFIG, f"error loading CNI config file {path}: no 'type'; "
                           "perhaps this is a .conflist?")
        return NetworkConfig(config=data, name=name, origin=path)
    if strict:
        raise CNIError(INVALID_CONFIG, f"no network available in the name {name} in cni dir {conf_dir}")
    return None


def from_path(path: str) -> NetworkConfig | None:
    """``clusterNetwork``/``defaultNetworks`` given as a directory or a file (§5)."""
    if os.path.isdir(path):
        files = conf_files(path)
        if not any(f.endswith((".conf", ".conflist")) for f in files):
            return None
        return from_path(files[0])
    if not os.path.isfile(path):
        return None
    data = _read_json(path)
    if path.endswith(".conflist"):
        data = dict(data)
        list_name = data.get("name")
        if isinstance(list_name, str) and _LIST_NAME_RE.match(list_name):
            extra = [_read_json(p) for p in conf_files(os.path.join(os.path.dirname(path), list_name),
                                                       (".conf", ".json"))]
            if extra:
                plugins = data.get("plugins")
                data["plugins"] = [*(plugins if isinstance(plugins, list) else []), *extra]
        return NetworkConfig(config=data, name=str(data.get("name", "")), origin=path)
    if not data.get("type"):
        raise CNIError(INVALID_CONFIG, f"error loading CNI config file {path}: no 'type'; "
                       "perhaps this is supposed to be a .conflist?")
    return NetworkConfig(config=data, name=str(data.get("name", "")), origin=path)


def auxiliary_chain(cluster_network: str, chain: str, cni_version: str) -> NetworkConfig | None:
    """``auxiliaryCNIChainName`` (§16): passthru + the plugins of ``<dir of clusterNetwork>/<chain>/``."""
    if not _LIST_NAME_RE.match(chain):
        raise CNIError(INVALID_CONFIG, f"auxiliaryCNIChainName: invalid name {chain!r}")
    base = cluster_network if os.path.isdir(cluster_network) else os.path.dirname(cluster_network)
    plugins = [_read_json(p) for p in conf_files(os.path.join(base, chain), (".conf", ".json"))]
    if not plugins:
        return None
    config = {"cniVersion": cni_version, "name": chain,
              "plugins": [{"type": "passthru", "name": "passthru-cni"}, *plugins]}
    return NetworkConfig(config=config, name=chain, origin=os.path.join(base, chain))
