"""Each rule lives in one place, and every part of multus that needs it gives the same answer.

The places that used to carry their own copy (the annotation parser, the plugin executor, the
result decoder, libcni, the request checks, the thick shim) are asked the same questions here;
where two copies used to disagree, the answer checked is Go's (upstream Multus and libcni).
"""

from __future__ import annotations

import inspect
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

import multus
from multus import gocompat
from multus.cli import shim
from multus.cni import conf, invoke, libcni, names, request, result
from multus.engine import cache, defaults, devices, gateway, netstatus, plan, selection
from multus.engine.models import Attachment, Delegate
from multus.errors import DECODE_FAILURE, INVALID_CONFIG, INVALID_ENV, CNIError
from multus.testing.context import make_context

# --------------------------------------------------------------------------------------------------
# Go's encoding/json, strconv.Quote and net: multus.gocompat only


def test_the_go_emulation_left_the_annotation_parser() -> None:
    for gone in ("_GoScanner", "_go_quote", "_go_parse_ip", "_go_parse_cidr", "_go_parse_mac", "_go_trim_space",
                 "_fold", "_match_field", "_scrub", "_plain", "_Num", "_Obj", "_JSONFailure", "_GO_SPACE",
                 "_cni_ifname_problem", "_IFNAMSIZ"):
        assert not hasattr(selection, gone), gone
    assert len(inspect.getsource(selection).splitlines()) < 400


def test_the_twins_are_gone_or_the_same_function() -> None:
    assert invoke.go_quote is gocompat.quote
    assert libcni.go_quote is gocompat.quote
    assert result.canonical_ip is gocompat.canonical_ip
    assert result.canonical_cidr is gocompat.canonical_cidr
    assert not hasattr(result, "_go_ip")
    assert not hasattr(request, "_reject_constant") and not hasattr(request, "_NAME_RE")
    assert not hasattr(libcni, "_NAME_RE") and not hasattr(libcni, "_MAX_IFNAME")


@pytest.mark.parametrize(("value", "go"), [
    ("plain", '"plain"'),
    ('say "hi"\\', '"say \\"hi\\"\\\\"'),
    ("a\x01b", '"a\\x01b"'),           # json.dumps wrote \u0001
    ("\x7f", '"\\x7f"'),               # json.dumps left DEL raw
    ("\a\b\f\n\r\t\v", '"\\a\\b\\f\\n\\r\\t\\v"'),  # json.dumps wrote \u0007 and \u000b
    ("\u2028", '"\\u2028"'),          # json.dumps (ensure_ascii=False) left it raw
    ("\u00a0", '"\\u00a0"'),
    ("é\U0001f600", '"é\U0001f600"'),  # printable: as is
    ("\U000e0001", '"\\U000e0001"'),
    (b"bad\xff\xfe", '"bad\\xff\\xfe"'),  # not UTF-8: byte by byte, as Go's string(b)
    ("\ud800", '"\\xed\\xa0\\x80"'),    # a lone surrogate is invalid UTF-8 to Go
])
def test_quote_is_strconv_quote(value: str | bytes, go: str) -> None:
    assert gocompat.quote(value) == go


def test_a_plugins_stderr_is_quoted_as_libcni_quotes_it() -> None:
    """libcni: ``netplugin failed: %q: %w`` of the raw stderr bytes."""
    err = invoke._plugin_error(1, b"", b"boom\x01\xff\n")
    assert err.msg == 'netplugin failed: "boom\\x01\\xff\\n": exit status 1'
    err = invoke._plugin_error(1, b"{not json\x07", b"")
    assert err.msg.startswith('netplugin failed but error parsing its diagnostic message "{not json\\a": ')


def test_nan_is_not_json_anywhere(tmp_path: Path) -> None:
    """Go's decoder refuses NaN/Infinity; Python's json accepts them unless told not to."""
    with pytest.raises(ValueError):
        gocompat.loads('{"a": NaN}')
    with pytest.raises(CNIError) as e:
        request.decode_config(b'{"cniVersion": "1.0.0", "mtu": Infinity}')
    assert e.value.code == DECODE_FAILURE
    with pytest.raises(CNIError) as e:
        result.parse_result('{"cniVersion": "1.0.0", "ips": [], "x": NaN}')
    assert e.value.code == DECODE_FAILURE
    plugin = tmp_path / "nan-plugin"
    plugin.write_text('#!/bin/sh\necho \'{"cniVersion": "1.0.0", "x": -Infinity}\'\n')
    plugin.chmod(0o755)
    with pytest.raises(CNIError) as e:
        invoke.exec_plugin(str(plugin), "ADD", b"{}", {"PATH": os.environ.get("PATH", "")}, 10)
    assert e.value.code == DECODE_FAILURE and "failed to decode its answer" in e.value.msg


