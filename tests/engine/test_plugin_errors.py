"""A bug in a third-party plugin is reported as such: a CNI error (code 103) that names the
plugin, its distribution and the hook, never an anonymous ``999 internal error``.

The end-to-end checks install a small plugin distribution the way pip does (a ``.dist-info``
with its entry points on the interpreter's path), enable it with ``MULTUS_PLUGINS`` and run the
thin ``multus`` executable with Debian's bridge + host-local as the cluster network.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from thinkit import MULTUS, NETWORKS, Node, error_of

from multus.cni.request import CniRequest
from multus.config import netconf
from multus.engine.models import NetworkRef, RequestContext
from multus.errors import PLUGIN_FAILED, CNIError
from multus.plugin.hookspec import hookimpl
from multus.plugin.manager import Plugins
from multus.testing.invoke import invoke
from multus.testing.recorder import DelegateRecorder

DIST = "multus-bad-hooks"
PLUGIN = "bad-hooks"

SOURCE_MODULE = '''
from multus.plugin.hookspec import hookimpl

@hookimpl(tryfirst=True)
def multus_source_network(ctx, ref):
    if ref.name == "broken-net":
        return ref.no_such_field
    return None
'''
LIFECYCLE_MODULE = '''
import os
from multus.plugin.hookspec import hookimpl

@hookimpl
def multus_lifecycle_delegate_added(ctx, attachment):
    if os.environ.get("BAD_HOOKS_ADDED"):
        {}["missing-key"]
'''


def _ctx(plugins: Plugins) -> RequestContext:
    raw = {"cniVersion": "1.0.0", "name": "multus", "type": "multus",
           "delegates": [{"cniVersion": "1.0.0", "name": "x", "type": "bridge"}]}
    req = CniRequest(command="ADD", container_id="c1", netns="/var/run/netns/x", ifname="eth0", args=(),
                     config=raw, env={})
    return RequestContext(request=req, conf=netconf.load(raw), plugins=plugins)


class Broken:
    @hookimpl(tryfirst=True)
    def multus_source_network(self, ctx: RequestContext, ref: NetworkRef) -> Any:
        return ref.no_such_field  # type: ignore[attr-defined]


class Rejecting:
    @hookimpl(tryfirst=True)
    def multus_source_network(self, ctx: RequestContext, ref: NetworkRef) -> Any:
        raise CNIError(7, "not on my watch")


# ------------------------------------------------------------------------------------ in-process

def test_an_exception_in_a_hook_names_the_plugin_and_the_hook() -> None:
    plugins = Plugins(entry_points=False, env={})
    plugins.register(Broken(), name="broken-one")
    with pytest.raises(CNIError) as exc:
        plugins.source_network(_ctx(plugins), NetworkRef("n", "default", "annotation"))
    e = exc.value
    assert e.code == PLUGIN_FAILED
    assert e.msg.startswith("multus plugin 'broken-one' (broken-one) of distribution ")
    assert e.msg.endswith("failed in hook multus_source_network: AttributeError: "
                          "'NetworkRef' object has no attribute 'no_such_field'")
    assert "registered directly" in e.msg  # a test class: no distribution installed it
    assert e.details.endswith("in multus_source_network") and __file__ in e.details


def test_a_cni_error_from_a_plugin_passes_unchanged() -> None:
    plugins = Plugins(entry_points=False, env={})
    plugins.register(Rejecting(), name="rejecting")
    with pytest.raises(CNIError) as exc:
        plugins.source_network(_ctx(plugins), NetworkRef("n", "default", "annotation"))
    assert (exc.value.code, exc.value.msg) == (7, "not on my watch")


def test_a_wrapper_around_the_failing_plugin_is_not_blamed() -> None:
    """The recorder wraps every delegate call; the implementation that raised is the one named."""
    class Exploding:
        @hookimpl(tryfirst=True)
        def multus_delegate_invoke(self, ctx: RequestContext, delegate: Any, command: str) -> Any:
            raise ZeroDivisionError("boom")

    plugins = Plugins(entry_points=False, env={})
    recorder = DelegateRecorder()
    plugins.register(recorder, name="recorder")
    plugins.register(Exploding(), name="exploding")
    from multus.engine.models import Delegate

    with pytest.raises(CNIError) as exc:
        plugins.delegate_invoke(_ctx(plugins), Delegate(config={"type": "x"}, name="x", ifname="eth0"), "ADD")
    assert exc.value.code == PLUGIN_FAILED
    assert "multus plugin 'exploding'" in exc.value.msg and "hook multus_delegate_invoke" in exc.value.msg
    assert "ZeroDivisionError: boom" in exc.value.msg
    assert [c.command for c in recorder.calls] == ["ADD"] and "boom" in (recorder.calls[0].error or "")


def test_a_lifecycle_plugin_failing_after_the_request_is_logged_with_its_name(
        caplog: pytest.LogCaptureFixture) -> None:
    class Late:
        @hookimpl
        def multus_lifecycle_request_done(self, ctx: RequestContext, command: str, error: Any,
                                          seconds: float) -> None:
            raise KeyError("gone")

    plugins = Plugins(entry_points=False, env={})
    plugins.register(Late(), name="late")
    plugins.request_done(_ctx(plugins), "ADD", None, 0.1)  # never raises: the outcome is decided
    msgs = [r.getMessage() for r in caplog.records]
    assert any("multus plugin 'late'" in m and "hook multus_lifecycle_request_done: KeyError: 'gone'" in m
               for m in msgs), msgs


# ------------------------------------------------------------------------------------ end to end

@pytest.fixture
def bad_site(tmp_path: Path) -> Iterator[Path]:
    """A directory holding an installed distribution ``multus-bad-hooks`` (module + dist-info)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "multus_bad_hooks_source.py").write_text(SOURCE_MODULE)
    (site / "multus_bad_hooks_lifecycle.py").write_text(LIFECYCLE_MODULE)
    info = site / "multus_bad_hooks-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {DIST}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[multus.source]\n{PLUGIN} = multus_bad_hooks_source\n\n"
                                           f"[multus.lifecycle]\n{PLUGIN} = multus_bad_hooks_lifecycle\n")
    yield site


