"""The example plugin's own tests: a template for the test suite of a multus plugin.

Install the distribution with its test extra, then run pytest; the fixtures
(``request_context``, ``pod_netns``, ``recording_plugin``, ``cni_invoke``) come from the pytest
plugin that multus installs, so this directory needs no conftest::

    pip install -e '.[test]'
    python -m pytest --multus-lab tests      # as root: the CNI checks use a lab network namespace

Without root (or without ``--multus-lab``) the CNI checks skip and the in-process ones still run.
Three layers, from fast to real:

* the hook itself, in-process, on the context the ``request_context`` fixture builds, with only
  this module registered (no entry points, no root);
* the distribution's metadata: both entry points, under the one name that enables them;
* the ``multus`` CNI executable of this environment, as a runtime runs it, with a recording CNI
  plugin as every delegate and the pod annotation passed the way containerd passes it.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from multus import ANNOTATION, INVALID_CONFIG, IO_FAILURE, CNIError, NetworkConfig, NetworkRef, RequestContext
from multus.testing.invoke import CniOutcome
from multus.testing.recorder import read_calls

source = pytest.importorskip("multus_example_source.source",
                             reason="the example is not installed: pip install -e '.[test]'")
lifecycle = pytest.importorskip("multus_example_source.lifecycle")

PLUGIN = "example-static"
DISTRIBUTION = "multus-example-source"
ANNOTATIONS = "io.kubernetes.cri.pod-annotations"
NETWORKS_ANNOTATION = "k8s.v1.cni.cncf.io/networks"
POD_ARGS = "IgnoreUnknown=true;K8S_POD_NAMESPACE=default;K8S_POD_NAME=pod-a;K8S_POD_UID=uid-a"
MULTUS = [sys.executable, "-m", "multus.cli.thin"]

FOO = {"cniVersion": "1.0.0", "name": "foo-net", "type": "rec", "ip": "198.51.100.7/24"}
BAR = {"cniVersion": "1.0.0", "name": "bar-net", "plugins": [{"type": "rec", "ip": "203.0.113.9/24"}]}


@pytest.fixture
def networks_file(tmp_path: Path) -> Path:
    path = tmp_path / "example-networks.json"
    path.write_text(json.dumps({"foo": FOO, "example-bar": BAR}))
    return path


def multus_conf(tmp_path: Path, networks_file: Path | str | None, **keys: Any) -> dict[str, Any]:
    conf: dict[str, Any] = {
        "cniVersion": "1.0.0", "name": "multus-cni-network", "type": "multus",
        "cniDir": str(tmp_path / "cni"), "confDir": str(tmp_path / "net.d"),
        "delegates": [{"cniVersion": "1.0.0", "name": "cluster", "type": "rec", "ip": "192.0.2.2/24"}],
    }
    if networks_file is not None:
        conf[source.CONFIG_KEY] = str(networks_file)
    conf.update(keys)
    return conf


ContextFor = Callable[[dict[str, Any]], RequestContext]


@pytest.fixture
def context_for(request_context: Callable[..., RequestContext]) -> ContextFor:
    """``context_for(conf)``: the context a hook receives in a request with this multus
    configuration, on a ``Plugins`` with only our source module registered (no root needed)."""
    def make(conf: dict[str, Any]) -> RequestContext:
        return request_context(conf=conf, plugins=[source], args=POD_ARGS, env={"CNI_CONTAINERID": "c-1"})
    return make


def resolve(ctx: RequestContext, name: str, namespace: str) -> NetworkConfig | None:
    return ctx.plugins.source_network(ctx, NetworkRef(name, namespace, ANNOTATION))


# --- the hook, in-process -------------------------------------------------------------------

def test_it_resolves_the_networks_it_owns(context_for: ContextFor, tmp_path: Path, networks_file: Path) -> None:
    ctx = context_for(multus_conf(tmp_path, networks_file))
    foo = resolve(ctx, "foo", "example")
    assert foo is not None
    assert (foo.name, foo.config, foo.origin) == ("example/foo", FOO, f"{networks_file}#foo")
    bar = resolve(ctx, "example-bar", "default")  # any namespace: the prefix makes it ours
    assert bar is not None and (bar.name, bar.config) == ("default/example-bar", BAR)


def test_it_answers_unknown_for_what_it_does_not_own(context_for: ContextFor, tmp_path: Path, networks_file: Path) -> None:
    ctx = context_for(multus_conf(tmp_path, networks_file))
    assert resolve(ctx, "foo", "default") is None  # the next source is asked
    without = context_for(multus_conf(tmp_path, None))
    assert resolve(without, "foo", "example") is None  # not configured: it stays out of the way


def test_it_rejects_an_owned_network_the_file_does_not_define(context_for: ContextFor, tmp_path: Path, networks_file: Path) -> None:
    ctx = context_for(multus_conf(tmp_path, networks_file))
    with pytest.raises(CNIError) as exc:
        resolve(ctx, "nope", "example")
    assert exc.value.code == INVALID_CONFIG
    assert exc.value.msg == (f"example-static: network 'nope' (namespace 'example', annotation) is not "
                             f"defined in {networks_file}")


@pytest.mark.parametrize(("content", "code", "needle"), [
    (None, IO_FAILURE, "cannot read"),
    ("{not json", INVALID_CONFIG, "is not valid JSON"),
    ("[1, 2]", INVALID_CONFIG, "must hold a JSON object of networks"),
    ('{"foo": "a string"}', INVALID_CONFIG, "must be a JSON object"),
])
def test_a_bad_networks_file_is_a_cni_error_naming_it(context_for: ContextFor, tmp_path: Path, content: str | None, code: int,
                                                      needle: str) -> None:
    path = tmp_path / "networks.json"
    if content is not None:
        path.write_text(content)
    ctx = context_for(multus_conf(tmp_path, path))
    with pytest.raises(CNIError) as exc:
        resolve(ctx, "foo", "example")
    assert exc.value.code == code and needle in exc.value.msg and str(path) in exc.value.msg, exc.value


def test_the_file_is_read_once_per_request(context_for: ContextFor, tmp_path: Path, networks_file: Path) -> None:
    conf = multus_conf(tmp_path, networks_file)
    ctx = context_for(conf)
    first = resolve(ctx, "foo", "example")
    networks_file.write_text(json.dumps({"foo": {**FOO, "ip": "198.51.100.99/24"}}))
    again = resolve(ctx, "foo", "example")
    assert first is not None and again is not None and again.config == first.config == FOO
    later = resolve(context_for(conf), "foo", "example")  # the next request reads it afresh
    assert later is not None and later.config["ip"] == "198.51.100.99/24"


def test_the_lifecycle_hook_logs_each_request(context_for: ContextFor, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ctx = context_for(multus_conf(tmp_path, None))
    ctx.plugins.register(lifecycle, name=f"multus.lifecycle:{PLUGIN}")
    with caplog.at_level(logging.INFO, logger="multus.example_static"):
        ctx.plugins.request_done(ctx, "ADD", None, 0.25)
        ctx.plugins.request_done(ctx, "DEL", CNIError(7, "bad input"), 0.5)
    assert [r.getMessage() for r in caplog.records] == [
        "example-static: ADD of container c-1 for pod default/pod-a ok in 0.250 s",
        "example-static: DEL of container c-1 for pod default/pod-a failed with code 7: bad input in 0.500 s"]


# --- the distribution -------------------------------------------------------------------------

def test_both_families_are_declared_under_one_name() -> None:
    found = {(ep.group, ep.name, ep.value) for group in ("multus.source", "multus.lifecycle")
             for ep in metadata.entry_points(group=group)
             if ep.dist is not None and re.sub(r"[-_.]+", "-", ep.dist.name).lower() == DISTRIBUTION}
    if not found:
        pytest.skip(f"{DISTRIBUTION} is importable but not installed (no metadata): pip install -e .")
    assert found == {("multus.source", PLUGIN, "multus_example_source.source"),
                     ("multus.lifecycle", PLUGIN, "multus_example_source.lifecycle")}


# --- the CNI executable -----------------------------------------------------------------------

def _installed() -> None:
    if not any(ep.name == PLUGIN for ep in metadata.entry_points(group="multus.source")):
        pytest.skip(f"{DISTRIBUTION} is not installed in this environment: pip install -e .")


def test_the_cni_executable_attaches_the_pods_network_through_it(
        tmp_path: Path, networks_file: Path, pod_netns: Callable[..., str],
        recording_plugin: Callable[[str], tuple[str, str]], cni_invoke: Callable[..., CniOutcome]) -> None:
    _installed()
    bin_dir, log = recording_plugin("rec")
    netns = f"/run/netns/{pod_netns()}"
    conf = multus_conf(tmp_path, networks_file, binDir=bin_dir, logLevel="verbose", logToStderr=True,
                       runtimeConfig={ANNOTATIONS: {NETWORKS_ANNOTATION: "example/foo, example-bar"}})
    env = {"MULTUS_PLUGINS": PLUGIN}

    out = cni_invoke(MULTUS, "ADD", conf, container_id="c-1", netns=netns, args=POD_ARGS, extra_env=env)
    assert out.returncode == 0, out.describe()
    assert out.json["ips"][0]["address"] == "192.0.2.2/24"  # the cluster network's result
    calls = read_calls(log)
    assert [(c["env"]["CNI_COMMAND"], c["env"]["CNI_IFNAME"], c["stdin"]["name"]) for c in calls] == [
        ("ADD", "eth0", "cluster"), ("ADD", "net1", "foo-net"), ("ADD", "net2", "bar-net")]
    assert calls[1]["stdin"]["ip"] == FOO["ip"]
    assert "example-static: example/foo (annotation) resolved from" in out.stderr
    assert "example-static: ADD of container c-1 for pod default/pod-a ok in" in out.stderr

    # DEL is served from the cache: nothing is resolved again, and the lifecycle hook is told
    out = cni_invoke(MULTUS, "DEL", conf, container_id="c-1", netns=netns, args=POD_ARGS, extra_env=env)
    assert out.returncode == 0 and out.stdout.strip() == "", out.describe()
    assert [(c["env"]["CNI_COMMAND"], c["env"]["CNI_IFNAME"]) for c in read_calls(log)[3:]] == [
        ("DEL", "net2"), ("DEL", "net1"), ("DEL", "eth0")]
    assert "resolved from" not in out.stderr
    assert "example-static: DEL of container c-1 for pod default/pod-a ok in" in out.stderr


def test_the_cni_executable_fails_on_an_owned_network_it_cannot_find(
        tmp_path: Path, networks_file: Path, pod_netns: Callable[..., str],
        recording_plugin: Callable[[str], tuple[str, str]], cni_invoke: Callable[..., CniOutcome]) -> None:
    _installed()
    bin_dir, log = recording_plugin("rec")
    conf = multus_conf(tmp_path, networks_file, binDir=bin_dir,
                       runtimeConfig={ANNOTATIONS: {NETWORKS_ANNOTATION: "example/nope"}})
    out = cni_invoke(MULTUS, "ADD", conf, container_id="c-2", netns=f"/run/netns/{pod_netns()}", args=POD_ARGS,
                     extra_env={"MULTUS_PLUGINS": PLUGIN})
    err = out.cni_error()
    assert err["code"] == INVALID_CONFIG and "'nope'" in err["msg"] and str(networks_file) in err["msg"], err
    assert read_calls(log) == []  # nothing ran for the rejected request