def test_keys_match_by_gos_simple_folding_in_results_and_annotations() -> None:
    """``ſ`` (long s) folds with ``s`` in Go; Python's lower() does not know it."""
    assert gocompat.fold("dnſ") == gocompat.fold("DNS") and "dnſ".lower() != "dns"
    parsed = result.parse_result({"cniVersion": "1.0.0", "dnſ": {"nameservers": ["10.0.0.10"]}})
    assert isinstance(parsed, result.Result100) and parsed.dns.nameservers == ("10.0.0.10",)
    sel = selection.parse_networks_annotation('[{"name": "a", "nameſpace": "b"}]', "default")
    assert sel[0].namespace == "b"


def test_cidr_and_ip_rules_agree_between_annotation_and_result() -> None:
    for text, canon in (("10.1.2.3/024", "10.1.2.3/24"), ("::ffff:1.2.3.4/120", "1.2.3.4/24"),
                        ("fd00::1/64", "fd00::1/64")):
        assert result.canonical_cidr(text) == canon
        selection.parse_networks_annotation(json.dumps([{"name": "a", "ips": [text]}]), "default")
    for bad in ("10.1.2.3/33", "10.1.2.3/", "1.2.3.04/24", "١.2.3.4/24", "fe80::1%eth0/64"):
        assert result.canonical_cidr(bad) is None
        with pytest.raises(CNIError):
            selection.parse_networks_annotation(json.dumps([{"name": "a", "ips": [bad]}]), "default")


def test_every_ip_in_multus_is_read_as_gos_parse_ip(tmp_path: Path) -> None:
    """Python's ipaddress takes a zone (``fe80::1%eth0``); Go's net.ParseIP does not."""
    from multus.engine import runtimeconf

    assert gocompat.parse_ip("fe80::1%eth0") is None
    ctx = make_context(str(tmp_path), args="IgnoreUnknown=true;IP=fe80::1%eth0")
    with pytest.raises(CNIError) as e:
        runtimeconf.validate_k8s_args(ctx.request)
    assert e.value.code == INVALID_ENV
    runtimeconf.validate_k8s_args(make_context(str(tmp_path), args="IgnoreUnknown=true;IP=fe80::1").request)
    d = Delegate(config={"name": "n", "type": "bridge"}, name="n", ifname="net1",
                 selection=selection.parse_networks_annotation('[{"name": "n", "default-route": ["10.0.0.1"]}]',
                                                               "default")[0])
    assert [str(g) for g in plan.gateways(d)] == ["10.0.0.1"]
    with pytest.raises(CNIError):
        plan.gateways(Delegate(config={}, name="n", ifname="net1",
                               selection=selection.NetworkSelection(name="n", namespace="d",
                                                                    default_route=("fe80::1%eth0",))))


# --------------------------------------------------------------------------------------------------
# One conflist predicate

MIXED = {"cniVersion": "1.0.0", "name": "mixed", "type": "bridge", "bridge": "br0",
         "plugins": [{"type": "tuning"}]}
LIST = {"cniVersion": "1.0.0", "name": "list", "plugins": [{"type": "bridge"}, {"type": "tuning"}]}
EMPTY_TYPE_LIST = {"cniVersion": "1.0.0", "name": "list", "type": "", "plugins": [{"type": "bridge"}]}


def test_a_config_with_a_type_is_a_single_conf_everywhere() -> None:
    """upstream's LoadDelegateNetConf: a non-empty ``type`` makes it a conf, ``plugins`` or not."""
    assert conf.is_conflist(MIXED) is False
    assert libcni.Network.from_config(MIXED).is_list is False
    assert libcni.Network.from_config(MIXED).plugins == [MIXED]
    d = Delegate(config=dict(MIXED), name="mixed", ifname="net1")
    assert d.is_list is False and d.plugin_type == "bridge"
    single, lst = cache._conf_part(dict(MIXED))
    assert single["type"] == "bridge" and lst == {}
    assert devices.inject_device_id(MIXED, "0000:01:00.1")["deviceID"] == "0000:01:00.1"
    assert "deviceID" not in devices.inject_device_id(MIXED, "0000:01:00.1")["plugins"][0]
    assert plan.inject_cni_args(dict(MIXED), {"k": "v"})["args"] == {"cni": {"k": "v"}}


