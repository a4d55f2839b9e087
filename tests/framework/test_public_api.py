"""A plugin author's and a meta-plugin developer's first day, from the docs alone.

Only the names of ``multus`` (the public API) and the pytest plugin's fixtures are used; nothing
needs root or a network namespace. Every mistake a newcomer makes comes back as a CNI error that
names the plugin and the hook.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import multus

# --- a source plugin ---------------------------------------------------------------------------


class LabSource:
    """Networks of the namespace ``lab`` are macvlan networks on eth1."""

    @multus.hookimpl(tryfirst=True)
    def multus_source_network(self, ctx: multus.RequestContext, ref: multus.NetworkRef) -> multus.NetworkConfig | None:
        if ref.namespace != "lab":
            return None
        if ref.name == "forbidden":
            raise multus.CNIError(multus.INVALID_CONFIG, f"network lab/{ref.name}: not allowed here")
        return multus.NetworkConfig(config={"cniVersion": "1.0.0", "name": ref.name, "type": "macvlan",
                                            "master": "eth1"}, name=f"lab/{ref.name}")


# --- a meta-plugin: every pod gets the cluster network and one fixed secondary network ---------


class OnePlusOne:
    @multus.hookimpl(tryfirst=True)
    def multus_source_delegates(self, ctx: multus.RequestContext) -> list[multus.Delegate]:
        secondary = ctx.plugins.source_network(ctx, multus.NetworkRef("blue", "lab", multus.ANNOTATION))
        assert secondary is not None
        cluster = ctx.conf.delegates[0]
        return [multus.Delegate(config=cluster, name=cluster["name"], ifname="eth0", master=True),
                multus.Delegate(config=secondary.config, name=secondary.name, ifname="net1")]

    @multus.hookimpl(tryfirst=True)
    def multus_delegate_invoke(self, delegate: multus.Delegate, command: str) -> dict[str, Any]:
        if command != "ADD":
            return {}
        return {"cniVersion": "1.0.0", "interfaces": [{"name": delegate.ifname}]}


def test_a_source_hook_is_unit_tested_with_a_request_context(request_context: Callable[..., Any]) -> None:
    ctx = request_context(plugins=[LabSource()])
    found = ctx.plugins.source_network(ctx, multus.NetworkRef("blue", "lab"))
    assert found == multus.NetworkConfig(config={"cniVersion": "1.0.0", "name": "blue", "type": "macvlan",
                                                 "master": "eth1"}, name="lab/blue")
    assert ctx.plugins.source_network(ctx, multus.NetworkRef("blue", "other")) is None
    with pytest.raises(multus.CNIError) as e:
        ctx.plugins.source_network(ctx, multus.NetworkRef("forbidden", "lab"))
    assert (e.value.code, e.value.msg) == (multus.INVALID_CONFIG, "network lab/forbidden: not allowed here")


def test_a_meta_plugin_runs_a_whole_add_in_process(request_context: Callable[..., Any]) -> None:
    ctx = request_context(plugins=[LabSource(), OnePlusOne()])
    delegates = ctx.plugins.source_delegates(ctx)
    assert [(d.name, d.ifname, d.plugin_type) for d in delegates] == [("cluster", "eth0", "bridge"),
                                                                     ("lab/blue", "net1", "macvlan")]
    attachments = [multus.Attachment(d, ctx.plugins.delegate_invoke(ctx, d, "ADD")) for d in delegates]
    assert ctx.plugins.result_merge(ctx, attachments)["interfaces"] == [{"name": "eth0"}]


def test_run_cni_builds_the_executable_and_answers_version() -> None:
    out = io.StringIO()
    code = multus.run_cni(plugins=[OnePlusOne()], about="my-meta 1.0", env={"CNI_COMMAND": "VERSION"},
                          stdin=b"{}", stdout=out, stderr=io.StringIO(), argv=[])
    assert code == 0
    assert "1.1.0" in json.loads(out.getvalue())["supportedVersions"]
    about = io.StringIO()
    assert multus.run_cni(about="my-meta 1.0", env={}, stdin=b"", stdout=io.StringIO(), stderr=about, argv=[]) == 0
    assert about.getvalue().startswith("my-meta 1.0\n")


def test_run_cni_reports_a_plugins_error_as_cni_json(tmp_path: Path) -> None:
    conf = {"cniVersion": "1.0.0", "name": "multus-cni-network", "type": "multus", "cniDir": str(tmp_path / "cni"),
            "delegates": [{"cniVersion": "1.0.0", "name": "cluster", "type": "bridge"}]}

    class Reject:
        @multus.hookimpl(tryfirst=True)
        def multus_source_delegates(self) -> list[multus.Delegate]:
            raise multus.CNIError(multus.INVALID_CONFIG, "reject: no networks today")

    env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_NETNS": str(tmp_path / "ns"), "CNI_IFNAME": "eth0",
           "CNI_PATH": str(tmp_path), "CNI_ARGS": "K8S_POD_NAMESPACE=default;K8S_POD_NAME=p"}
    out = io.StringIO()
    code = multus.run_cni(plugins=[Reject()], entry_points=False, env=env, stdin=json.dumps(conf).encode(),
                          stdout=out, stderr=io.StringIO(), argv=[])
    assert code == 1
    assert json.loads(out.getvalue()) == {"cniVersion": "1.0.0", "code": 7, "msg": "reject: no networks today"}


# --- mistakes, attributed -----------------------------------------------------------------------


def test_a_misspelt_hook_fails_at_load_with_a_suggestion(request_context: Callable[..., Any]) -> None:
    class Typo:
        @multus.hookimpl
        def multus_source_netwrok(self, ctx: multus.RequestContext, ref: multus.NetworkRef) -> None:
            return None

    with pytest.raises(multus.CNIError) as e:
        request_context(plugins=[Typo()])
    assert e.value.code == multus.PLUGIN_LOAD_FAILED
    assert "'multus_source_netwrok' is not a multus hook (did you mean 'multus_source_network'?)" in e.value.msg
    assert "Typo" in e.value.msg


def test_a_wrong_argument_name_fails_at_load(request_context: Callable[..., Any]) -> None:
    class BadArgs:
        @multus.hookimpl
        def multus_source_network(self, ctx: multus.RequestContext, network: str) -> None:
            return None

    ctx = request_context()
    with pytest.raises(multus.CNIError) as e:
        ctx.plugins.register(BadArgs(), name="bad-args")
    assert e.value.code == multus.PLUGIN_LOAD_FAILED
    assert "'bad-args'" in e.value.msg and "network" in e.value.msg


def source_error(request_context: Callable[..., Any], **plugins: object) -> multus.CNIError:
    """The error of ``multus_source_network`` with ``plugins`` (name: object) registered."""
    ctx = request_context()
    for name, plugin in plugins.items():
        ctx.plugins.register(plugin, name=name)
    with pytest.raises(multus.CNIError) as e:
        ctx.plugins.source_network(ctx, multus.NetworkRef("x"))
    return e.value


def test_a_wrong_return_type_names_the_plugin_and_the_hook(request_context: Callable[..., Any]) -> None:
    class DictSource:
        @multus.hookimpl(tryfirst=True)
        def multus_source_network(self) -> dict[str, Any]:
            return {"cniVersion": "1.0.0", "name": "x", "type": "bridge"}

    error = source_error(request_context, **{"dict-source": DictSource()})
    assert error.code == multus.PLUGIN_FAILED
    assert error.msg == ("multus plugin 'dict-source' (dict-source) of distribution 'unknown (registered "
                         f"directly, module {__name__})' failed in hook multus_source_network: it returned "
                         "dict, expected NetworkConfig")
    assert error.details.startswith(f"{__file__}:") and error.details.endswith(" in multus_source_network")


def test_a_plugin_that_is_not_installed_lists_the_installed_ones(request_context: Callable[..., Any]) -> None:
    from multus.plugin.manager import Plugins  # the entry-point names of this distribution

    plugins = Plugins(enabled=["k8z"], env={})
    with pytest.raises(multus.CNIError) as e:
        plugins.check_enabled_installed()
    assert e.value.code == multus.PLUGIN_LOAD_FAILED
    assert "['k8z'] are not installed (did you mean 'k8s'?); installed: [" in e.value.msg
    assert "'local'" in e.value.msg


def test_import_multus_is_lazy() -> None:
    code = textwrap.dedent("""
        import sys, multus
        assert multus.CNIError.__name__ == "CNIError"
        print(sorted(m for m in ("pluggy", "cattrs", "multus.engine.run") if m in sys.modules))
    """)
    p = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=60)
    assert p.stdout.strip() == "[]"
    assert set(multus.__all__) <= set(dir(multus))
    for name in multus.__all__:
        assert getattr(multus, name) is not None, name


# --- executables: --help --------------------------------------------------------------------


@pytest.mark.parametrize(("module", "expected"), [
    ("multus.cli.thin", ["CNI_COMMAND", "MULTUS_PLUGINS", "/etc/cni/net.d/00-multus.conf", "docs/plugins.md"]),
    ("multus.cli.shim", ["CNI_COMMAND", "MULTUS_SHIM_READY_TIMEOUT", "multus.sock", "docs/thick.md"]),
    ("multus.cli.daemon", ["-config", "daemon-config.json", "MULTUS_PLUGINS", "docs/thick.md"]),
])
def test_help_prints_usage(module: str, expected: list[str]) -> None:
    p = subprocess.run([sys.executable, "-m", module, "--help"], check=False, capture_output=True, text=True,
                       timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert p.returncode == 0, p.stderr
    missing = [e for e in expected if e not in p.stdout]
    assert missing == [], p.stdout


def test_python_dash_m_multus_is_the_multus_executable() -> None:
    p = subprocess.run([sys.executable, "-m", "multus", "--version"], check=False, capture_output=True, text=True,
                       timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert (p.returncode, p.stdout.strip()) == (0, f"multus: version: {multus.__version__} (python)"), p.stderr


def test_the_help_of_a_custom_executable_names_no_multus_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert multus.run_cni(about="my-meta: version 1.0", entry_points=False, argv=["--help"], env={}) == 0
    out = capsys.readouterr().out
    assert out.startswith("my-meta: version 1.0\n") and "CNI_COMMAND" in out
    assert "00-multus.conf" not in out and "MULTUS_PLUGINS" not in out
    assert multus.run_cni(about="my-meta: version 1.0", argv=["--help"], env={}) == 0
    assert "MULTUS_PLUGINS" in capsys.readouterr().out  # it loads installed backends: the variable applies


def test_no_cni_command_keeps_the_about_text() -> None:
    p = subprocess.run([sys.executable, "-m", "multus.cli.thin"], input="", check=False, capture_output=True,
                       text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert (p.returncode, p.stdout) == (0, "")
    assert p.stderr.startswith("multus: version: 0.1.0 (python)\nCNI protocol versions supported: ")


# --- logs that help -----------------------------------------------------------------------------


@pytest.fixture
def multus_logger_restored() -> Iterator[None]:
    """The ``multus`` logger as it was, after a test that configures logging as multus does."""
    logger = logging.getLogger("multus")
    saved = (logger.level, list(logger.handlers), logger.propagate)
    yield
    logger.setLevel(saved[0])
    logger.handlers[:] = saved[1]
    logger.propagate = saved[2]


def test_request_context_can_load_the_installed_backends(request_context: Callable[..., Any]) -> None:
    ctx = request_context()
    ctx.plugins.load_family("source")
    assert not [n for n, _ in ctx.plugins.pm.list_name_plugin() if n.startswith("multus.source:")]
    ctx = request_context(enabled=[])
    ctx.plugins.load_family("source")
    names = {n for n, _ in ctx.plugins.pm.list_name_plugin()}
    assert {"multus.source:k8s", "multus.source:local"} <= names, names
    with pytest.raises(multus.CNIError) as e:
        request_context(enabled=["k8z"]).plugins.check_enabled_installed()
    assert "['k8z'] are not installed (did you mean 'k8s'?)" in e.value.msg


def test_a_del_goes_on_when_an_enabled_plugin_is_not_installed(
        request_context: Callable[..., Any], recording_plugin: Callable[[str], tuple[str, str]],
        caplog: pytest.LogCaptureFixture) -> None:
    from multus.engine import cache
    from multus.testing import read_calls

    bin_dir, log = recording_plugin("rec")
    cluster = {"cniVersion": "1.0.0", "name": "cluster", "type": "rec"}
    conf = {"binDir": bin_dir, "delegates": [cluster]}
    ctx = request_context(command="DEL", conf=conf, enabled=["k8z"])
    # what an ADD of this container left: its delegate cache
    cache.save(ctx.conf.cni_dir, ctx.request.container_id,
               [multus.Delegate(config=cluster, name="cluster", ifname="eth0", master=True)])
    with caplog.at_level("ERROR", logger="multus"):
        assert multus.handle(ctx.request, ctx.plugins, configure_logging=False) is None
    assert [c["env"]["CNI_COMMAND"] for c in read_calls(log)] == ["DEL"]
    assert "['k8z'] are not installed" in caplog.text and "the DEL goes on without them" in caplog.text
    assert not os.path.exists(cache.path(ctx.conf.cni_dir, ctx.request.container_id))
    add = request_context(command="ADD", conf=conf, enabled=["k8z"])
    with pytest.raises(multus.CNIError) as e:  # anything else still refuses
        multus.handle(add.request, add.plugins, configure_logging=False)
    assert e.value.code == multus.PLUGIN_LOAD_FAILED
    assert [c["env"]["CNI_COMMAND"] for c in read_calls(log)] == ["DEL"]


def test_the_testing_helpers_are_exported_by_multus_testing() -> None:
    import multus.testing as t
    from multus.testing import recorder

    assert t.read_calls is recorder.read_calls and t.DelegateRecorder is recorder.DelegateRecorder
    env = t.cni_env("ADD", container_id="c1", netns="/run/netns/x", ifname="eth0")
    assert (env["CNI_COMMAND"], env["CNI_CONTAINERID"], env["CNI_IFNAME"]) == ("ADD", "c1", "eth0")
    assert set(t.__all__) == set(t._EXPORTS) and set(t.__all__) <= set(dir(t))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        t.nope  # noqa: B018


def test_an_unknown_key_is_logged_with_a_suggestion(request_context: Callable[..., Any],
                                                     caplog: pytest.LogCaptureFixture) -> None:
    from multus.engine.run import context

    ctx = request_context(conf={"clusterNetwrok": "x", "exampleNetworksFile": "/f"})
    with caplog.at_level("DEBUG", logger="multus"):
        context(ctx.request, ctx.plugins, configure_logging=False)
    messages = [r.getMessage() for r in caplog.records]
    assert "configuration key 'clusterNetwrok' is unknown to multus (did you mean 'clusterNetwork'?)" in messages
    assert "configuration key 'exampleNetworksFile' is not a multus setting (left to plugins)" in messages


def test_the_unknown_key_warning_is_printed_from_log_level_error_up(
        request_context: Callable[..., Any], capsys: pytest.CaptureFixture[str], multus_logger_restored: None) -> None:
    from multus.engine.run import context

    for level, shown in (("error", True), ("verbose", True), ("panic", False)):
        ctx = request_context(conf={"clusterNetwrok": "x", "logLevel": level, "logToStderr": True})
        context(ctx.request, ctx.plugins, configure_logging=True)
        err = capsys.readouterr().err
        line = "[error] warning: configuration key 'clusterNetwrok' is unknown to multus (did you mean 'clusterNetwork'?)"
        assert (line in err) is shown, (level, err)


def test_a_bad_log_level_lists_the_valid_ones(request_context: Callable[..., Any], capsys: pytest.CaptureFixture[str],
                                              multus_logger_restored: None) -> None:
    from multus.config import logs

    ctx = request_context(conf={"logLevel": "info"})
    logs.configure(ctx.conf)
    assert "cannot set logging level to info (logLevel must be one of: debug, verbose, error, panic)" in \
        capsys.readouterr().err


# --- a newcomer's mistakes, each attributed -----------------------------------------------------


def test_a_wrong_return_type_names_the_one_plugin_that_answered(request_context: Callable[..., Any]) -> None:
    class Silent:
        @multus.hookimpl(tryfirst=True)
        def multus_source_network(self) -> None:
            return None

    class DictSource:
        @multus.hookimpl
        def multus_source_network(self) -> dict[str, Any]:
            return {"cniVersion": "1.0.0", "name": "x", "type": "bridge"}

    error = source_error(request_context, silent=Silent(), **{"dict-source": DictSource()})
    assert error.msg.startswith("multus plugin 'dict-source' (dict-source) of distribution "), error.msg
    assert error.msg.endswith(" failed in hook multus_source_network: it returned dict, expected NetworkConfig")
    assert "silent" not in error.msg


def test_a_plugin_registered_without_a_name_is_named_after_its_class(
        request_context: Callable[..., Any]) -> None:
    class DictSource:
        @multus.hookimpl(tryfirst=True)
        def multus_source_network(self) -> dict[str, Any]:
            return {"cniVersion": "1.0.0", "name": "x", "type": "bridge"}

    class Raises:
        @multus.hookimpl(tryfirst=True)
        def multus_source_pod(self) -> None:
            raise RuntimeError("boom")

    ctx = request_context(plugins=[DictSource(), DictSource(), Raises()])
    assert {"DictSource", "DictSource-2", "Raises"} <= {n for n, _ in ctx.plugins.pm.list_name_plugin()}
    with pytest.raises(multus.CNIError) as e:
        ctx.plugins.source_network(ctx, multus.NetworkRef("x"))
    assert e.value.msg.startswith("multus plugin 'DictSource"), e.value.msg
    with pytest.raises(multus.CNIError) as e:
        ctx.plugins.source_pod(ctx)
    assert e.value.msg.startswith("multus plugin 'Raises' (Raises) of distribution "), e.value.msg
    assert e.value.msg.endswith("failed in hook multus_source_pod: RuntimeError: boom")


def test_several_plugins_that_are_not_installed_get_one_hint_each() -> None:
    from multus.plugin.manager import Plugins

    with pytest.raises(multus.CNIError) as e:
        Plugins(enabled=["k8z", "locl", "zzzzzz"], env={}).check_enabled_installed()
    assert "['k8z', 'locl', 'zzzzzz'] are not installed ('k8z': did you mean 'k8s'?) " \
           "('locl': did you mean 'local'?); installed: [" in e.value.msg, e.value.msg


def test_an_exception_in_a_hook_names_the_plugin_and_the_hook(request_context: Callable[..., Any]) -> None:
    class Typo:
        @multus.hookimpl(tryfirst=True)
        def multus_source_network(self, ref: multus.NetworkRef) -> None:
            return ref.nme  # type: ignore[attr-defined]

    error = source_error(request_context, typo=Typo())
    assert error.code == multus.PLUGIN_FAILED
    assert error.msg == ("multus plugin 'typo' (typo) of distribution 'unknown (registered directly, module "
                           f"{__name__})' failed in hook multus_source_network: "
                           "AttributeError: 'NetworkRef' object has no attribute 'nme'")
    assert error.details.endswith(" in multus_source_network") and __file__ in error.details


@pytest.mark.parametrize("stdin", [
    b'{"cniVersion": "1.0.0"}', '{"cniVersion": "1.0.0"}', io.BytesIO(b'{"cniVersion": "1.0.0"}'),
    io.StringIO('{"cniVersion": "1.0.0"}')], ids=["bytes", "str", "BytesIO", "StringIO"])
def test_run_cni_takes_stdin_as_bytes_text_or_a_file(stdin: Any) -> None:
    out = io.StringIO()
    code = multus.run_cni(entry_points=False, env={"CNI_COMMAND": "VERSION"}, stdin=stdin, stdout=out,
                          stderr=io.StringIO(), argv=[])
    assert code == 0, out.getvalue()
    assert "1.0.0" in json.loads(out.getvalue())["supportedVersions"]


def _status(conf: dict[str, Any], cni_path: str) -> dict[str, Any]:
    out = io.StringIO()
    code = multus.run_cni(entry_points=False, env={"CNI_COMMAND": "STATUS", "CNI_PATH": cni_path},
                          stdin=json.dumps(conf), stdout=out, stderr=io.StringIO(), argv=[])
    assert code == 1, out.getvalue()
    return json.loads(out.getvalue())  # type: ignore[no-any-return]


def test_a_delegates_status_error_names_its_network_and_the_search_path_once(tmp_path: Path) -> None:
    conf = {"cniVersion": "1.1.0", "name": "multus-cni-network", "type": "multus", "binDir": str(tmp_path / "bin"),
            "cniDir": str(tmp_path / "cni"), "confDir": str(tmp_path / "net.d"),
            "delegates": [{"cniVersion": "1.1.0", "name": "podnet", "type": "nosuch"}]}
    err = _status(conf, f"{tmp_path}/bin:/nonexistent")  # binDir is on CNI_PATH too
    assert err["code"] == multus.PLUGIN_NOT_AVAILABLE
    assert err["msg"] == (f'DelegateStatus: network podnet: failed to find plugin "nosuch" '
                          f"in path [{tmp_path}/bin /nonexistent]")


def test_a_missing_cluster_network_file_says_file_not_found(tmp_path: Path) -> None:
    missing = tmp_path / "net.d" / "10-flannel.conflist"
    conf = {"cniVersion": "1.1.0", "name": "multus-cni-network", "type": "multus", "clusterNetwork": str(missing),
            "cniDir": str(tmp_path / "cni"), "confDir": str(tmp_path / "net.d")}
    out = io.StringIO()
    code = multus.run_cni(env={"CNI_COMMAND": "STATUS", "CNI_PATH": "/nonexistent"}, stdin=json.dumps(conf),
                          stdout=out, stderr=io.StringIO(), argv=[])
    assert code == 1
    assert json.loads(out.getvalue()) == {"cniVersion": "1.1.0", "code": multus.INVALID_CONFIG,
                                          "msg": f"clusterNetwork {missing}: file not found"}


def test_no_networks_found_names_the_missing_network(request_context: Callable[..., Any], tmp_path: Path) -> None:
    from multus_local import source as local  # the built-in file source, as installed

    conf_dir = tmp_path / "empty.d"
    conf_dir.mkdir()
    ctx = request_context(conf={"confDir": str(conf_dir)}, plugins=[local])
    with pytest.raises(multus.CNIError) as e:
        ctx.plugins.source_network(ctx, multus.NetworkRef("blue", "default", multus.ANNOTATION))
    assert (e.value.code, e.value.msg) == (multus.INVALID_CONFIG,
                                           f"No networks found in {conf_dir} (looking for network 'blue')")


def test_the_cni_name_rule_is_gos_and_the_local_source_uses_it(request_context: Callable[..., Any],
                                                                 tmp_path: Path) -> None:
    from multus_local import source as local

    assert multus.valid_cni_name("sriov-chain")
    assert not multus.valid_cni_name("sriov-chain\n")  # Go's $ refuses a trailing newline
    assert not multus.valid_cni_name("-chain")
    cluster = tmp_path / "net.d" / "10-cluster.conflist"
    cluster.parent.mkdir()
    cluster.write_text(json.dumps({"cniVersion": "1.0.0", "name": "cluster", "plugins": [{"type": "bridge"}]}))
    ctx = request_context(conf={"clusterNetwork": str(cluster)}, plugins=[local])
    with pytest.raises(multus.CNIError) as e:
        ctx.plugins.source_network(ctx, multus.NetworkRef("chain\n", "", multus.AUXILIARY))
    assert e.value.msg == "auxiliaryCNIChainName: invalid name 'chain\\n'"


def test_at_debug_level_each_delegate_call_logs_its_binary_verb_and_duration(
        tmp_path: Path, capfd: pytest.CaptureFixture[str], multus_logger_restored: None) -> None:
    conf = {"cniVersion": "1.1.0", "name": "multus-cni-network", "type": "multus", "binDir": str(tmp_path / "bin"),
            "cniDir": str(tmp_path / "cni"), "confDir": str(tmp_path / "net.d"), "logLevel": "debug",
            "logToStderr": True, "delegates": [{"cniVersion": "1.1.0", "name": "podnet", "type": "nosuch"}]}
    _status(conf, "/nonexistent")
    err = capfd.readouterr().err
    assert (f"STATUS podnet (podnet, ifname eth0): plugin nosuch from ['{tmp_path}/bin', '/nonexistent'], "
            'config {"cniVersion": "1.1.0", "name": "podnet", "type": "nosuch"}') in err, err
    assert re.search(r"STATUS podnet \(plugin nosuch\) took [0-9]+\.[0-9]{3} s", err), err