def _run(node: Node, command: str, conf: dict[str, Any], pod: Any, site: Path, **env: str) -> Any:
    e = node.env(command, pod)
    e.update({"PYTHONPATH": str(site), "MULTUS_PLUGINS": PLUGIN, **env})
    return invoke(MULTUS, e, conf, 120)


@pytest.mark.root
def test_a_source_plugin_bug_fails_add_with_its_name(node: Node, bad_site: Path) -> None:
    conf = node.multus(delegates=[node.bridge("brnet")], annotations={NETWORKS: "broken-net"})
    pod = node.pod()
    err = error_of(_run(node, "ADD", conf, pod, bad_site))
    assert err["code"] == PLUGIN_FAILED, err
    assert (f"multus plugin '{PLUGIN}' (multus.source:{PLUGIN}) of distribution '{DIST}' failed in hook "
            "multus_source_network: AttributeError: 'NetworkRef' object has no attribute 'no_such_field'"
            ) in err["msg"], err
    assert "multus_bad_hooks_source.py" in err.get("details", ""), err
    node.assert_clean(pod)


@pytest.mark.root
def test_a_lifecycle_plugin_bug_after_a_delegate_ran_rolls_back_and_names_it(node: Node, bad_site: Path) -> None:
    conf = node.multus(delegates=[node.bridge("brnet")])
    pod = node.pod()
    out = _run(node, "ADD", conf, pod, bad_site, BAD_HOOKS_ADDED="1")
    err = error_of(out)
    assert err["code"] == PLUGIN_FAILED, err
    assert (f"multus plugin '{PLUGIN}' (multus.lifecycle:{PLUGIN}) of distribution '{DIST}' failed in hook "
            "multus_lifecycle_delegate_added: KeyError: 'missing-key'") in err["msg"], err
    assert "internal error" not in err["msg"]
    node.assert_clean(pod)  # the bridge delegate that had run was rolled back
    # the same plugin, not failing, lets the pod through
    res = json.loads(_run(node, "ADD", conf, pod, bad_site).stdout)
    assert [i["name"] for i in res["interfaces"] if i.get("sandbox")] == ["eth0"]
    node.delete(conf, pod)
    node.assert_clean(pod)
