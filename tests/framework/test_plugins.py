"""The plugin framework: the typed facade, the core defaults, wrappers, and lazy loading.

* ``multus.plugin.manager.Plugins`` is the only code that calls ``pm.hook``;
* the core defaults are registered by module path, ``trylast``, and a plugin overrides them;
* a wrapper around ``multus_delegate_invoke`` sees every delegate call;
* families are imported lazily: a delegate call imports no source backend, ``VERSION`` imports
  no heavy library, an ADD of static delegates without a kubeconfig imports no API client;
* the wrapper and testing examples of docs/plugins.md work as printed.
"""

from __future__ import annotations

import importlib
import io
import itertools
import json
import os
import re
import subprocess
import sys
import textwrap
import time
import tokenize
from collections.abc import Callable, Generator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from multus.cni.request import from_environ
from multus.engine.models import Attachment, Delegate, RequestContext
from multus.engine.run import context, handle
from multus.errors import PLUGIN_NOT_AVAILABLE, TRY_AGAIN_LATER, CNIError
from multus.plugin import hookspec
from multus.plugin.hookspec import hookimpl
from multus.plugin.manager import DEFAULTS_MODULE, Plugins
from multus.testing.invoke import cni_env
from multus.testing.recorder import DelegateRecorder, read_calls

REPO = Path(__file__).resolve().parents[2]
PLUGINS_MD = REPO / "docs" / "plugins.md"
POD_ARGS = "IgnoreUnknown=true;K8S_POD_NAMESPACE=default;K8S_POD_NAME=pod-a;K8S_POD_UID=uid-a"
HEAVY = ("kubernetes", "pyroute2", "grpc")


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment minus what would change what multus loads: enabled plugins and
    the in-cluster API settings (which make the Kubernetes backend build a client)."""
    drop = ("MULTUS_PLUGINS", "PYTHONPATH", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("CNI_")}
    env.update(extra or {})
    return env


def static_conf(tmp_path: Path, bin_dir: str, delegates: list[dict[str, Any]]) -> dict[str, Any]:
    return {"cniVersion": "1.0.0", "name": "multus-cni-network", "type": "multus", "binDir": bin_dir,
            "cniDir": str(tmp_path / "cni"), "confDir": str(tmp_path / "net.d"), "delegates": delegates}


def request(command: str, conf: dict[str, Any], netns: str = "/nonexistent/netns", container_id: str = "c1") -> Any:
    env = cni_env(command, container_id=container_id, netns=netns, ifname="eth0", args=POD_ARGS)
    return from_environ(clean_env(env), json.dumps(conf).encode())


# --- the typed facade is the only caller of pm.hook ----------------------------------------

def _hook_accesses(path: Path) -> list[str]:
    """``.hook`` attribute accesses in code (strings and comments do not count), like a grep
    for ``pm.hook`` / ``.hook.`` that understands Python."""
    name = path.relative_to(REPO) if path.is_relative_to(REPO) else path.name
    toks = list(tokenize.generate_tokens(io.StringIO(path.read_text()).readline))
    return [f"{name}:{tok.start[0]}: {tok.line.strip()}" for prev, tok in itertools.pairwise(toks)
            if prev.type == tokenize.OP and prev.string == "." and tok.type == tokenize.NAME
            and tok.string in ("hook", "_hookexec", "subset_hook_caller")]


def test_only_the_facade_calls_pm_hook() -> None:
    manager = REPO / "src" / "multus" / "plugin" / "manager.py"
    files = sorted([*(REPO / "src").rglob("*.py"), *(REPO / "plugins").rglob("*.py")])
    assert manager in files
    offenders = [hit for f in files if f != manager for hit in _hook_accesses(f)]
    assert offenders == [], "only multus.plugin.manager.Plugins may call pm.hook:\n" + "\n".join(offenders)
    assert _hook_accesses(manager), "the facade itself calls pm.hook"


def test_the_scan_sees_code_not_strings_or_comments(tmp_path: Path) -> None:
    f = tmp_path / "x.py"
    f.write_text('"""pm.hook in a docstring"""\n# pm.hook in a comment\nx = pm.hook.multus_source_pod(ctx=1)\n'
                 'y = getattr(pm, "hook")\nz = self.pm . hook\n')
    assert [h.split(":")[1] for h in _hook_accesses(f)] == ["3", "5"]


# --- the core defaults ----------------------------------------------------------------------

def test_core_defaults_are_registered_by_module_path_and_trylast() -> None:
    defaults = importlib.import_module(DEFAULTS_MODULE)
    p = Plugins(env={}, entry_points=False)
    assert p.pm.get_plugin(DEFAULTS_MODULE) is defaults
    impls = [impl for caller in p.pm.get_hookcallers(defaults) or [] for impl in caller.get_hookimpls()
             if impl.plugin is defaults]
    assert {i.function.__name__ for i in impls} == {n for n in vars(defaults) if n.startswith("multus_")}
    assert {"multus_delegate_invoke", "multus_result_merge", "multus_source_delegates"} <= {
        i.function.__name__ for i in impls}
    assert all(i.trylast for i in impls), [i.function.__name__ for i in impls if not i.trylast]
    # imported by module path, not discovered through metadata
    ours = metadata.distribution("multus").entry_points
    assert not [ep for ep in ours if ep.group.startswith("multus.") and ep.module == DEFAULTS_MODULE]


class InProcess:
    """A delegate backend and a result merger that replace the core's."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    @hookimpl
    def multus_delegate_invoke(self, delegate: Delegate, command: str) -> dict[str, Any]:
        self.calls.append((command, delegate.ifname))
        if command != "ADD":
            return {}
        n = len([c for c in self.calls if c[0] == "ADD"])
        return {"cniVersion": "1.0.0", "interfaces": [{"name": delegate.ifname}],
                "ips": [{"address": f"10.0.{n}.2/24", "interface": 0}]}

    @hookimpl
    def multus_result_merge(self, ctx: RequestContext, attachments: list[Attachment]) -> dict[str, Any]:
        return {"cniVersion": ctx.conf.cni_version, "merged": [a.delegate.ifname for a in attachments],
                "ips": [ip for a in attachments for ip in a.result["ips"]]}


