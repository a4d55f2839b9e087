"""Record the delegate calls multus makes, in-process (a pluggy wrapper) or across processes
(a recording CNI plugin executable)."""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Generator
from typing import Any

import attrs

from multus import Delegate, RequestContext
from multus.plugin.hookspec import hookimpl


@attrs.frozen
class DelegateCall:
    command: str
    name: str
    ifname: str
    config: dict[str, Any]
    cni_args: tuple[tuple[str, str], ...]
    runtime_config: dict[str, Any]
    error: str | None


class DelegateRecorder:
    """Register on a :class:`~multus.plugin.manager.Plugins`; ``calls`` lists every delegate
    invocation in order, with its outcome. It only observes: the real delegate still runs."""

    def __init__(self) -> None:
        self.calls: list[DelegateCall] = []

    @hookimpl(wrapper=True)
    def multus_delegate_invoke(self, ctx: RequestContext, delegate: Delegate,
                               command: str) -> Generator[None, Any, Any]:
        error = None
        try:
            return (yield)
        except Exception as e:
            error = str(e)
            raise
        finally:
            self.calls.append(DelegateCall(command, delegate.name, delegate.ifname, dict(delegate.config),
                                           tuple(delegate.cni_args), dict(delegate.runtime_config), error))

    def commands(self) -> list[tuple[str, str]]:
        return [(c.command, c.ifname) for c in self.calls]


RECORDING_PLUGIN = '''#!{python}
"""A CNI plugin that records its invocation and answers like a simple interface plugin."""
import json, os, sys, time
log = {log!r}
stdin = sys.stdin.read()
env = {{k: v for k, v in os.environ.items() if k.startswith("CNI_")}}
with open(log, "a") as f:
    f.write(json.dumps({{"env": env, "stdin": json.loads(stdin or "null"), "t": time.time()}}) + "\\n")
cmd = env.get("CNI_COMMAND")
conf = json.loads(stdin or "{{}}")
if cmd == "VERSION":
    print(json.dumps({{"cniVersion": "1.1.0", "supportedVersions": ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]}}))
elif cmd == "ADD":
    fail = conf.get("fail")
    if fail:
        print(json.dumps({{"code": 7, "msg": fail}})); sys.exit(1)
    ip = conf.get("ip", "192.0.2.10/24")
    print(json.dumps({{"cniVersion": conf.get("cniVersion", "1.0.0"),
                      "interfaces": [{{"name": env.get("CNI_IFNAME"), "mac": "02:00:00:00:00:01",
                                      "sandbox": env.get("CNI_NETNS")}}],
                      "ips": [{{"address": ip, "interface": 0}}]}}))
'''


def write_recording_plugin(directory: str, name: str, log_path: str) -> str:
    """Write an executable CNI plugin ``name`` into ``directory`` that appends each call's
    environment and stdin, as JSON lines, to ``log_path``."""
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(RECORDING_PLUGIN.format(python=sys.executable, log=log_path))
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def read_calls(log_path: str) -> list[dict[str, Any]]:
    try:
        with open(log_path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []
