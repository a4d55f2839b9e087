"""The example meta-plugin's own tests: a template for the test suite of a meta-plugin.

Install the distribution with its test extra, then run pytest; the fixtures come from the pytest
plugin multus installs, so this directory needs no conftest::

    pip install -e '.[test]'
    python -m pytest tests                   # no root needed
    python -m pytest --multus-lab tests      # as root: also a whole ADD and DEL in a lab netns

From fast to real:

* the plugins' hooks, on the context the ``request_context`` fixture builds (no root);
* the executable in-process through ``multus.run_cni`` — ``VERSION``, ``--version``, ``--help``,
  the "about" text, configuration errors and ``STATUS`` answer before any network namespace is
  entered (no root);
* the installed console script as a runtime runs it, ADD then DEL, with a recording CNI plugin as
  every delegate (root: ``pod_netns``).
"""

from __future__ import annotations

import io
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import multus
from multus import CNIError, RequestContext
from multus.testing.invoke import CniOutcome
from multus.testing.recorder import read_calls

cli = pytest.importorskip("multus_example_meta.cli", reason="the example is not installed: pip install -e '.[test]'")

BLUE = {"cniVersion": "1.0.0", "name": "blue", "type": "rec", "ip": "198.51.100.7/24"}
POD_ARGS = "IgnoreUnknown=true;K8S_POD_NAMESPACE=default;K8S_POD_NAME=pod-a"


def meta_conf(tmp_path: Path, **keys: Any) -> dict[str, Any]:
    conf: dict[str, Any] = {
        "cniVersion": "1.0.0", "name": "example-meta", "type": "multus-example-meta",
        "cniDir": str(tmp_path / "cni"), "confDir": str(tmp_path / "net.d"),
        "delegates": [{"cniVersion": "1.0.0", "name": "cluster", "type": "rec", "ip": "192.0.2.2/24"}],
        "secondNetwork": "lab/blue", "secondNetworkConfig": BLUE,
    }
    conf.update(keys)
    return conf


def run(command: str, conf: dict[str, Any] | None, argv: list[str] | None = None) -> tuple[int, str, str]:
    """One call of the executable, in-process: (exit code, stdout, stderr)."""
    env = {"CNI_COMMAND": command, "CNI_CONTAINERID": "c-1", "CNI_IFNAME": "eth0", "CNI_PATH": "/nonexistent",
           "CNI_ARGS": POD_ARGS}
    out, err = io.StringIO(), io.StringIO()
    code = multus.run_cni(plugins=cli.PLUGINS, about=cli.ABOUT, entry_points=False, env=env,
                          stdin=json.dumps(conf) if conf is not None else "", stdout=out, stderr=err,
                          argv=argv or [])
    return code, out.getvalue(), err.getvalue()


# --- the hooks (no root) ----------------------------------------------------------------------

def test_the_plan_is_the_cluster_network_then_the_second_one(
        request_context: Callable[..., RequestContext], tmp_path: Path) -> None:
    ctx = request_context(conf=meta_conf(tmp_path), plugins=cli.PLUGINS)
    plan = ctx.plugins.source_delegates(ctx)
    assert [(d.name, d.ifname, d.master) for d in plan] == [("cluster", "eth0", True), ("lab/blue", "net1", False)]
    assert plan[1].config == BLUE


def test_the_source_answers_only_for_its_network(request_context: Callable[..., RequestContext],
                                                 tmp_path: Path) -> None:
    ctx = request_context(conf=meta_conf(tmp_path), plugins=[cli.SecondNetwork()])
    found = ctx.plugins.source_network(ctx, multus.NetworkRef("blue", "lab"))
    assert found is not None and (found.name, found.config) == ("lab/blue", BLUE)
    assert ctx.plugins.source_network(ctx, multus.NetworkRef("red", "lab")) is None


@pytest.mark.parametrize(("keys", "message"), [
    ({"secondNetwork": "blue"}, "secondNetwork: must be \"<namespace>/<name>\", not 'blue'"),
    ({"secondNetworkConfig": "blue"}, "secondNetworkConfig: must be a CNI configuration object"),
])
def test_a_bad_setting_is_a_cni_error_naming_the_key(request_context: Callable[..., RequestContext],
                                                     tmp_path: Path, keys: dict[str, Any], message: str) -> None:
    ctx = request_context(conf=meta_conf(tmp_path, **keys), plugins=cli.PLUGINS)
    with pytest.raises(CNIError) as e:
        ctx.plugins.source_delegates(ctx)
    assert (e.value.code, e.value.msg) == (multus.INVALID_CONFIG, message)


# --- the executable, in-process (no root) -----------------------------------------------------

def test_version_lists_the_cni_versions() -> None:
    code, out, _ = run("VERSION", {"cniVersion": "1.0.0"})
    assert code == 0 and "1.0.0" in json.loads(out)["supportedVersions"]


def test_version_and_help_flags_and_the_about_text() -> None:
    assert run("", None, ["--version"])[:2] == (0, cli.ABOUT + "\n")
    code, out, _ = run("", None, ["--help"])
    assert code == 0 and out.startswith(cli.ABOUT) and "CNI_COMMAND" in out
    code, out, err = run("", None)  # no CNI_COMMAND: libcni's "about" text on stderr
    assert (code, out) == (0, "") and err.startswith(cli.ABOUT)


def test_status_reports_a_missing_delegate_binary_naming_the_network(tmp_path: Path) -> None:
    # STATUS asks the delegates of cniVersion 1.1.0 (libcni's rule); binDir is also in CNI_PATH
    conf = meta_conf(tmp_path, cniVersion="1.1.0", binDir="/nonexistent",
                     delegates=[{"cniVersion": "1.1.0", "name": "cluster", "type": "rec"}])
    code, out, _ = run("STATUS", conf)
    err = json.loads(out)
    assert code == 1 and err["code"] == multus.PLUGIN_NOT_AVAILABLE
    assert err["msg"] == 'DelegateStatus: network cluster: failed to find plugin "rec" in path [/nonexistent]'


# --- the installed executable, as a runtime runs it (root) ------------------------------------

def test_the_executable_adds_and_deletes_both_networks(
        tmp_path: Path, pod_netns: Callable[..., str], recording_plugin: Callable[[str], tuple[str, str]],
        cni_invoke: Callable[..., CniOutcome]) -> None:
    exe = shutil.which("multus-example-meta", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("the console script is not installed: pip install -e .")
    bin_dir, log = recording_plugin("rec")
    netns = f"/run/netns/{pod_netns()}"
    conf = meta_conf(tmp_path, binDir=bin_dir)
    out = cni_invoke([exe], "ADD", conf, container_id="c-1", netns=netns, args=POD_ARGS)
    assert out.returncode == 0, out.describe()
    assert out.json["ips"][0]["address"] == "192.0.2.2/24"  # the cluster network's result
    assert [(c["env"]["CNI_COMMAND"], c["env"]["CNI_IFNAME"], c["stdin"]["name"]) for c in read_calls(log)] == [
        ("ADD", "eth0", "cluster"), ("ADD", "net1", "blue")]
    out = cni_invoke([exe], "DEL", conf, container_id="c-1", netns=netns, args=POD_ARGS)
    assert out.returncode == 0, out.describe()
    assert [(c["env"]["CNI_COMMAND"], c["env"]["CNI_IFNAME"]) for c in read_calls(log)[2:]] == [
        ("DEL", "net1"), ("DEL", "eth0")]