class Timing:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, float, str | None]] = []

    @hookimpl(wrapper=True)
    def multus_delegate_invoke(self, delegate: Delegate, command: str) -> Generator[None, Any, Any]:
        start = time.perf_counter()
        error = None
        try:
            return (yield)
        except Exception as e:
            error = type(e).__name__
            raise
        finally:
            self.seen.append((command, delegate.ifname, time.perf_counter() - start, error))


# No binary of these types exists: the core's implementation would fail with code 50.
MISSING = [{"cniVersion": "1.0.0", "name": "cluster", "type": "no-such-binary"},
           {"cniVersion": "1.0.0", "name": "second", "type": "no-such-binary"}]


def test_a_registered_plugin_overrides_invoke_and_merge_through_the_facade(tmp_path: Path) -> None:
    p = Plugins(env={})
    ctx = context(request("ADD", static_conf(tmp_path, str(tmp_path), MISSING)), p)
    d = Delegate(config=MISSING[0], name="cluster", ifname="eth0", master=True)
    with pytest.raises(CNIError) as e:
        p.delegate_invoke(ctx, d, "ADD")  # the core default: exec the binary
    assert e.value.code == PLUGIN_NOT_AVAILABLE

    mine = InProcess()
    p.register(mine, name="in-process")
    res = p.delegate_invoke(ctx, d, "ADD")
    assert res["interfaces"] == [{"name": "eth0"}]
    assert p.result_merge(ctx, [Attachment(delegate=d, result=res)]) == {
        "cniVersion": "1.0.0", "merged": ["eth0"], "ips": res["ips"]}
    assert mine.calls == [("ADD", "eth0")]


def test_a_wrapper_sees_every_delegate_call_of_add_and_del(
        tmp_path: Path, pod_netns: Callable[..., str], delegate_recorder: DelegateRecorder) -> None:
    p = Plugins(env={})
    mine, timing = InProcess(), Timing()
    p.register(mine, name="in-process")
    p.register(timing, name="timing")
    p.register(delegate_recorder, name="recorder")
    conf = static_conf(tmp_path, str(tmp_path / "empty-bin"), MISSING)
    netns = f"/run/netns/{pod_netns()}"

    result = handle(request("ADD", conf, netns), p)
    assert result == {"cniVersion": "1.0.0", "merged": ["eth0", "net1"],
                      "ips": [{"address": "10.0.1.2/24", "interface": 0}, {"address": "10.0.2.2/24", "interface": 0}]}
    assert handle(request("DEL", conf, netns), p) is None

    expected = [("ADD", "eth0"), ("ADD", "net1"), ("DEL", "net1"), ("DEL", "eth0")]
    assert mine.calls == expected
    assert delegate_recorder.commands() == expected
    assert [(c, i) for c, i, _, _ in timing.seen] == expected
    assert all(s >= 0 and err is None for _, _, s, err in timing.seen)
    assert [c.name for c in delegate_recorder.calls] == ["cluster", "second", "second", "cluster"]


def test_a_wrapper_sees_failing_calls_and_the_rollback(
        tmp_path: Path, pod_netns: Callable[..., str], delegate_recorder: DelegateRecorder) -> None:
    class FailSecond(InProcess):
        @hookimpl
        def multus_delegate_invoke(self, delegate: Delegate, command: str) -> dict[str, Any]:
            if command == "ADD" and delegate.ifname == "net1":
                raise CNIError(TRY_AGAIN_LATER, "not now")
            return super().multus_delegate_invoke(delegate, command)

    p = Plugins(env={})
    timing = Timing()
    p.register(FailSecond(), name="in-process")
    p.register(timing, name="timing")
    p.register(delegate_recorder, name="recorder")
    conf = static_conf(tmp_path, str(tmp_path / "empty-bin"), MISSING)
    with pytest.raises(CNIError) as e:
        handle(request("ADD", conf, f"/run/netns/{pod_netns()}"), p)
    assert e.value.code == TRY_AGAIN_LATER and "not now" in e.value.msg
    expected = [("ADD", "eth0"), ("ADD", "net1"), ("DEL", "net1"), ("DEL", "eth0")]
    assert delegate_recorder.commands() == expected
    assert [(c, i, err) for c, i, _, err in timing.seen] == [
        ("ADD", "eth0", None), ("ADD", "net1", "CNIError"), ("DEL", "net1", None), ("DEL", "eth0", None)]
    assert delegate_recorder.calls[1].error == "not now"


# --- the examples of docs/plugins.md --------------------------------------------------------

def _python_blocks(section: str) -> list[str]:
    text = PLUGINS_MD.read_text()
    m = re.search(rf"^## {re.escape(section)}\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert m, f"docs/plugins.md has no section {section!r}"
    return re.findall(r"^```python\n(.*?)^```", m.group(1), re.MULTILINE | re.DOTALL)


def test_the_wrapper_examples_of_the_docs_time_and_retry(tmp_path: Path) -> None:
    (code,) = _python_blocks("Wrapper hooks: timing, retry")
    ns: dict[str, Any] = {"__name__": "plugins_md_wrappers"}
    exec(compile(code, "docs/plugins.md", "exec"), ns)  # noqa: S102 - the documented example, as printed

    class Flaky:
        """Says "try again later" twice, then answers."""

        def __init__(self) -> None:
            self.attempts = 0

        @hookimpl
        def multus_delegate_invoke(self, delegate: Delegate, command: str) -> dict[str, Any]:
            self.attempts += 1
            if self.attempts <= 2:
                raise CNIError(TRY_AGAIN_LATER, f"busy ({self.attempts})")
            return {"cniVersion": "1.0.0", "interfaces": [{"name": delegate.ifname}]}

    p = Plugins(env={}, entry_points=False)
    flaky, timing = Flaky(), ns["Timing"]()
    p.register(flaky, name="flaky")
    p.register(ns["Retry"](attempts=3, delay=0), name="retry")
    p.register(timing, name="timing")
    ctx = context(request("ADD", static_conf(tmp_path, str(tmp_path), MISSING[:1])), p)
    d = Delegate(config=MISSING[0], name="cluster", ifname="eth0", master=True)
    assert p.delegate_invoke(ctx, d, "ADD") == {"cniVersion": "1.0.0", "interfaces": [{"name": "eth0"}]}
    assert flaky.attempts == 3
    assert [(c, i) for c, i, _ in timing.seconds] == [("ADD", "eth0")] * 3
    assert ctx.cache == {}

    # attempts used up: the last error reaches the caller; other errors are not retried
    flaky.attempts = -10
    with pytest.raises(CNIError, match=r"busy \(-7\)"):
        p.delegate_invoke(ctx, d, "ADD")
    assert flaky.attempts == -7 and ctx.cache == {}


def test_the_testing_example_of_the_docs_passes(cni_lab: Any, tmp_path: Path) -> None:
    (code,) = _python_blocks("Testing a plugin")
    (tmp_path / "test_from_docs.py").write_text(code)
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                        "--rootdir", str(tmp_path), str(tmp_path / "test_from_docs.py")],
                       check=False, capture_output=True, text=True, cwd=tmp_path, env=clean_env({"PYTEST_ADDOPTS": ""}),
                       timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "3 passed" in p.stdout, p.stdout


# --- lazy loading ---------------------------------------------------------------------------

LAZY_PROBE = """
import json, sys
from importlib import metadata
from multus.cni.request import from_environ
from multus.engine import models
from multus.engine.models import Delegate, NetworkRef
from multus.engine.run import context
from multus.plugin.manager import Plugins

conf = json.loads(sys.argv[1])
env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c-lazy", "CNI_NETNS": "/nonexistent/netns",
       "CNI_IFNAME": "eth0", "CNI_PATH": conf["binDir"], "CNI_ARGS": "K8S_POD_NAMESPACE=default;K8S_POD_NAME=p"}
source_modules = sorted({ep.module for ep in metadata.entry_points(group="multus.source")})
watch = sorted({*source_modules, "multus_k8s", "multus_local"})

def loaded():
    return sorted(m for m in watch if m in sys.modules)

p = Plugins(env={})
ctx = context(from_environ(env, json.dumps(conf).encode()), p)
at_start = loaded()
d = Delegate(config=conf["delegates"][0], name="rec-net", ifname="net1")
result = p.delegate_invoke(ctx, d, "ADD")
after_delegate = loaded()
registered = sorted(n for n, _ in p.pm.list_name_plugin())
p.source_network(ctx, NetworkRef("no-such-network", "", models.DEFAULT))
print(json.dumps({"source_modules": source_modules, "at_start": at_start, "after_delegate": after_delegate,
                  "after_source": loaded(), "result": result, "registered_after_delegate": registered}))
"""


def test_a_delegate_call_imports_no_source_backend(
        tmp_path: Path, recording_plugin: Callable[[str], tuple[str, str]]) -> None:
    bin_dir, log = recording_plugin("rec")
    conf = static_conf(tmp_path, bin_dir, [{"cniVersion": "1.0.0", "name": "rec-net", "type": "rec"}])
    p = subprocess.run([sys.executable, "-c", LAZY_PROBE, json.dumps(conf)], check=False, capture_output=True, text=True,
                       env=clean_env(), timeout=120)
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout.splitlines()[-1])
    assert "multus_local.source" in got["source_modules"]
    assert got["at_start"] == []
    assert got["after_delegate"] == [], "a delegate call imported source backends"
    assert got["result"]["interfaces"][0]["name"] == "net1"
    assert [c["env"]["CNI_COMMAND"] for c in read_calls(log)] == ["ADD"]
    assert not [n for n in got["registered_after_delegate"] if n.startswith("multus.source:")]
    # and the source family does load when a source hook is first called
    assert "multus_local" in got["after_source"] and "multus_local.source" in got["after_source"]


DRIVER = """
import json, runpy, sys
out = sys.argv[1]
sys.argv = ["multus"]
code = None
try:
    runpy.run_module("multus.cli.thin", run_name="__main__", alter_sys=True)
except SystemExit as e:
    code = e.code
with open(out, "w") as f:
    json.dump({"code": code, "modules": sorted(sys.modules)}, f)
"""


def run_driver(tmp_path: Path, env: dict[str, str], stdin: bytes = b"") -> tuple[int | None, set[str], str]:
    """``python -m multus.cli.thin`` in a subprocess; (exit code, top-level modules imported, stdout)."""
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    out = tmp_path / f"modules-{env.get('CNI_COMMAND', 'none')}.json"
    p = subprocess.run([sys.executable, str(driver), str(out)], input=stdin, check=False, capture_output=True, env=env,
                       timeout=120)
    assert out.exists(), p.stderr.decode()
    data = json.loads(out.read_text())
    return data["code"], {m.split(".")[0] for m in data["modules"]}, p.stdout.decode()


def test_version_imports_no_heavy_library(tmp_path: Path) -> None:
    code, top, stdout = run_driver(tmp_path, clean_env({"CNI_COMMAND": "VERSION"}), b"{}")
    assert code == 0
    assert "1.1.0" in json.loads(stdout)["supportedVersions"]
    assert "multus" in top
    assert sorted(top & {*HEAVY, "pluggy", "cattrs"}) == []
    assert sorted(m for m in top if m.startswith("multus_")) == []


def test_version_imports_no_heavy_library_by_importtime(tmp_path: Path) -> None:
    """The same, as ``python -X importtime`` reports it for the real ``python -m`` start."""
    p = subprocess.run([sys.executable, "-X", "importtime", "-m", "multus.cli.thin"], input=b"{}",
                       check=False, capture_output=True, env=clean_env({"CNI_COMMAND": "VERSION"}), timeout=120)
    assert p.returncode == 0, p.stderr.decode()
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0]
                for line in p.stderr.decode().splitlines() if line.startswith("import time:")}
    assert "multus" in imported
    assert sorted(imported & {*HEAVY, "pluggy", "cattrs"}) == []


