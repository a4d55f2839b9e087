"""``multus_source_network`` for the ``example`` namespace.

Networks are read from the JSON file named by the multus configuration key
``exampleNetworksFile``: an object mapping a network name to its CNI configuration (a conf with
``type``, or a conflist with ``plugins``)::

    {
      "foo": {"cniVersion": "1.0.0", "name": "foo-net", "type": "macvlan", "master": "eth1"},
      "example-bar": {"cniVersion": "1.0.0", "name": "bar", "plugins": [{"type": "bridge"}]}
    }

This source owns a reference when its namespace is ``example`` or its name starts with
``example-``. It answers with the tri-state every lookup hook uses:

* found: a :class:`~multus.NetworkConfig`;
* unknown: ``None``, "not mine, ask the next source" (a reference it does not own, or no
  ``exampleNetworksFile`` in the configuration);
* reject: :class:`~multus.CNIError`, the request fails (a reference it owns that the file
  does not define, or a file that cannot be read).
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Mapping
from typing import Any

from multus import INVALID_CONFIG, IO_FAILURE, CNIError, NetworkConfig, NetworkRef, RequestContext, hookimpl

# A child of the "multus" logger: multus's logLevel, logFile and logToStderr apply to it.
log = logging.getLogger("multus.example_static")

CONFIG_KEY = "exampleNetworksFile"
NAMESPACE = "example"
PREFIX = "example-"
_CACHE_KEY = "example-static:networks"


def owns(ref: NetworkRef) -> bool:
    return ref.namespace == NAMESPACE or ref.name.startswith(PREFIX)


def networks(ctx: RequestContext) -> Mapping[str, Any] | None:
    """The file's networks, read at most once per request (``ctx.cache`` lives for one request;
    ``ctx.plugins.state`` would keep them for the daemon's lifetime, and miss edits)."""
    path = ctx.conf.raw.get(CONFIG_KEY)
    if path is None:
        return None
    if not isinstance(path, str) or not path:
        raise CNIError(INVALID_CONFIG, f"{CONFIG_KEY}: must be a file name, got {path!r}")
    if _CACHE_KEY not in ctx.cache:
        try:
            with open(path, "rb") as f:
                data = json.loads(f.read())
        except OSError as e:
            raise CNIError(IO_FAILURE, f"{CONFIG_KEY}: cannot read {path}: {e.strerror}") from None
        except ValueError as e:
            raise CNIError(INVALID_CONFIG, f"{CONFIG_KEY}: {path} is not valid JSON: {e}") from None
        if not isinstance(data, dict):
            raise CNIError(INVALID_CONFIG, f"{CONFIG_KEY}: {path} must hold a JSON object of networks")
        ctx.cache[_CACHE_KEY] = data
    networks: Mapping[str, Any] = ctx.cache[_CACHE_KEY]
    return networks


# tryfirst: the built-in local source treats a network named by the pod annotation that is not
# in confDir as an error, so a source that owns some references must be asked before it.
@hookimpl(tryfirst=True)
def multus_source_network(ctx: RequestContext, ref: NetworkRef) -> NetworkConfig | None:
    if not owns(ref):
        return None
    nets = networks(ctx)
    if nets is None:
        log.debug("%s is not set: not resolving %s/%s", CONFIG_KEY, ref.namespace, ref.name)
        return None
    path = ctx.conf.raw[CONFIG_KEY]
    config = nets.get(ref.name)
    if config is None:
        raise CNIError(INVALID_CONFIG, f"example-static: network {ref.name!r} (namespace {ref.namespace!r}, "
                       f"{ref.purpose}) is not defined in {path}")
    if not isinstance(config, dict):
        raise CNIError(INVALID_CONFIG, f"example-static: network {ref.name!r} in {path} must be a JSON object")
    name = f"{ref.namespace}/{ref.name}" if ref.namespace else ref.name
    log.info("example-static: %s (%s) resolved from %s", name, ref.purpose, path)
    # A copy: the engine may adjust its delegate's config, the cached file must stay as read.
    return NetworkConfig(config=copy.deepcopy(config), name=name, origin=f"{path}#{ref.name}")
