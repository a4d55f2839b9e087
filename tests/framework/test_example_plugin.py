"""The example third-party plugin (examples/multus-example-source), installed as a user would.

A scratch virtualenv (``--system-site-packages``, so multus and its dependencies are visible
without a network) gets the example and a deliberately broken plugin distribution installed with
pip; everything below then runs that venv's interpreter in a subprocess, so the entry points seen
are exactly those of installed distributions, and the test process's own metadata is untouched.

The CNI checks run ``python -m multus.cli.thin`` from the scratch venv as a runtime would, with a
recording CNI plugin as every delegate, and pass the pod annotations the way containerd does
(``runtimeConfig["io.kubernetes.cri.pod-annotations"]``), so no Kubernetes API is involved.

The example's own test suite (``examples/multus-example-source/tests``, a template for plugin
authors) is run here too, from the scratch venv where the example is installed, with nothing but
the pytest plugin multus installs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import site
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from multus.testing.invoke import CniOutcome, cni_env, invoke
from multus.testing.recorder import read_calls

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "multus-example-source"
META_EXAMPLE = REPO / "examples" / "multus-example-meta"
META_SCRIPT = "multus-example-meta"
PLUGIN = "example-static"
DISTRIBUTION = "multus-example-source"
BROKEN_PLUGIN = "broken-example"
BROKEN_DISTRIBUTION = "multus-broken-example"
BROKEN_MESSAGE = "this plugin is broken on purpose"
ANNOTATIONS_CAPABILITY = "io.kubernetes.cri.pod-annotations"
NETWORKS_ANNOTATION = "k8s.v1.cni.cncf.io/networks"
POD_ARGS = "IgnoreUnknown=true;K8S_POD_NAMESPACE=default;K8S_POD_NAME=pod-a;K8S_POD_UID=uid-a"


def source_distribution(dist: str, modules: dict[str, str]) -> str:
    """The pyproject.toml of distribution ``dist`` whose ``multus.source`` entry points (name to
    module) are top-level modules of its own."""
    entry_points = "".join(f'{name} = "{module}"\n' for name, module in modules.items())
    return f"""\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.0.1"
dependencies = ["multus"]

[project.entry-points."multus.source"]
{entry_points}
[tool.setuptools]
py-modules = {sorted(modules.values())!r}
"""


BROKEN_PYPROJECT = source_distribution(BROKEN_DISTRIBUTION, {BROKEN_PLUGIN: "multus_broken_example"})

# Three mistakes a plugin author makes, each in a module of its own, installed as a distribution.
FAULTY_DISTRIBUTION = "multus-faulty-example"
FAULTY_MODULES = {
    "faulty-raises": ("multus_faulty_raises", """\
        from multus import hookimpl

        @hookimpl(tryfirst=True)
        def multus_source_network(ref):
            return ref.nme
    """),
    "faulty-typo": ("multus_faulty_typo", """\
        from multus import hookimpl

        @hookimpl
        def multus_source_netwrok(ref):
            return None
    """),
    "faulty-dict": ("multus_faulty_dict", """\
        from multus import hookimpl

        @hookimpl(tryfirst=True)
        def multus_source_network(ref):
            return {"cniVersion": "1.0.0", "name": ref.name, "type": "bridge"}
    """),
}
FAULTY_PYPROJECT = source_distribution(FAULTY_DISTRIBUTION,
                                       {name: module for name, (module, _) in FAULTY_MODULES.items()})


@dataclass(frozen=True)
class ScratchVenv:
    root: Path
    python: Path

    def run(self, code: str, env: dict[str, str] | None = None) -> Any:
        """Run ``code`` in the venv's interpreter; it prints one JSON value as its last line."""
        p = subprocess.run([str(self.python), "-c", textwrap.dedent(code)], check=False, capture_output=True, text=True,
                           env=clean_env(env), timeout=120)
        assert p.returncode == 0, f"scratch python failed:\n{p.stdout}\n{p.stderr}"
        return json.loads(p.stdout.strip().splitlines()[-1])

    def multus(self, command: str, config: dict[str, Any], netns: str = "", container_id: str = "c-example",
               env: dict[str, str] | None = None) -> CniOutcome:
        """The ``multus`` CNI executable of this venv, invoked as a runtime does."""
        base = cni_env(command, container_id=container_id, netns=netns, ifname="eth0", args=POD_ARGS,
                       extra=env)
        return invoke([str(self.python), "-m", "multus.cli.thin"], clean_env(base), config, timeout=120)