def test_add_and_del_of_static_delegates_without_kubeconfig_import_no_api_client(
        tmp_path: Path, recording_plugin: Callable[[str], tuple[str, str]], pod_netns: Callable[..., str]) -> None:
    bin_dir, log = recording_plugin("rec")
    conf = static_conf(tmp_path, bin_dir, [{"cniVersion": "1.0.0", "name": "rec-net", "type": "rec"},
                                           {"cniVersion": "1.0.0", "name": "second", "type": "rec"}])
    netns = f"/run/netns/{pod_netns()}"
    for command in ("ADD", "DEL"):
        env = clean_env(cni_env(command, container_id="c-static", netns=netns, ifname="eth0", args=POD_ARGS,
                                path=bin_dir))
        code, top, stdout = run_driver(tmp_path, env, json.dumps(conf).encode())
        assert code == 0, stdout
        assert sorted(top & set(HEAVY)) == [], f"{command} imported {sorted(top & set(HEAVY))}"
    assert [(c["env"]["CNI_COMMAND"], c["env"]["CNI_IFNAME"]) for c in read_calls(log)] == [
        ("ADD", "eth0"), ("ADD", "net1"), ("DEL", "net1"), ("DEL", "eth0")]


def test_del_with_a_kubeconfig_imports_no_api_client(
        tmp_path: Path, recording_plugin: Callable[[str], tuple[str, str]], pod_netns: Callable[..., str]) -> None:
    """DEL is served from the cache: even with a kubeconfig (here one that cannot be read) it
    neither imports the Kubernetes client nor needs it."""
    bin_dir, log = recording_plugin("rec")
    conf = static_conf(tmp_path, bin_dir, [{"cniVersion": "1.0.0", "name": "rec-net", "type": "rec"}])
    netns = f"/run/netns/{pod_netns()}"
    env = clean_env(cni_env("ADD", container_id="c-kdel", netns=netns, ifname="eth0", args=POD_ARGS, path=bin_dir))
    code, _, stdout = run_driver(tmp_path, env, json.dumps(conf).encode())
    assert code == 0, stdout
    conf["kubeconfig"] = str(tmp_path / "no-such-kubeconfig")
    env = clean_env(cni_env("DEL", container_id="c-kdel", netns=netns, ifname="eth0", args=POD_ARGS, path=bin_dir))
    code, top, stdout = run_driver(tmp_path, env, json.dumps(conf).encode())
    assert code == 0, stdout
    assert "kubernetes" not in top and "urllib3" not in top
    assert [c["env"]["CNI_COMMAND"] for c in read_calls(log)] == ["ADD", "DEL"]


# --- entry points ---------------------------------------------------------------------------

TWO_GROUPS_PROBE = """
import json
from multus.plugin.manager import Plugins
p = Plugins(env={"MULTUS_PLUGINS": "two-groups"})
p.load_family("source")
p.load_family("lifecycle")
import two_groups_plugin
print(json.dumps({"registered": sorted(n for n, o in p.pm.list_name_plugin() if o is two_groups_plugin)}))
"""


def test_one_module_named_in_two_groups_is_registered_once(tmp_path: Path) -> None:
    """A distribution may name the same module in several groups (a module with hooks of two
    families); loading the second family must not fail on the already registered module."""
    site = tmp_path / "site"
    dist = site / "two_groups-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: two-groups\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[multus.source]\ntwo-groups = two_groups_plugin\n\n[multus.lifecycle]\ntwo-groups = two_groups_plugin\n")
    (site / "two_groups_plugin.py").write_text(textwrap.dedent("""
        from multus.plugin.hookspec import hookimpl

        @hookimpl
        def multus_source_network(ctx, ref):
            return None

        @hookimpl
        def multus_lifecycle_request_done(ctx, command, error, seconds):
            pass
    """))
    p = subprocess.run([sys.executable, "-c", TWO_GROUPS_PROBE], check=False, capture_output=True, text=True,
                       env=clean_env({"PYTHONPATH": str(site)}), timeout=120)
    assert p.returncode == 0, p.stderr
    assert len(json.loads(p.stdout.splitlines()[-1])["registered"]) == 1


def test_hookspec_families_have_entry_point_groups() -> None:
    from multus.plugin.manager import group_of

    assert [group_of(f) for f in hookspec.FAMILIES] == [
        "multus.source", "multus.delegate", "multus.result", "multus.lifecycle"]