@pytest.mark.parametrize("config", [LIST, EMPTY_TYPE_LIST], ids=["no-type", "empty-type"])
def test_a_config_without_a_type_is_a_conflist_everywhere(config: dict[str, Any]) -> None:
    assert conf.is_conflist(config) is True
    assert libcni.Network.from_config(config).is_list is True
    d = Delegate(config=dict(config), name="list", ifname="net1")
    assert d.is_list is True and d.plugin_type == "bridge"
    assert cache._conf_part(dict(config))[1]["plugins"][0]["type"] == "bridge"
    out = devices.inject_device_id(config, "0000:01:00.1")
    assert "deviceID" not in out and all(p["deviceID"] == "0000:01:00.1" for p in out["plugins"])
    assert all(p["args"] == {"cni": {"k": "v"}} for p in plan.inject_cni_args(dict(config), {"k": "v"})["plugins"])


def test_the_cache_reads_conflists_with_the_same_predicate() -> None:
    delegates = [Delegate(config={"name": "list", "plugins": [{"type": "bridge"}]}, name="list", ifname="eth0",
                              master=True),
                 Delegate(config={"name": "mixed", "type": "bridge", "plugins": []}, name="mixed", ifname="net1")]
    back = cache.decode(cache.encode(delegates), "eth0", "1.0.0")
    assert back[0].config["cniVersion"] == "1.0.0"  # a conflist gets multus' version
    assert "cniVersion" not in back[1].config        # a conf does not


# --------------------------------------------------------------------------------------------------
# One interface-name rule

NAMES = ["eth0", "net1", "x" * 15, "x" * 16, "é" * 7, "é" * 8, "日本語の名前", "日本語の名前だ", ".", "..", "a.b",
         "a/b", "eth0:1", "a b", "a\tb", "a\u00a0b", "a\u3000b", "a\x1cb", "a\x00b", "a\x1bb", "a\u200bb", "\ud800"]


@pytest.mark.parametrize("name", NAMES)
def test_every_interface_name_check_gives_the_rules_verdict(name: str) -> None:
    problem = names.interface_name_problem(name)
    valid = problem == ""

    def verdict(check: Any) -> bool:
        try:
            check()
        except (CNIError, shim.ShimError):
            return False
        return True

    assert verdict(lambda: libcni.validate_interface_name(name)) is valid
    assert verdict(lambda: request.validate_interface_name(name)) is valid
    # the annotation is JSON: Go's decoder turns a lone surrogate into U+FFFD before the rule is applied
    assert verdict(lambda: selection.parse_networks_annotation(json.dumps([{"name": "n", "interface": name}]),
                                                                 "default")) is (
        names.interface_name_problem(gocompat.scrub(name)) == "")
    env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_NETNS": "/run/netns/x", "CNI_IFNAME": name,
           "CNI_PATH": "/opt/cni/bin"}
    stdin = b'{"cniVersion": "1.0.0", "name": "multus-cni-network", "type": "multus-shim"}'
    assert verdict(lambda: shim._check_request(env, stdin)) is valid
    if valid:
        return
    with pytest.raises(CNIError) as e:
        libcni.validate_interface_name(name)
    assert (e.value.code, e.value.msg) == (INVALID_ENV, problem)
    with pytest.raises(CNIError) as e:
        request.validate_interface_name(name)
    assert e.value.code == INVALID_ENV and e.value.msg.startswith(f"CNI_IFNAME: {problem}")


def test_the_limit_is_fifteen_bytes_not_characters() -> None:
    assert names.MAX_IFNAME_BYTES == names.IFNAMSIZ - 1 == 15
    assert names.interface_name_problem("é" * 7) == ""                       # 14 bytes
    assert names.interface_name_problem("é" * 8) == names.IFNAME_TOO_LONG    # 8 characters, 16 bytes
    with pytest.raises(CNIError) as e:  # the short form: upstream's own text
        selection.parse_networks_annotation("net1@" + "é" * 8, "default")
    assert "must be less than 15 chars" in e.value.msg
    env = {"CNI_COMMAND": "DEL", "CNI_CONTAINERID": "c1", "CNI_IFNAME": "é" * 8, "CNI_PATH": "/opt/cni/bin"}
    with pytest.raises(shim.ShimError):  # the shim counted characters
        shim._check_request(env, b'{"cniVersion": "1.0.0", "name": "n", "type": "multus-shim"}')