def clean_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The test process's environment without settings that would enable plugins behind our back."""
    out = {k: v for k, v in os.environ.items() if k not in ("MULTUS_PLUGINS", "PYTHONPATH")}
    out.update(env or {})
    return out


def _site_packages(venv: Path) -> Path:
    found = sorted(venv.glob("lib/python3*/site-packages"))
    assert found, f"no site-packages in {venv}"
    return found[0]


@pytest.fixture(scope="module")
def example_venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScratchVenv]:
    """A venv with the example and the broken plugin installed, and multus visible from outside."""
    if not (EXAMPLE / "pyproject.toml").is_file():
        pytest.skip(f"the example distribution is not at {EXAMPLE}")
    tmp = tmp_path_factory.mktemp("example-venv")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
                   check=True, capture_output=True, timeout=120)
    if sys.prefix != sys.base_prefix:
        # Running from a venv: --system-site-packages reaches the base interpreter's packages, not
        # this venv's, where multus is installed. Chain our site directories (their .pth files too).
        lines = [f"import site; site.addsitedir({d!r})" for d in site.getsitepackages()]
        (_site_packages(venv) / "zz_multus_parent.pth").write_text("\n".join(lines) + "\n")
    python = venv / "bin" / "python"

    # Build from copies: a build writes egg-info and build/ next to the sources.
    example = tmp / "src" / "multus-example-source"
    shutil.copytree(EXAMPLE, example, ignore=shutil.ignore_patterns(
        "tests", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache"))
    broken = tmp / "src" / "multus-broken-example"
    broken.mkdir()
    (broken / "pyproject.toml").write_text(BROKEN_PYPROJECT)
    (broken / "multus_broken_example.py").write_text(f"raise RuntimeError({BROKEN_MESSAGE!r})\n")
    faulty = tmp / "src" / FAULTY_DISTRIBUTION
    faulty.mkdir()
    (faulty / "pyproject.toml").write_text(FAULTY_PYPROJECT)
    for module, code in FAULTY_MODULES.values():
        (faulty / f"{module}.py").write_text(textwrap.dedent(code))
    meta = tmp / "src" / "multus-example-meta"
    shutil.copytree(META_EXAMPLE, meta, ignore=shutil.ignore_patterns(
        "tests", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache"))

    p = subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
                        "--disable-pip-version-check", "--no-input", "-q", str(example), str(broken), str(faulty),
                        str(meta)],
                       check=False, capture_output=True, text=True, env=clean_env(), timeout=600)
    assert p.returncode == 0, f"pip install failed:\n{p.stdout}\n{p.stderr}"
    yield ScratchVenv(venv, python)


@pytest.fixture
def networks_file(tmp_path: Path) -> str:
    path = tmp_path / "example-networks.json"
    path.write_text(json.dumps({
        "foo": {"cniVersion": "1.0.0", "name": "foo-net", "type": "rec", "ip": "198.51.100.7/24"},
        "example-bar": {"cniVersion": "1.0.0", "name": "bar-net",
                        "plugins": [{"type": "rec", "ip": "203.0.113.9/24"}]},
    }))
    return str(path)


@pytest.fixture
def rec(recording_plugin: Callable[[str], tuple[str, str]]) -> tuple[str, str]:
    """(bin dir, call log) of the recording plugin ``rec`` every delegate uses."""
    return recording_plugin("rec")


def multus_conf(tmp_path: Path, bin_dir: str, networks_file: str, networks: str,
                plugins: list[str] | None = None) -> dict[str, Any]:
    conf: dict[str, Any] = {
        "cniVersion": "1.0.0", "name": "multus-cni-network", "type": "multus",
        "binDir": bin_dir, "cniDir": str(tmp_path / "cni"), "confDir": str(tmp_path / "net.d"),
        "logLevel": "verbose", "logToStderr": True,
        "delegates": [{"cniVersion": "1.0.0", "name": "cluster", "type": "rec", "ip": "192.0.2.2/24"}],
        "exampleNetworksFile": networks_file,
        "runtimeConfig": {ANNOTATIONS_CAPABILITY: {NETWORKS_ANNOTATION: networks}},
    }
    if plugins is not None:
        conf["plugins"] = plugins
    return conf


def calls(log: str) -> list[tuple[str, str, str]]:
    """(command, ifname, network name) of each recorded delegate call."""
    return [(c["env"]["CNI_COMMAND"], c["env"]["CNI_IFNAME"], (c["stdin"] or {}).get("name", ""))
            for c in read_calls(log)]


def error_of(out: CniOutcome) -> dict[str, Any]:
    assert out.returncode == 1, f"expected a CNI error, got rc={out.returncode}\n{out.stdout}\n{out.stderr}"
    err = out.json
    assert isinstance(err, dict) and "code" in err, out.stdout
    return err


# --- discovery ------------------------------------------------------------------------------

PROBE = """
    import json, sys
    from importlib import metadata
    from multus.plugin import hookspec
    from multus.plugin.manager import Plugins, group_of

    eps = {{fam: sorted((ep.name, ep.dist.name if ep.dist else "?")
                        for ep in metadata.entry_points(group=group_of(fam))) for fam in hookspec.FAMILIES}}
    p = Plugins({enabled!r}, env={env!r})
    for fam in hookspec.FAMILIES:
        p.load_family(fam)
    print(json.dumps({{
        "entry_points": eps,
        "registered": sorted(name for name, _ in p.pm.list_name_plugin()),
        "imported": sorted(m for m in sys.modules if m.startswith("multus_example_source")),
    }}))
"""


def _norm(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist).lower()


def test_the_scratch_venv_has_the_example_installed_and_the_test_process_does_not(
        example_venv: ScratchVenv) -> None:
    from importlib import metadata

    got = example_venv.run(PROBE.format(enabled=[], env={}))
    assert (PLUGIN, DISTRIBUTION) in [(n, _norm(d)) for n, d in got["entry_points"]["source"]]
    assert (PLUGIN, DISTRIBUTION) in [(n, _norm(d)) for n, d in got["entry_points"]["lifecycle"]]
    assert (BROKEN_PLUGIN, BROKEN_DISTRIBUTION) in [(n, _norm(d)) for n, d in got["entry_points"]["source"]]
    assert PLUGIN not in {ep.name for ep in metadata.entry_points(group="multus.source")}


def test_an_installed_plugin_is_not_loaded_unless_enabled(example_venv: ScratchVenv) -> None:
    got = example_venv.run(PROBE.format(enabled=[], env={}))
    assert not [n for n in got["registered"] if n.endswith((f":{PLUGIN}", f":{BROKEN_PLUGIN}"))]
    assert got["imported"] == []
    assert "multus.source:local" in got["registered"]  # ours are always on


@pytest.mark.parametrize("how", ["env", "config"])
def test_enabling_loads_the_plugin_of_every_family_it_has(example_venv: ScratchVenv, how: str) -> None:
    if how == "env":
        got = example_venv.run(PROBE.format(enabled=[], env={"MULTUS_PLUGINS": f" {PLUGIN} ,"}))
    else:
        got = example_venv.run(PROBE.format(enabled=[PLUGIN], env={}))
    assert f"multus.source:{PLUGIN}" in got["registered"]
    assert f"multus.lifecycle:{PLUGIN}" in got["registered"]
    assert not [n for n in got["registered"] if n.endswith(f":{BROKEN_PLUGIN}")]
    assert got["imported"] == ["multus_example_source", "multus_example_source.lifecycle",
                               "multus_example_source.source"]


# --- the CNI executable ---------------------------------------------------------------------

def test_without_enabling_the_cni_executable_does_not_use_it(
        example_venv: ScratchVenv, pod_netns: Callable[..., str], rec: tuple[str, str], networks_file: str,
        tmp_path: Path) -> None:
    bin_dir, log = rec
    conf = multus_conf(tmp_path, bin_dir, networks_file, "example/foo")
    out = example_venv.multus("ADD", conf, netns=f"/run/netns/{pod_netns()}")
    err = error_of(out)
    assert err["code"] == 7  # the built-in local source finds no network "foo" in confDir
    assert "example-static" not in out.stderr
    assert calls(log) == []


@pytest.mark.parametrize("how", ["env", "config"])
def test_enabled_it_resolves_the_pod_annotation_network(
        example_venv: ScratchVenv, pod_netns: Callable[..., str], rec: tuple[str, str], networks_file: str,
        tmp_path: Path, how: str) -> None:
    bin_dir, log = rec
    netns = f"/run/netns/{pod_netns()}"
    env = {"MULTUS_PLUGINS": PLUGIN} if how == "env" else {}
    conf = multus_conf(tmp_path, bin_dir, networks_file, "example/foo",
                       plugins=[PLUGIN] if how == "config" else None)

    out = example_venv.multus("ADD", conf, netns=netns, env=env)
    assert out.returncode == 0, f"{out.stdout}\n{out.stderr}"
    assert out.json["cniVersion"] == "1.0.0"
    assert out.json["ips"][0]["address"] == "192.0.2.2/24"  # the cluster network's result
    assert calls(log) == [("ADD", "eth0", "cluster"), ("ADD", "net1", "foo-net")]
    foo = read_calls(log)[1]
    assert foo["stdin"]["ip"] == "198.51.100.7/24"
    assert "K8S_POD_NAME=pod-a" in foo["env"]["CNI_ARGS"]
    assert "example-static: example/foo (annotation) resolved from" in out.stderr
    assert re.search(r"example-static: ADD of container c-example for pod default/pod-a ok in [0-9.]+ s",
                     out.stderr), out.stderr

    # DEL is served from the cache: no network is resolved, yet the lifecycle module is told.
    out = example_venv.multus("DEL", conf, netns=netns, env=env)
    assert out.returncode == 0, f"{out.stdout}\n{out.stderr}"
    assert calls(log)[2:] == [("DEL", "net1", "foo-net"), ("DEL", "eth0", "cluster")]
    assert "resolved from" not in out.stderr
    assert re.search(r"example-static: DEL of container c-example .* ok in", out.stderr), out.stderr


def test_it_owns_names_with_its_prefix_and_rejects_unknown_ones(
        example_venv: ScratchVenv, pod_netns: Callable[..., str], rec: tuple[str, str], networks_file: str,
        tmp_path: Path) -> None:
    bin_dir, log = rec
    env = {"MULTUS_PLUGINS": PLUGIN}
    conf = multus_conf(tmp_path, bin_dir, networks_file, "example-bar@eth7")
    out = example_venv.multus("ADD", conf, netns=f"/run/netns/{pod_netns()}", env=env)
    assert out.returncode == 0, f"{out.stdout}\n{out.stderr}"
    assert calls(log) == [("ADD", "eth0", "cluster"), ("ADD", "eth7", "bar-net")]

    conf = multus_conf(tmp_path, bin_dir, networks_file, "example/nope")
    out = example_venv.multus("ADD", conf, netns=f"/run/netns/{pod_netns()}", env=env, container_id="c-2")
    err = error_of(out)
    assert err["code"] == 7
    assert "'nope'" in err["msg"] and networks_file in err["msg"]
    assert len(calls(log)) == 2  # nothing ran for the rejected request
    assert re.search(r"example-static: ADD of container c-2 .* failed with code 7", out.stderr), out.stderr


@pytest.mark.parametrize("how", ["env", "config"])
def test_an_enabled_plugin_that_fails_to_import_fails_the_request(
        example_venv: ScratchVenv, pod_netns: Callable[..., str], rec: tuple[str, str], networks_file: str,
        tmp_path: Path, how: str) -> None:
    bin_dir, log = rec
    names = [PLUGIN, BROKEN_PLUGIN]
    env = {"MULTUS_PLUGINS": ",".join(names)} if how == "env" else {}
    conf = multus_conf(tmp_path, bin_dir, networks_file, "example/foo", plugins=names if how == "config" else None)
    out = example_venv.multus("ADD", conf, netns=f"/run/netns/{pod_netns()}", env=env)
    err = error_of(out)
    assert err["code"] == 101
    assert repr(BROKEN_PLUGIN) in err["msg"]
    assert BROKEN_DISTRIBUTION in _norm(err["msg"])
    assert f"RuntimeError: {BROKEN_MESSAGE}" in err["msg"]
    assert calls(log) == []


@pytest.mark.parametrize("how", ["env", "config"])
def test_an_enabled_plugin_that_is_not_installed_fails_the_request(
        example_venv: ScratchVenv, pod_netns: Callable[..., str], rec: tuple[str, str], networks_file: str,
        tmp_path: Path, how: str) -> None:
    bin_dir, log = rec
    names = [PLUGIN, "no-such-plugin"]
    env = {"MULTUS_PLUGINS": ",".join(names)} if how == "env" else {}
    conf = multus_conf(tmp_path, bin_dir, networks_file, "example/foo", plugins=names if how == "config" else None)
    out = example_venv.multus("ADD", conf, netns=f"/run/netns/{pod_netns()}", env=env)
    err = error_of(out)
    assert err["code"] == 101
    assert "['no-such-plugin']" in err["msg"] and "not installed" in err["msg"]  # only the missing one
    assert calls(log) == []


# --- the example's own tests, standing alone ------------------------------------------------

@pytest.mark.parametrize(("example", "at_least"), [(EXAMPLE, 10), (META_EXAMPLE, 8)], ids=["source", "meta"])
def test_the_examples_own_tests_pass_where_it_is_installed(example_venv: ScratchVenv, tmp_path: Path,
                                                           example: Path, at_least: int) -> None:
    """The template suites run with the examples installed and multus' pytest plugin: no
    conftest, no path tricks, nothing of this repository's tests."""
    tests = tmp_path / "example-tests"
    shutil.copytree(example / "tests", tests, ignore=shutil.ignore_patterns("__pycache__"))
    p = subprocess.run([str(example_venv.python), "-m", "pytest", "--multus-lab", "-q", "-rs", "-p", "no:cacheprovider",
                        "--rootdir", str(tmp_path), str(tests)], check=False, capture_output=True, text=True,
                       env=clean_env(), timeout=600, cwd=tmp_path)
    summary = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""
    assert p.returncode == 0, p.stdout + p.stderr
    passed = re.search(r"(\d+) passed", summary)
    assert passed and int(passed.group(1)) >= at_least, p.stdout
    if os.geteuid() == 0:
        assert "skipped" not in summary, p.stdout  # as root every check runs, the CNI ones included


def test_the_meta_examples_console_script_is_a_cni_executable(example_venv: ScratchVenv) -> None:
    """The meta-plugin example installed as a user installs it: its console script answers as a
    CNI plugin (no root: nothing here enters a network namespace)."""
    exe = str(example_venv.root / "bin" / META_SCRIPT)
    version = subprocess.run([exe, "--version"], check=False, capture_output=True, text=True, env=clean_env(),
                             timeout=60)
    assert (version.returncode, version.stdout) == (0, "multus-example-meta: version 0.1.0\n"), version.stderr
    help_ = subprocess.run([exe, "--help"], check=False, capture_output=True, text=True, env=clean_env(), timeout=60)
    assert help_.returncode == 0 and help_.stdout.startswith("multus-example-meta: version 0.1.0\n"), help_.stderr
    assert "CNI_COMMAND" in help_.stdout and "MULTUS_PLUGINS" in help_.stdout
    out = invoke([exe], clean_env(cni_env("VERSION")), {"cniVersion": "1.0.0"}, timeout=60)
    assert out.returncode == 0 and "1.0.0" in out.json["supportedVersions"], out.stdout
    conf = {"cniVersion": "1.0.0", "name": "example-meta", "type": META_SCRIPT,
            "delegates": [{"cniVersion": "1.0.0", "name": "cluster", "type": "rec"}], "secondNetwork": "blue"}
    out = invoke([exe], clean_env(cni_env("ADD", container_id="c-1", netns="/run/netns/none-such", ifname="eth0")),
                 conf, timeout=60)
    assert out.returncode == 1, out.stdout
    assert out.json == {"cniVersion": "1.0.0", "code": 7,  # the plugins' own error, before any netns is opened
                        "msg": "secondNetwork: must be \"<namespace>/<name>\", not 'blue'"}
    conf["secondNetwork"] = "lab/blue"
    conf["secondNetworkConfig"] = {"cniVersion": "1.0.0", "name": "blue", "type": "rec"}
    out = invoke([exe], clean_env(cni_env("ADD", container_id="c-1", netns="/run/netns/none-such", ifname="eth0")),
                 conf, timeout=60)
    assert out.returncode == 1, out.stdout
    assert out.json["code"] == 4 and "/run/netns/none-such" in out.json["msg"], out.json  # then CNI_NETNS


# --- a plugin author's mistakes, attributed to the installed plugin ------------------------------

MISTAKE_PROBE = """
    import json, tempfile
    import multus
    from multus.testing.context import make_context

    ctx = make_context(tempfile.mkdtemp())
    plugins = multus.Plugins({enabled!r}, env={{}})
    try:
        plugins.check_enabled_installed()
        plugins.source_network(ctx, multus.NetworkRef("blue", "lab"))
        print(json.dumps(None))
    except multus.CNIError as e:
        print(json.dumps([e.code, e.msg, e.details]))
"""


def mistake(example_venv: ScratchVenv, *enabled: str) -> tuple[int, str, str]:
    got = example_venv.run(MISTAKE_PROBE.format(enabled=list(enabled)))
    assert got is not None, f"enabling {enabled} did not fail"
    code, msg, details = got
    return code, msg, details


def test_an_exception_in_an_installed_plugins_hook_names_plugin_distribution_and_hook(
        example_venv: ScratchVenv) -> None:
    code, msg, details = mistake(example_venv, "faulty-raises")
    assert code == 103  # PLUGIN_FAILED
    assert msg == ("multus plugin 'faulty-raises' (multus.source:faulty-raises) of distribution "
                   "'multus-faulty-example' failed in hook multus_source_network: "
                   "AttributeError: 'NetworkRef' object has no attribute 'nme'"), msg
    assert re.fullmatch(r".*/multus_faulty_raises\.py:5 in multus_source_network", details), details


def test_a_misspelt_hook_of_an_installed_plugin_fails_at_load_naming_its_distribution(
        example_venv: ScratchVenv) -> None:
    code, msg, _ = mistake(example_venv, "faulty-typo")
    assert code == 101  # PLUGIN_LOAD_FAILED
    assert msg == ("multus plugin 'faulty-typo' (multus_faulty_typo) of distribution 'multus-faulty-example': "
                   "'multus_source_netwrok' is not a multus hook (did you mean 'multus_source_network'?)"), msg


def test_a_wrong_return_type_of_an_installed_plugin_names_it_and_its_distribution(
        example_venv: ScratchVenv) -> None:
    code, msg, details = mistake(example_venv, "faulty-dict")
    assert code == 103  # PLUGIN_FAILED
    assert msg == ("multus plugin 'faulty-dict' (multus.source:faulty-dict) of distribution 'multus-faulty-example' "
                   "failed in hook multus_source_network: it returned dict, expected NetworkConfig"), msg
    assert re.fullmatch(r".*/multus_faulty_dict\.py:\d+ in multus_source_network", details), details


def test_a_misspelt_enabled_name_lists_the_installed_plugins_and_the_closest(example_venv: ScratchVenv) -> None:
    code, msg, _ = mistake(example_venv, "example-statik")
    assert code == 101
    assert "['example-statik'] are not installed (did you mean 'example-static'?)" in msg, msg
    installed = re.search(r"installed: \[(.*)\]", msg)
    assert installed, msg
    names = set(re.findall(r"'([^']+)'", installed.group(1)))
    assert {"example-static", "faulty-raises", "local"} <= names, msg


LOAD_LOG_PROBE = """
    import json, logging
    import multus

    records = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    logger = logging.getLogger("multus")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    plugins = multus.Plugins(["example-static"], env={})
    plugins.load_family("source")
    print(json.dumps(records))
"""


def test_at_debug_level_the_loaded_and_the_disabled_plugins_are_logged(example_venv: ScratchVenv) -> None:
    messages = example_venv.run(LOAD_LOG_PROBE)

    def logged(pattern: str) -> bool:
        return any(re.fullmatch(pattern, m) for m in messages)

    dist = r"multus[-_.]{}"
    assert logged(r"loaded multus plugin example-static \(multus_example_source\.source\) of distribution "
                  + dist.format("example[-_.]source")), messages
    assert logged(r"multus plugin faulty-raises \(multus_faulty_raises\) of distribution "
                  + dist.format("faulty[-_.]example") + " is installed but not enabled"), messages
    assert logged(r"loaded multus plugin local \(multus_local\.source\) of distribution multus"), messages
    assert not logged(r"loaded multus plugin faulty-.*"), messages
