"""Request contexts for unit tests of hooks: no root, no network namespace, no binary run."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multus import PodInfo, RequestContext

DEFAULT_ARGS = "IgnoreUnknown=true;K8S_POD_NAMESPACE=default;K8S_POD_NAME=pod-a;K8S_POD_UID=uid-a"


def base_conf(root: str) -> dict[str, Any]:
    """A minimal multus configuration whose directories are under ``root``."""
    return {"cniVersion": "1.0.0", "name": "multus-cni-network", "type": "multus",
            "cniDir": os.path.join(root, "cni"), "confDir": os.path.join(root, "net.d"),
            "binDir": os.path.join(root, "bin"),
            "delegates": [{"cniVersion": "1.0.0", "name": "cluster", "type": "bridge"}]}


def make_context(root: str, command: str = "ADD", conf: dict[str, Any] | None = None,
                 plugins: Iterable[object] = (), pod: PodInfo | None = None, args: str = DEFAULT_ARGS,
                 env: dict[str, str] | None = None, enabled: Iterable[str] | None = None) -> RequestContext:
    """The context of one request, as the engine builds it, with ``plugins`` registered on a
    :class:`~multus.Plugins` that loads no entry point; with ``enabled`` (entry-point names,
    possibly none), a ``Plugins`` that loads the installed backends as the executable does, with
    those third-party plugins enabled."""
    from multus import RequestContext
    from multus.cni.request import from_environ
    from multus.config import netconf
    from multus.plugin.manager import Plugins

    config = base_conf(root) | (conf or {})
    cni = {"CNI_COMMAND": command, "CNI_CONTAINERID": "test-container", "CNI_NETNS": os.path.join(root, "netns"),
           "CNI_IFNAME": "eth0", "CNI_ARGS": args, "CNI_PATH": os.path.join(root, "bin")} | (env or {})
    req = from_environ(cni, json.dumps(config).encode())
    pm = Plugins(env={}, entry_points=False) if enabled is None else Plugins(enabled=enabled, env={})
    for plugin in plugins:
        pm.register(plugin)
    return RequestContext(request=req, conf=netconf.load(req.config), plugins=pm, pod=pod)