def test_container_ids_and_network_names_end_where_gos_regexp_ends() -> None:
    """Go's ``$`` is the end of the text; Python's ``re.match`` with ``$`` let a trailing newline pass."""
    for name in ("abc-1.2_3", "abc\n", "-abc", "a b", "", "Ab9"):
        assert shim._valid_name(name) is names.valid_name(name), name  # the shim's stdlib copy agrees
    assert names.valid_name("abc-1.2_3") and not names.valid_name("abc\n") and not names.valid_name("-abc")
    with pytest.raises(CNIError):
        libcni.validate_container_id("abc\n")
    with pytest.raises(CNIError):
        libcni.validate_network_name("net\n")
    env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "abc\n", "CNI_NETNS": "/run/netns/x", "CNI_IFNAME": "eth0",
           "CNI_PATH": "/opt/cni/bin"}
    with pytest.raises(CNIError) as e:
        request.from_environ(env, b'{"cniVersion": "1.0.0", "name": "n", "type": "bridge"}')
    assert e.value.code == INVALID_ENV


# --------------------------------------------------------------------------------------------------
# One delegate-config validation


def test_one_validate_delegate_config() -> None:
    assert plan.validate_delegate_config is conf.validate_delegate_config
    assert multus.validate_delegate_config is conf.validate_delegate_config


@pytest.mark.parametrize(("config", "msg"), [
    ({"cniVersion": "1.0.0"}, "network 'x': delegate must have the 'type' or 'plugin' field"),
    ({"plugins": []}, "network 'x': 'plugins' must be a non-empty array of objects"),
    ({"plugins": [{"mtu": 1}]}, "network 'x': a plugin delegate must have the 'type' field"),
    ({"type": 5}, "network 'x': 'type' must be a string"),
    # libcni's checks, which used to wait until the delegate ran (after earlier delegates' ADD)
    ({"plugins": [{"type": "bridge"}]}, "network 'x': error parsing configuration list: no name"),
    ({"name": "l", "plugins": [{"type": "bridge"}, {"mtu": 1}]},
     "network 'x': failed to parse plugin config 1: error parsing configuration: missing 'type'"),
    ({"name": "c", "type": "bridge", "capabilities": {"ips": "yes"}},
     "network 'x': error parsing configuration: 'capabilities' must be a map of capability name to boolean"),
])
def test_a_bad_delegate_config_is_refused_before_anything_runs(config: dict[str, Any], msg: str) -> None:
    with pytest.raises(CNIError) as e:
        conf.validate_delegate_config(config, "network 'x'")
    assert (e.value.code, e.value.msg) == (INVALID_CONFIG, msg)


def test_libcni_checks_with_the_same_function() -> None:
    bad = {"name": "l", "plugins": [{"type": "bridge"}, {"mtu": 1}]}
    with pytest.raises(CNIError) as direct:
        conf.check_config(bad)
    with pytest.raises(CNIError) as via_libcni:
        libcni.Network.from_config(bad)
    assert direct.value.msg == via_libcni.value.msg


def test_plan_refuses_a_bad_static_delegate(tmp_path: Path) -> None:
    ctx = make_context(str(tmp_path), conf={"delegates": [
        {"cniVersion": "1.0.0", "name": "cluster", "type": "bridge"},
        {"cniVersion": "1.0.0", "name": "second", "plugins": [{"type": "bridge"}, {"mtu": 1}]}]})
    with pytest.raises(CNIError) as e:
        plan.plan(ctx)
    assert e.value.msg == ("network 'delegates[1]': failed to parse plugin config 1: error parsing "
                           "configuration: missing 'type'")


# --------------------------------------------------------------------------------------------------
# A delegate's result is parsed once per request

RESULT_040 = {"cniVersion": "0.4.0", "interfaces": [{"name": "eth0", "sandbox": "/run/netns/x", "mac": "0a:58:0a:00:00:05"}],
              "ips": [{"version": "4", "address": "10.0.0.5/24", "gateway": "10.0.0.1", "interface": 0}],
              "dns": {}}


def test_a_result_is_parsed_once_for_status_events_and_the_merged_result(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from multus_k8s.status import added_interface_message

    calls: list[object] = []
    real = result.parse_result

    def counting(data: Any, version: str | None = None) -> result.Result:
        calls.append(data)
        return real(data, version)

    monkeypatch.setattr(result, "parse_result", counting)
    ctx = make_context(str(tmp_path))  # the multus config says 1.0.0: the merged result is converted
    att = Attachment(delegate=Delegate(config={"name": "cluster", "type": "bridge"}, name="cluster",
                                       ifname="eth0", master=True), result=dict(RESULT_040))
    status = netstatus.network_status([att])
    merged = defaults.multus_result_merge(ctx, [att])
    message = added_interface_message(att)
    assert len(calls) == 1
    assert att.parsed_result is att.parsed_result
    assert status[0]["ips"] == ["10.0.0.5"] and merged["cniVersion"] == "1.0.0"
    assert message == "Add eth0 [10.0.0.5/24] from cluster"


# --------------------------------------------------------------------------------------------------
# libcni's result cache: written by libcni only, atomically


def test_the_gateway_rewrites_the_result_cache_through_libcni(tmp_path: Path) -> None:
    assert "open(" not in inspect.getsource(gateway) and "os.replace" not in inspect.getsource(gateway)
    ctx = make_context(str(tmp_path))
    net = libcni.Network.from_config({"cniVersion": "1.0.0", "name": "blue", "type": "bridge"})
    rt = libcni.RuntimeConf(container_id=ctx.request.container_id, netns="/run/netns/x", ifname="net1",
                            args=(("K8S_POD_NAME", "p"),), cache_dir=ctx.conf.cni_dir)
    cached = {"cniVersion": "1.0.0", "interfaces": [{"name": "net1", "sandbox": "/run/netns/x"}],
              "ips": [{"address": "10.1.0.5/24", "gateway": "10.1.0.1", "interface": 0}],
              "routes": [{"dst": "0.0.0.0/0", "gw": "10.1.0.1"}]}
    path = libcni.write_cached_result(net, rt, cached)
    os.chmod(path, 0o644)
    before = os.stat(path).st_ino
    d = Delegate(config=net.config, name="blue", ifname="net1", filter_v4_gateway=True)
    out = gateway._edit_result(ctx, d, dict(cached), {4}, [])
    assert out["routes"] == []
    info = json.loads(Path(path).read_bytes())
    assert info["result"]["routes"] == [] and info["cniArgs"] == [["K8S_POD_NAME", "p"]]
    assert info["kind"] == "cniCacheV1" and info["networkName"] == "blue"
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_ino != before  # a new file renamed over the old
    assert sorted(os.listdir(os.path.dirname(path))) == [os.path.basename(path)]  # no temp file left


def test_editing_a_missing_cache_writes_nothing(tmp_path: Path) -> None:
    assert libcni.edit_cached_result(str(tmp_path), "blue", "c1", "net1", lambda r: r) is False
    assert not (tmp_path / "results").exists()


# --------------------------------------------------------------------------------------------------
# Layers and logs


def _imports(path: Path) -> set[str]:
    import ast

    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module" and node.args \
                and isinstance(node.args[0], ast.Constant):
            out.add(str(node.args[0].value))
    return out


def test_the_plugin_layer_imports_no_engine_module_not_even_for_annotations() -> None:
    """No ``engine/models <-> plugin/manager`` cycle: every import of multus.plugin, those under
    ``TYPE_CHECKING`` and ``importlib.import_module`` calls included, stays out of the engine."""
    plugin_dir = Path(multus.__file__).parent / "plugin"
    for path in sorted(plugin_dir.glob("*.py")):
        engine = sorted(m for m in _imports(path) if m == "multus.engine" or m.startswith("multus.engine."))
        assert engine == [], f"{path.name} imports {engine}"
    from multus.engine import models as engine_models
    from multus.plugin import models

    assert engine_models.Delegate is models.Delegate and engine_models.RequestContext is models.RequestContext
    assert multus.Attachment is models.Attachment and selection.NetworkSelection is models.NetworkSelection


class _Answers:
    @multus.hookimpl(tryfirst=True)
    def multus_delegate_invoke(self, delegate: Delegate, command: str) -> dict[str, Any]:
        return dict(RESULT_040) if command == "ADD" else {}


def test_the_add_log_shows_the_result_as_json(tmp_path: Path, pod_netns: Any,
                                               caplog: pytest.LogCaptureFixture) -> None:
    from multus.engine import add

    netns = f"/run/netns/{pod_netns()}"
    ctx = make_context(str(tmp_path), plugins=[_Answers()], env={"CNI_NETNS": netns})
    with caplog.at_level("INFO", logger="multus"):
        add.add(ctx)
    line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("Add: "))
    assert line.endswith(" " + json.dumps(RESULT_040, separators=(",", ":"))), line
    assert "{'" not in line
