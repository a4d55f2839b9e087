"""multus.cni.invoke and multus.cni.libcni against fake plugin binaries written to tmp_path."""

from __future__ import annotations

import base64
import errno
import json
import logging
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from multus.cni import invoke, libcni
from multus.cni.invoke import build_env, exec_plugin, find_plugin, get_version_info
from multus.cni.libcni import (
    Network,
    RuntimeConf,
    add_network,
    build_plugin_config,
    check_network,
    del_network,
    delete_cached_result,
    gc_network,
    get_cached_info,
    get_cached_result,
    list_cached_attachments,
    status_network,
)
from multus.errors import (
    DECODE_FAILURE,
    DELEGATE_FAILED,
    INCOMPATIBLE_VERSION,
    INVALID_CONFIG,
    INVALID_ENV,
    PLUGIN_NOT_AVAILABLE,
    TIMEOUT,
    UNKNOWN_CONTAINER,
    CNIError,
)

# A fake plugin: records its environment and stdin (one JSON line per call), then answers.
# ADD answers prevResult (or an empty result) with its own interface appended.
FAKE = """#!{python}
import json, os, sys
NAME = {name!r}
RECORD = {record!r}
data = sys.stdin.read()
with open(RECORD, "a") as f:
    env = {{k: v for k, v in os.environ.items() if k.startswith(("CNI_", "FAKE_"))}}
    f.write(json.dumps({{"plugin": NAME, "env": env, "stdin": data}}) + "\\n")
cmd = os.environ.get("CNI_COMMAND")
conf = json.loads(data) if data.strip() else {{}}
{body}
if cmd == "ADD":
    res = dict(conf.get("prevResult") or {{"cniVersion": conf.get("cniVersion"), "interfaces": []}})
    res["interfaces"] = list(res.get("interfaces", [])) + [{{"name": NAME}}]
    print(json.dumps(res))
elif cmd == "VERSION":
    print(json.dumps({{"cniVersion": "1.1.0", "supportedVersions": ["0.4.0", "1.0.0", "1.1.0"]}}))
"""

CID = "c0ffee"
T = 5.0  # generous timeout for the normal cases


class Lab:
    def __init__(self, tmp_path: Path) -> None:
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        self.record = tmp_path / "record.jsonl"
        self.cache = tmp_path / "cache"
        self.tmp = tmp_path

    def plugin(self, name: str, body: str = "", directory: Path | None = None) -> str:
        path = (directory or self.bin) / name
        path.write_text(FAKE.format(python=sys.executable, name=name, record=str(self.record), body=body))
        path.chmod(0o755)
        return str(path)

    def script(self, name: str, text: str) -> str:
        path = self.bin / name
        path.write_text(text)
        path.chmod(0o755)
        return str(path)

    def calls(self) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        out = []
        for line in self.record.read_text().splitlines():
            call = json.loads(line)
            call["conf"] = json.loads(call["stdin"]) if call["stdin"].strip() else None
            out.append(call)
        return out

    def reset(self) -> None:
        if self.record.exists():
            self.record.unlink()

    def rt(self, **kw: Any) -> RuntimeConf:
        base: dict[str, Any] = {"container_id": CID, "netns": "/var/run/netns/pod", "ifname": "net1",
                                "cache_dir": str(self.cache)}
        base.update(kw)
        return RuntimeConf(**base)

    @property
    def dirs(self) -> list[str]:
        return [str(self.bin)]


@pytest.fixture
def lab(tmp_path: Path) -> Lab:
    return Lab(tmp_path)


BASE_ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "FAKE_MARK": "base"}


def conflist(*types: str, version: str = "1.0.0", name: str = "mynet", **extra: Any) -> Network:
    return Network.from_config({"cniVersion": version, "name": name,
                                "plugins": [{"type": t} for t in types], **extra})


# =========================================================================== invoke.find_plugin

class TestFindPlugin:
    def test_first_directory_with_an_executable_wins(self, lab: Lab) -> None:
        d1, d2 = lab.tmp / "d1", lab.tmp / "d2"
        d1.mkdir()
        d2.mkdir()
        (d1 / "bridge").write_text("not executable")
        (d1 / "bridge").chmod(0o644)
        lab.plugin("bridge", directory=d2)
        other = lab.plugin("bridge")
        assert find_plugin("bridge", [str(lab.tmp / "nope"), str(d1), str(d2), str(lab.bin)]) == \
            str(d2 / "bridge")
        assert find_plugin("bridge", [str(lab.bin), str(d2)]) == other

    def test_directory_of_that_name_is_not_a_plugin(self, lab: Lab) -> None:
        (lab.bin / "sub").mkdir()
        with pytest.raises(CNIError) as ei:
            find_plugin("sub", lab.dirs)
        assert ei.value.code == PLUGIN_NOT_AVAILABLE

    def test_not_found_has_libcni_text(self, lab: Lab) -> None:
        with pytest.raises(CNIError) as ei:
            find_plugin("macvlan", ["/nonexistent/a", "/nonexistent/b"])
        assert ei.value.code == PLUGIN_NOT_AVAILABLE == 50
        assert ei.value.msg == 'failed to find plugin "macvlan" in path [/nonexistent/a /nonexistent/b]'

    @pytest.mark.parametrize("bad", ["", ".", "..", "../bridge", "a/b", "/usr/lib/cni/bridge"])
    def test_type_must_be_a_plain_name(self, lab: Lab, bad: str) -> None:
        lab.plugin("bridge")
        with pytest.raises(CNIError) as ei:
            find_plugin(bad, lab.dirs)
        assert ei.value.code == INVALID_CONFIG
        assert "'type'" in ei.value.msg


# =========================================================================== invoke.build_env

def test_build_env_sets_all_six_and_overrides_base() -> None:
    base = {"PATH": "/bin", "CNI_COMMAND": "ADD", "CNI_ARGS": "old=1", "OTHER": "x"}
    env = build_env(base, "DEL", "cid", "", "eth0", "", "/opt/cni/bin:/usr/lib/cni")
    assert env == {"PATH": "/bin", "OTHER": "x", "CNI_COMMAND": "DEL", "CNI_CONTAINERID": "cid",
                   "CNI_NETNS": "", "CNI_ARGS": "", "CNI_IFNAME": "eth0",
                   "CNI_PATH": "/opt/cni/bin:/usr/lib/cni"}
    assert base["CNI_COMMAND"] == "ADD"  # not modified


# =========================================================================== invoke.exec_plugin

def env_for(lab: Lab, command: str = "ADD") -> dict[str, str]:
    return build_env(BASE_ENV, command, CID, "/ns", "eth0", "", str(lab.bin))


class TestExecPlugin:
    def test_result_and_exact_env(self, lab: Lab) -> None:
        path = lab.plugin("p")
        stdin = b'{"cniVersion":"1.0.0","name":"n","type":"p"}'
        res = exec_plugin(path, "ADD", stdin, env_for(lab), T)
        assert res == {"cniVersion": "1.0.0", "interfaces": [{"name": "p"}]}
        (call,) = lab.calls()
        assert call["stdin"] == stdin.decode()
        assert call["env"] == {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": CID, "CNI_NETNS": "/ns",
                               "CNI_ARGS": "", "CNI_IFNAME": "eth0", "CNI_PATH": str(lab.bin),
                               "FAKE_MARK": "base"}

    def test_only_the_given_env_reaches_the_plugin(self, lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("FAKE_LEAK", "1")
        path = lab.plugin("p")
        exec_plugin(path, "ADD", b"{}", env_for(lab), T)
        assert "FAKE_LEAK" not in lab.calls()[0]["env"]

    def test_empty_stdout_is_none(self, lab: Lab) -> None:
        path = lab.plugin("p")
        assert exec_plugin(path, "DEL", b"{}", env_for(lab, "DEL"), T) is None

    def test_want_result_false_ignores_stdout(self, lab: Lab) -> None:
        path = lab.script("p", "#!/bin/sh\necho 'not json at all'\n")
        assert exec_plugin(path, "DEL", b"{}", env_for(lab, "DEL"), T, want_result=False) is None

    def test_error_json_keeps_the_delegate_code(self, lab: Lab) -> None:
        path = lab.script("p", "#!/bin/sh\ncat >/dev/null\necho 'some noise' >&2\n"
                          "echo '{\"cniVersion\":\"1.0.0\",\"code\":11,\"msg\":\"busy\",\"details\":\"later\"}'\n"
                          "exit 1\n")
        with pytest.raises(CNIError) as ei:
            exec_plugin(path, "ADD", b"{}", env_for(lab), T)
        assert (ei.value.code, ei.value.msg, ei.value.details) == (11, "busy", "later")

    def test_error_json_without_code(self, lab: Lab) -> None:
        path = lab.script("p", "#!/bin/sh\necho '{\"msg\":\"oops\"}'\nexit 1\n")
        with pytest.raises(CNIError) as ei:
            exec_plugin(path, "ADD", b"{}", env_for(lab), T)
        assert (ei.value.code, ei.value.msg) == (DELEGATE_FAILED, "oops")

    def test_error_stdout_not_json(self, lab: Lab) -> None:
        path = lab.script("p", "#!/bin/sh\necho 'bad things'\nexit 1\n")
        with pytest.raises(CNIError) as ei:
            exec_plugin(path, "ADD", b"{}", env_for(lab), T)
        assert ei.value.msg.startswith('netplugin failed but error parsing its diagnostic message "bad things\\n"')

    def test_stderr_only(self, lab: Lab) -> None:
        path = lab.script("p", "#!/bin/sh\necho 'boom: no bridge' >&2\nexit 3\n")
        with pytest.raises(CNIError) as ei:
            exec_plugin(path, "ADD", b"{}", env_for(lab), T)
        assert ei.value.code == DELEGATE_FAILED
        assert ei.value.msg == 'netplugin failed: "boom: no bridge\\n": exit status 3'

    def test_no_message_at_all(self, lab: Lab) -> None:
        path = lab.script("p", "#!/bin/sh\nexit 2\n")
        with pytest.raises(CNIError) as ei:
            exec_plugin(path, "ADD", b"{}", env_for(lab), T)
        assert ei.value.msg == "netplugin failed with no error message: exit status 2"

    def test_killed_by_a_signal(self, lab: Lab) -> None:
        path = lab.script("p", "#!/bin/sh\nkill -SEGV $$\n")
        with pytest.raises(CNIError) as ei:
            exec_plugin(path, "ADD", b"{}", env_for(lab), T)
        assert ei.value.code == DELEGATE_FAILED
        assert ei.value.msg.startswith("netplugin failed with no error message: signal: SIGSEGV")

    def test_garbage_on_success_is_a_decode_failure(self, lab: Lab) -> None:
        path = lab.script("p", "#!/bin/sh\necho '{truncated'\n")
        with pytest.raises(CNIError) as ei:
            exec_plugin(path, "ADD", b"{}", env_for(lab), T)
        assert ei.value.code == DECODE_FAILURE
        assert path in ei.value.msg

    def test_non_object_on_success_is_a_decode_failure(self, lab: Lab) -> None:
        path = lab.script("p", "#!/bin/sh\necho '[1, 2]'\n")
        with pytest.raises(CNIError) as ei:
            exec_plugin(path, "ADD", b"{}", env_for(lab), T)
        assert ei.value.code == DECODE_FAILURE
        assert path in ei.value.msg

    def test_timeout_kills_the_whole_group(self, lab: Lab) -> None:
        pidfile = lab.tmp / "child.pid"
        path = lab.script("p", f"#!/bin/sh\nsleep 60 &\necho $! > {pidfile}\nsleep 60\n")
        start = time.monotonic()
        with pytest.raises(CNIError) as ei:
            exec_plugin(path, "ADD", b"{}", env_for(lab), 0.5)
        elapsed = time.monotonic() - start
        assert ei.value.code == TIMEOUT == 102
        assert ei.value.msg == f"plugin {path} (ADD) did not answer within 0.5 s"
        assert elapsed < 4
        child = int(pidfile.read_text())
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            try:
                state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except (FileNotFoundError, ProcessLookupError):
                break
            if state in ("Z", "X"):
                break
            time.sleep(0.05)
        else:
            pytest.fail("the plugin's background child survived the timeout")

    def test_stderr_goes_to_the_log_not_stdout(self, lab: Lab, caplog: pytest.LogCaptureFixture,
                                               capfd: pytest.CaptureFixture[str]) -> None:
        path = lab.script("p", "#!/bin/sh\necho 'diagnostic chatter' >&2\necho '{\"cniVersion\":\"1.0.0\"}'\n")
        with caplog.at_level(logging.DEBUG, logger="multus.invoke"):
            assert exec_plugin(path, "ADD", b"{}", env_for(lab), T) == {"cniVersion": "1.0.0"}
        assert any("diagnostic chatter" in r.getMessage() and r.name == "multus.invoke"
                   for r in caplog.records)
        out, _ = capfd.readouterr()
        assert "diagnostic chatter" not in out

    def test_text_file_busy_is_retried(self, lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(invoke, "ETXTBSY_SLEEP", 0.1)
        path = lab.plugin("p")
        fd = os.open(path, os.O_WRONLY)  # an open writer makes exec fail with ETXTBSY
        timer = threading.Timer(0.25, os.close, (fd,))
        timer.start()
        try:
            res = exec_plugin(path, "ADD", b'{"cniVersion":"1.0.0"}', env_for(lab), T)
        finally:
            timer.join()
        assert res is not None and res["interfaces"] == [{"name": "p"}]

    def test_text_file_busy_gives_up(self, lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(invoke, "ETXTBSY_SLEEP", 0.01)
        path = lab.plugin("p")
        fd = os.open(path, os.O_WRONLY)
        spawned: list[int] = []
        real_popen = subprocess.Popen

        def counting_popen(*a: Any, **kw: Any) -> Any:
            spawned.append(1)
            return real_popen(*a, **kw)

        monkeypatch.setattr(subprocess, "Popen", counting_popen)
        try:
            with pytest.raises(CNIError) as ei:
                exec_plugin(path, "ADD", b"{}", env_for(lab), T)
        finally:
            os.close(fd)
        assert len(spawned) == invoke.ETXTBSY_RETRIES + 1
        assert os.strerror(errno.ETXTBSY) in ei.value.msg

    def test_binary_vanished(self, lab: Lab) -> None:
        with pytest.raises(CNIError) as ei:
            exec_plugin(str(lab.bin / "gone"), "ADD", b"{}", env_for(lab), T)
        assert ei.value.code == PLUGIN_NOT_AVAILABLE


class TestVersionInfo:
    def test_version_info(self, lab: Lab) -> None:
        path = lab.plugin("p")
        info = get_version_info(path, BASE_ENV, T)
        assert info == {"cniVersion": "1.1.0", "supportedVersions": ["0.4.0", "1.0.0", "1.1.0"]}
        (call,) = lab.calls()
        assert call["conf"] == {"cniVersion": "1.1.0"}
        assert call["env"] == {"CNI_COMMAND": "VERSION", "CNI_CONTAINERID": "", "CNI_NETNS": "dummy",
                               "CNI_ARGS": "", "CNI_IFNAME": "dummy", "CNI_PATH": "dummy",
                               "FAKE_MARK": "base"}

    def test_plugin_that_does_not_know_version(self, lab: Lab) -> None:
        path = lab.script("p", "#!/bin/sh\necho '{\"code\":4,\"msg\":\"unknown CNI_COMMAND: VERSION\"}'\nexit 1\n")
        assert get_version_info(path, BASE_ENV, T) == {"cniVersion": "0.1.0", "supportedVersions": ["0.1.0"]}

    def test_020_without_supported_versions(self, lab: Lab) -> None:
        path = lab.script("p", "#!/bin/sh\necho '{\"cniVersion\":\"0.2.0\"}'\n")
        assert get_version_info(path, BASE_ENV, T)["supportedVersions"] == ["0.1.0", "0.2.0"]

    @pytest.mark.parametrize("answer", ['{"supportedVersions":["1.0.0"]}', '{"cniVersion":"1.0.0"}'])
    def test_incomplete_answers(self, lab: Lab, answer: str) -> None:
        path = lab.script("p", f"#!/bin/sh\necho '{answer}'\n")
        with pytest.raises(CNIError) as ei:
            get_version_info(path, BASE_ENV, T)
        assert ei.value.code == DECODE_FAILURE
        assert "decoding version info: missing field" in ei.value.msg


# =========================================================================== Network

class TestNetwork:
    def test_single_conf(self) -> None:
        conf = {"cniVersion": "0.3.1", "name": "n1", "type": "macvlan", "master": "eth0", "x-unknown": [1]}
        net = Network.from_config(conf)
        assert not net.is_list
        assert (net.name, net.cni_version) == ("n1", "0.3.1")
        assert net.plugins == [conf]
        assert json.loads(net.raw_bytes) == conf

    def test_conflist(self) -> None:
        conf = {"cniVersion": "1.0.0", "name": "l", "x-top": True,
                "plugins": [{"type": "bridge", "k": 1}, {"type": "tuning"}]}
        net = Network.from_config(conf)
        assert net.is_list and net.name == "l" and net.cni_version == "1.0.0"
        assert [p["type"] for p in net.plugins] == ["bridge", "tuning"]
        assert json.loads(net.raw_bytes) == conf

    def test_from_bytes_keeps_the_bytes(self) -> None:
        raw = b'{ "name": "l",  "cniVersion": "1.0.0", "plugins": [ {"type": "bridge"} ] }\n'
        assert Network.from_bytes(raw).raw_bytes == raw

    def test_cni_versions_picks_the_highest_known(self) -> None:
        net = Network.from_config({"name": "l", "cniVersion": "0.4.0", "cniVersions": ["1.0.0", "9.9.9"],
                                   "plugins": [{"type": "a"}]})
        assert net.cni_version == "1.0.0"

    @pytest.mark.parametrize(("conf", "msg"), [
        ({"name": "n", "cniVersion": "1.0.0"}, "error parsing configuration: no 'type'; perhaps this is a .conflist?"),
        ({"name": "n", "type": 3}, "'type' must be a string"),
        ({"cniVersion": "1.0.0", "plugins": [{"type": "a"}]}, "error parsing configuration list: no name"),
        ({"name": 1, "plugins": [{"type": "a"}]}, "error parsing configuration list: invalid name type int"),
        ({"name": "l", "plugins": {"type": "a"}}, "error parsing configuration list: invalid 'plugins' type dict"),
        ({"name": "l", "plugins": []}, "error parsing configuration list: no plugins in list"),
        ({"name": "l", "plugins": [{"type": "a"}, {"name": "x"}]},
         "failed to parse plugin config 1: error parsing configuration: missing 'type'"),
        ({"name": "l", "plugins": ["bridge"]},
         "failed to parse plugin config 0: error parsing configuration: expected a JSON object, not str"),
        ({"name": "l", "plugins": [{"type": "a", "capabilities": {"ips": "yes"}}]}, "'capabilities'"),
        ({"name": "l", "disableCheck": "maybe", "plugins": [{"type": "a"}]},
         'error parsing configuration list: invalid value "maybe" for disableCheck'),
    ])
    def test_invalid(self, conf: dict[str, Any], msg: str) -> None:
        with pytest.raises(CNIError) as ei:
            Network.from_config(conf)
        assert ei.value.code == INVALID_CONFIG
        assert msg in ei.value.msg

    def test_disable_check_accepts_strings(self) -> None:
        assert conflist("a", disableCheck="True").disable_check
        assert not conflist("a", disableCheck=False).disable_check


# =========================================================================== build_plugin_config

def test_build_plugin_config_injects_and_filters_capabilities() -> None:
    plugin = {"type": "portmap", "name": "ignored", "cniVersion": "0.1.0", "snat": True,
              "capabilities": {"portMappings": True, "bandwidth": False, "ips": True},
              "runtimeConfig": {"old": 1}}
    original = json.loads(json.dumps(plugin))
    rt = RuntimeConf("cid", "/ns", "eth0", capability_args={
        "portMappings": [{"hostPort": 8080, "containerPort": 80}], "bandwidth": {"x": 1}, "mac": "aa"})
    prev = {"cniVersion": "1.0.0", "ips": []}
    out = json.loads(build_plugin_config(plugin, "net", "1.0.0", prev, rt))
    assert out == {"type": "portmap", "name": "net", "cniVersion": "1.0.0", "snat": True,
                   "capabilities": {"portMappings": True, "bandwidth": False, "ips": True},
                   "runtimeConfig": {"portMappings": [{"hostPort": 8080, "containerPort": 80}]},
                   "prevResult": prev}
    assert plugin == original


def test_build_plugin_config_without_matching_capabilities_keeps_runtime_config() -> None:
    plugin = {"type": "x", "capabilities": {"ips": True}, "runtimeConfig": {"kept": 1}}
    out = json.loads(build_plugin_config(plugin, "n", "1.0.0", None, RuntimeConf("c", "", "e",
                                                                                   capability_args={"mac": "a"})))
    assert out == {"type": "x", "capabilities": {"ips": True}, "runtimeConfig": {"kept": 1},
                   "name": "n", "cniVersion": "1.0.0"}
    assert "prevResult" not in out


# =========================================================================== add / check / del

class TestAdd:
    def test_chain_threads_prev_result_and_caches(self, lab: Lab) -> None:
        for t in ("a", "b", "c"):
            lab.plugin(t)
        net = Network.from_config({
            "cniVersion": "1.0.0", "name": "mynet",
            "plugins": [{"type": "a", "capabilities": {"portMappings": True}, "extra": {"k": "v"}},
                        {"type": "b", "capabilities": {"portMappings": False}},
                        {"type": "c"}]})
        rt = lab.rt(args=(("K8S_POD_NAME", "web"), ("IgnoreUnknown", "true")),
                    capability_args={"portMappings": [{"hostPort": 1}]})
        result = add_network(net, rt, lab.dirs, BASE_ENV, T)
        assert result == {"cniVersion": "1.0.0", "interfaces": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}
        calls = lab.calls()
        assert [c["plugin"] for c in calls] == ["a", "b", "c"]
        assert calls[0]["conf"] == {"type": "a", "capabilities": {"portMappings": True}, "extra": {"k": "v"},
                                    "name": "mynet", "cniVersion": "1.0.0",
                                    "runtimeConfig": {"portMappings": [{"hostPort": 1}]}}
        assert calls[1]["conf"] == {"type": "b", "capabilities": {"portMappings": False}, "name": "mynet",
                                    "cniVersion": "1.0.0",
                                    "prevResult": {"cniVersion": "1.0.0", "interfaces": [{"name": "a"}]}}
        assert calls[2]["conf"]["prevResult"] == {"cniVersion": "1.0.0",
                                                  "interfaces": [{"name": "a"}, {"name": "b"}]}
        for c in calls:
            assert c["env"]["CNI_COMMAND"] == "ADD"
            assert c["env"]["CNI_CONTAINERID"] == CID
            assert c["env"]["CNI_NETNS"] == "/var/run/netns/pod"
            assert c["env"]["CNI_IFNAME"] == "net1"
            assert c["env"]["CNI_ARGS"] == "K8S_POD_NAME=web;IgnoreUnknown=true"
            assert c["env"]["CNI_PATH"] == str(lab.bin)

        path = lab.cache / "results" / f"mynet-{CID}-net1"
        raw = path.read_bytes()
        data = json.loads(raw)
        assert list(data) == ["kind", "containerId", "config", "ifName", "networkName", "netns",
                              "cniArgs", "capabilityArgs", "result"]
        assert data == {"kind": "cniCacheV1", "containerId": CID,
                        "config": base64.b64encode(net.raw_bytes).decode(),
                        "ifName": "net1", "networkName": "mynet", "netns": "/var/run/netns/pod",
                        "cniArgs": [["K8S_POD_NAME", "web"], ["IgnoreUnknown", "true"]],
                        "capabilityArgs": {"portMappings": [{"hostPort": 1}]},
                        "result": result}
        assert json.loads(base64.b64decode(data["config"])) == net.config
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE((lab.cache / "results").stat().st_mode) == 0o700
        assert os.listdir(lab.cache / "results") == [f"mynet-{CID}-net1"]
        assert get_cached_result("mynet", rt) == result

    def test_cache_omits_empty_fields(self, lab: Lab) -> None:
        lab.plugin("a")
        rt = lab.rt(netns="")
        add_network(conflist("a"), rt, lab.dirs, BASE_ENV, T)
        data = json.loads((lab.cache / "results" / f"mynet-{CID}-net1").read_bytes())
        assert sorted(data) == ["config", "containerId", "ifName", "kind", "networkName", "result"]

    def test_single_conf_caches_its_own_bytes(self, lab: Lab) -> None:
        lab.plugin("a")
        raw = b'{"cniVersion":"0.4.0","name":"single","type":"a","x":1}'
        net = Network.from_bytes(raw)
        res = add_network(net, lab.rt(), lab.dirs, BASE_ENV, T)
        assert res["cniVersion"] == "0.4.0"
        assert lab.calls()[0]["conf"] == {"cniVersion": "0.4.0", "name": "single", "type": "a", "x": 1}
        info = get_cached_info(str(lab.cache / "results" / f"single-{CID}-net1"))
        assert info is not None and base64.b64decode(info["config"]) == raw

    def test_result_without_version_gets_the_config_version(self, lab: Lab) -> None:
        lab.script("a", "#!/bin/sh\ncat >/dev/null\necho '{\"ips\":[]}'\n")
        res = add_network(conflist("a", version="0.4.0"), lab.rt(), lab.dirs, BASE_ENV, T)
        assert res == {"ips": [], "cniVersion": "0.4.0"}

    def test_empty_answer_to_add_is_an_error(self, lab: Lab) -> None:
        lab.script("a", "#!/bin/sh\ncat >/dev/null\n")
        with pytest.raises(CNIError) as ei:
            add_network(conflist("a"), lab.rt(), lab.dirs, BASE_ENV, T)
        assert ei.value.code == DECODE_FAILURE

    def test_failure_mid_chain_names_the_plugin_and_writes_no_cache(self, lab: Lab) -> None:
        lab.plugin("a")
        lab.script("b", "#!/bin/sh\ncat >/dev/null\necho '{\"code\":7,\"msg\":\"bad master\",\"details\":\"eth9\"}'\n"
                        "exit 1\n")
        lab.plugin("c")
        net = Network.from_config({"cniVersion": "1.0.0", "name": "mynet",
                                   "plugins": [{"type": "a"}, {"type": "b", "name": "second"}, {"type": "c"}]})
        with pytest.raises(CNIError) as ei:
            add_network(net, lab.rt(), lab.dirs, BASE_ENV, T)
        assert ei.value.code == 7
        assert ei.value.msg == 'plugin type="b" name="second" failed (add): bad master'
        assert ei.value.details == "eth9"
        assert [c["plugin"] for c in lab.calls()] == ["a"]
        assert not (lab.cache / "results" / f"mynet-{CID}-net1").exists()

    def test_single_conf_errors_are_not_wrapped(self, lab: Lab) -> None:
        lab.script("a", "#!/bin/sh\necho '{\"code\":11,\"msg\":\"later\"}'\nexit 1\n")
        with pytest.raises(CNIError) as ei:
            add_network(Network.from_config({"cniVersion": "1.0.0", "name": "n", "type": "a"}),
                        lab.rt(), lab.dirs, BASE_ENV, T)
        assert (ei.value.code, ei.value.msg) == (11, "later")

    def test_missing_binary(self, lab: Lab) -> None:
        lab.plugin("a")
        with pytest.raises(CNIError) as ei:
            add_network(conflist("a", "nothere"), lab.rt(), lab.dirs, BASE_ENV, T)
        assert ei.value.code == PLUGIN_NOT_AVAILABLE
        assert ei.value.msg == (f'plugin type="nothere" failed (add): failed to find plugin "nothere" '
                                f'in path [{lab.bin}]')

    @pytest.mark.parametrize(("kw", "code", "msg"), [
        ({"container_id": ""}, UNKNOWN_CONTAINER, "missing containerID"),
        ({"container_id": "bad/id"}, INVALID_ENV, "invalid characters in containerID"),
        ({"ifname": "a-very-long-interface"}, INVALID_ENV, "interface name is too long"),
        ({"ifname": "eth0:1"}, INVALID_ENV, "interface name contains / or : or whitespace characters"),
        ({"ifname": ".."}, INVALID_ENV, "interface name is . or .."),
    ])
    def test_runtime_validation(self, lab: Lab, kw: dict[str, str], code: int, msg: str) -> None:
        lab.plugin("a")
        with pytest.raises(CNIError) as ei:
            add_network(conflist("a"), lab.rt(**kw), lab.dirs, BASE_ENV, T)
        assert ei.value.code == code
        assert ei.value.msg.endswith(msg)
        assert lab.calls() == []

    def test_network_name_validation(self, lab: Lab) -> None:
        lab.plugin("a")
        with pytest.raises(CNIError) as ei:
            add_network(conflist("a", name="bad name"), lab.rt(), lab.dirs, BASE_ENV, T)
        assert ei.value.code == INVALID_CONFIG
        assert "invalid characters found in network name" in ei.value.msg

    def test_timeout(self, lab: Lab) -> None:
        lab.plugin("a")
        lab.script("b", "#!/bin/sh\nexec sleep 30\n")
        with pytest.raises(CNIError) as ei:
            add_network(conflist("a", "b"), lab.rt(), lab.dirs, BASE_ENV, 0.5)
        assert ei.value.code == TIMEOUT
        assert "did not answer within 0.5 s" in ei.value.msg


class TestCheck:
    def test_check_uses_the_cached_result(self, lab: Lab) -> None:
        lab.plugin("a")
        lab.plugin("b")
        net = conflist("a", "b")
        rt = lab.rt(capability_args={"ips": ["10.0.0.2/24"]})
        result = add_network(net, rt, lab.dirs, BASE_ENV, T)
        lab.reset()
        check_network(net, rt, lab.dirs, BASE_ENV, T)
        calls = lab.calls()
        assert [c["plugin"] for c in calls] == ["a", "b"]
        for c in calls:
            assert c["env"]["CNI_COMMAND"] == "CHECK"
            assert c["conf"]["prevResult"] == result
            assert c["conf"]["name"] == "mynet"

    def test_check_needs_040(self, lab: Lab) -> None:
        lab.plugin("a")
        with pytest.raises(CNIError) as ei:
            check_network(conflist("a", version="0.3.1"), lab.rt(), lab.dirs, BASE_ENV, T)
        assert ei.value.code == INCOMPATIBLE_VERSION
        assert ei.value.msg == 'configuration version "0.3.1" does not support the CHECK command'
        assert lab.calls() == []

    def test_disable_check(self, lab: Lab) -> None:
        lab.plugin("a")
        check_network(conflist("a", disableCheck=True), lab.rt(), lab.dirs, BASE_ENV, T)
        assert lab.calls() == []

    def test_without_cache_plugins_get_no_prev_result(self, lab: Lab) -> None:
        lab.plugin("a")
        check_network(conflist("a"), lab.rt(), lab.dirs, BASE_ENV, T)
        assert "prevResult" not in lab.calls()[0]["conf"]

    def test_check_failure(self, lab: Lab) -> None:
        lab.plugin("a")
        net = conflist("a")
        add_network(net, lab.rt(), lab.dirs, BASE_ENV, T)
        lab.script("a", "#!/bin/sh\necho '{\"code\":100,\"msg\":\"veth missing\"}'\nexit 1\n")
        with pytest.raises(CNIError) as ei:
            check_network(net, lab.rt(), lab.dirs, BASE_ENV, T)
        assert (ei.value.code, ei.value.msg) == (100, "veth missing")

    def test_corrupt_cache_is_an_error(self, lab: Lab) -> None:
        lab.plugin("a")
        d = lab.cache / "results"
        d.mkdir(parents=True)
        (d / f"mynet-{CID}-net1").write_text("{not json")
        with pytest.raises(CNIError) as ei:
            check_network(conflist("a"), lab.rt(), lab.dirs, BASE_ENV, T)
        assert ei.value.code == DECODE_FAILURE
        assert 'failed to get network "mynet" cached result' in ei.value.msg


class TestDel:
    def test_reverse_order_with_cached_result_then_cache_removed(self, lab: Lab) -> None:
        for t in ("a", "b", "c"):
            lab.plugin(t)
        net = conflist("a", "b", "c")
        rt = lab.rt(args=(("K", "V"),))
        result = add_network(net, rt, lab.dirs, BASE_ENV, T)
        lab.reset()
        del_network(net, rt, lab.dirs, BASE_ENV, T)
        calls = lab.calls()
        assert [c["plugin"] for c in calls] == ["c", "b", "a"]
        for c in calls:
            assert c["env"]["CNI_COMMAND"] == "DEL"
            assert c["env"]["CNI_ARGS"] == "K=V"
            assert c["conf"]["prevResult"] == result
        assert os.listdir(lab.cache / "results") == []

    def test_second_del_without_cache(self, lab: Lab) -> None:
        lab.plugin("a")
        net = conflist("a")
        add_network(net, lab.rt(), lab.dirs, BASE_ENV, T)
        del_network(net, lab.rt(), lab.dirs, BASE_ENV, T)
        lab.reset()
        del_network(net, lab.rt(netns=""), lab.dirs, BASE_ENV, T)
        (call,) = lab.calls()
        assert "prevResult" not in call["conf"]
        assert call["env"]["CNI_NETNS"] == ""

    def test_before_040_no_prev_result_but_cache_removed(self, lab: Lab) -> None:
        lab.plugin("a")
        net = conflist("a", version="0.3.1")
        add_network(net, lab.rt(), lab.dirs, BASE_ENV, T)
        lab.reset()
        del_network(net, lab.rt(), lab.dirs, BASE_ENV, T)
        assert "prevResult" not in lab.calls()[0]["conf"]
        assert not (lab.cache / "results" / f"mynet-{CID}-net1").exists()

    def test_corrupt_cache_is_tolerated(self, lab: Lab) -> None:
        lab.plugin("a")
        d = lab.cache / "results"
        d.mkdir(parents=True)
        (d / f"mynet-{CID}-net1").write_text("garbage")
        del_network(conflist("a"), lab.rt(), lab.dirs, BASE_ENV, T)
        assert "prevResult" not in lab.calls()[0]["conf"]
        assert os.listdir(d) == []

    def test_failure_keeps_the_cache(self, lab: Lab) -> None:
        lab.plugin("a")
        lab.plugin("b")
        net = conflist("a", "b")
        add_network(net, lab.rt(), lab.dirs, BASE_ENV, T)
        lab.script("b", "#!/bin/sh\necho 'cannot' >&2\nexit 1\n")
        with pytest.raises(CNIError) as ei:
            del_network(net, lab.rt(), lab.dirs, BASE_ENV, T)
        assert ei.value.msg == 'plugin type="b" failed (delete): netplugin failed: "cannot\\n": exit status 1'
        assert (lab.cache / "results" / f"mynet-{CID}-net1").exists()

    def test_legacy_cache_format_is_read(self, lab: Lab) -> None:
        lab.plugin("a")
        d = lab.cache / "results"
        d.mkdir(parents=True)
        legacy = {"cniVersion": "0.4.0", "ips": [{"version": "4", "address": "10.1.1.2/24"}]}
        (d / f"mynet-{CID}-net1").write_text(json.dumps(legacy))
        del_network(conflist("a", version="0.4.0"), lab.rt(), lab.dirs, BASE_ENV, T)
        assert lab.calls()[0]["conf"]["prevResult"] == legacy


# =========================================================================== cache helpers

class TestCache:
    def test_atomic_write_leaves_the_old_file_on_failure(self, lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
        lab.plugin("a")
        net = conflist("a")
        rt = lab.rt()
        first = add_network(net, rt, lab.dirs, BASE_ENV, T)
        path = lab.cache / "results" / f"mynet-{CID}-net1"
        before = path.read_bytes()

        def boom(src: str, dst: str) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(os, "replace", boom)
        with pytest.raises(CNIError) as ei:
            add_network(net, rt, lab.dirs, BASE_ENV, T)
        assert 'failed to set network "mynet" cached result' in ei.value.msg
        assert path.read_bytes() == before
        assert os.listdir(lab.cache / "results") == [path.name]
        assert get_cached_result("mynet", rt) == first

    def test_reads_what_go_libcni_writes(self, lab: Lab) -> None:
        conf = b'{"cniVersion":"1.0.0","name":"gonet","plugins":[{"type":"bridge"}]}'
        d = lab.cache / "results"
        d.mkdir(parents=True)
        go = ('{"kind":"cniCacheV1","containerId":"abc","config":"CONFIG","ifName":"eth0","networkName":"gonet",'
              '"netns":"/var/run/netns/x","cniArgs":[["IgnoreUnknown","1"]],'
              '"capabilityArgs":{"io.kubernetes.cri.pod-annotations":{"a":"b"}},'
              '"result":{"cniVersion":"1.0.0","interfaces":[{"name":"eth0"}]}}'
              ).replace("CONFIG", base64.b64encode(conf).decode())
        (d / "gonet-abc-eth0").write_text(go)
        (atts,) = list_cached_attachments(str(lab.cache))
        assert atts == libcni.CachedAttachment(
            container_id="abc", ifname="eth0", network_name="gonet", netns="/var/run/netns/x",
            cni_args=(("IgnoreUnknown", "1"),),
            capability_args={"io.kubernetes.cri.pod-annotations": {"a": "b"}},
            config=json.loads(conf), result={"cniVersion": "1.0.0", "interfaces": [{"name": "eth0"}]},
            path=str(d / "gonet-abc-eth0"))
        assert get_cached_result("gonet", RuntimeConf("abc", "", "eth0", cache_dir=str(lab.cache))) == \
            {"cniVersion": "1.0.0", "interfaces": [{"name": "eth0"}]}

    def test_invalid_files_are_skipped(self, lab: Lab) -> None:
        d = lab.cache / "results"
        d.mkdir(parents=True)
        good = {"kind": "cniCacheV1", "containerId": "c1", "config": base64.b64encode(b'{"name":"n"}').decode(),
                "ifName": "eth0", "networkName": "n"}
        (d / "n-c1-eth0").write_text(json.dumps(good))
        (d / "n-c2-eth0").write_text(json.dumps({**good, "containerId": "c2", "kind": "cniCacheV2"}))
        (d / "n-c3-eth0").write_text(json.dumps({**good, "containerId": "c3", "ifName": ""}))
        (d / "n-c4-eth0").write_text("{")
        (d / "n-c5-eth0").write_text(json.dumps({**good, "containerId": "c5", "config": "!!notbase64"}))
        (d / "other-c6-eth0").write_text(json.dumps({**good, "containerId": "c6", "networkName": "other"}))
        (d / "n-c7-eth0").mkdir()
        assert get_cached_info(str(d / "n-c4-eth0")) is None
        assert get_cached_info(str(d / "n-c5-eth0")) is None
        assert get_cached_info(str(d / "missing")) is None
        assert get_cached_info(str(d / "n-c1-eth0")) == good
        assert [a.container_id for a in list_cached_attachments(str(lab.cache))] == ["c1", "c6"]
        assert [a.container_id for a in list_cached_attachments(str(lab.cache), "n")] == ["c1"]
        assert [a.container_id for a in list_cached_attachments(str(lab.cache), container_id="c6")] == ["c6"]
        assert list_cached_attachments(str(lab.tmp / "nothing")) == []

    def test_delete_cached_result(self, lab: Lab) -> None:
        lab.plugin("a")
        add_network(conflist("a"), lab.rt(), lab.dirs, BASE_ENV, T)
        delete_cached_result("mynet", lab.rt())
        delete_cached_result("mynet", lab.rt())  # missing is fine
        delete_cached_result("mynet", lab.rt(ifname=""))  # no path at all is fine
        assert get_cached_result("mynet", lab.rt()) is None

    def test_cache_names_cannot_escape(self, lab: Lab) -> None:
        with pytest.raises(CNIError):
            get_cached_result("mynet", lab.rt(ifname="../../x"))


# =========================================================================== GC / STATUS

def _seed_attachment(lab: Lab, net: Network, cid: str, ifname: str, **kw: Any) -> None:
    add_network(net, lab.rt(container_id=cid, ifname=ifname, **kw), lab.dirs, BASE_ENV, T)


class TestGC:
    def test_deletes_stale_then_sends_gc(self, lab: Lab) -> None:
        lab.plugin("a")
        lab.plugin("b")
        net = Network.from_config({"cniVersion": "1.1.0", "name": "mynet",
                                   "plugins": [{"type": "a", "capabilities": {"mac": True}}, {"type": "b"}]})
        other = conflist("a", name="othernet", version="1.1.0")
        _seed_attachment(lab, net, "keep", "net1")
        _seed_attachment(lab, net, "stale", "net2", netns="/proc/1/ns/net", args=(("K8S_POD_NAME", "old"),),
                         capability_args={"mac": "0a:00:00:00:00:01"})
        _seed_attachment(lab, other, "stale", "net2")
        lab.reset()
        valid = [{"containerID": "keep", "ifname": "net1", "extra": "dropped"}]
        gc_network(net, valid, lab.dirs, BASE_ENV, str(lab.cache), T)
        calls = lab.calls()
        assert [(c["plugin"], c["env"]["CNI_COMMAND"]) for c in calls] == \
            [("b", "DEL"), ("a", "DEL"), ("a", "GC"), ("b", "GC")]
        dels = calls[:2]
        for c in dels:
            assert c["env"]["CNI_CONTAINERID"] == "stale"
            assert c["env"]["CNI_IFNAME"] == "net2"
            assert c["env"]["CNI_NETNS"] == "/proc/1/ns/net"
            assert c["env"]["CNI_ARGS"] == "K8S_POD_NAME=old"
            assert c["conf"]["prevResult"]["interfaces"] == [{"name": "a"}, {"name": "b"}]
        assert dels[1]["conf"]["runtimeConfig"] == {"mac": "0a:00:00:00:00:01"}
        expected_valid = [{"containerID": "keep", "ifname": "net1"}]
        assert calls[2]["conf"] == {"type": "a", "capabilities": {"mac": True}, "name": "mynet",
                                    "cniVersion": "1.1.0", "cni.dev/valid-attachments": expected_valid,
                                    "cni.dev/attachments": expected_valid}
        for c in calls[2:]:
            assert {k: c["env"][k] for k in ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS")} == \
                {"CNI_CONTAINERID": "", "CNI_NETNS": "", "CNI_IFNAME": "", "CNI_ARGS": ""}
            assert c["env"]["CNI_PATH"] == str(lab.bin)
        left = sorted(os.listdir(lab.cache / "results"))
        assert left == ["mynet-keep-net1", "othernet-stale-net2"]

    def test_before_110_only_stale_deletes(self, lab: Lab) -> None:
        lab.plugin("a")
        net = conflist("a", version="1.0.0")
        _seed_attachment(lab, net, "stale", "net1")
        lab.reset()
        gc_network(net, [], lab.dirs, BASE_ENV, str(lab.cache), T)
        assert [c["env"]["CNI_COMMAND"] for c in lab.calls()] == ["DEL"]

    def test_disable_gc(self, lab: Lab) -> None:
        lab.plugin("a")
        net = conflist("a", version="1.1.0", disableGC=True)
        _seed_attachment(lab, net, "stale", "net1")
        lab.reset()
        gc_network(net, [], lab.dirs, BASE_ENV, str(lab.cache), T)
        assert lab.calls() == []

    def test_errors_are_collected(self, lab: Lab) -> None:
        lab.plugin("a")
        net = conflist("a", "b", version="1.1.0")
        lab.plugin("b")
        _seed_attachment(lab, net, "s1", "net1")
        lab.script("b", "#!/bin/sh\necho '{\"code\":100,\"msg\":\"nope\"}'\nexit 1\n")
        lab.reset()
        with pytest.raises(CNIError) as ei:
            gc_network(net, [], lab.dirs, BASE_ENV, str(lab.cache), T)
        assert ei.value.msg == ('failed to delete stale attachment s1 net1: plugin type="b" failed (delete): nope; '
                                "failed to GC plugin b: nope")
        # GC still went to plugin a after the failures
        assert [(c["plugin"], c["env"]["CNI_COMMAND"]) for c in lab.calls()] == [("a", "GC")]


class TestStatus:
    def test_status_each_plugin(self, lab: Lab) -> None:
        lab.plugin("a")
        lab.plugin("b")
        status_network(conflist("a", "b", version="1.1.0"), lab.dirs, BASE_ENV, T)
        calls = lab.calls()
        assert [c["plugin"] for c in calls] == ["a", "b"]
        assert calls[0]["conf"] == {"type": "a", "name": "mynet", "cniVersion": "1.1.0"}
        assert calls[0]["env"]["CNI_COMMAND"] == "STATUS"
        assert calls[0]["env"]["CNI_CONTAINERID"] == ""

    def test_status_before_110_does_nothing(self, lab: Lab) -> None:
        lab.plugin("a")
        status_network(conflist("a", version="1.0.0"), lab.dirs, BASE_ENV, T)
        assert lab.calls() == []

    def test_first_failure_is_raised_as_is(self, lab: Lab) -> None:
        lab.script("a", "#!/bin/sh\necho '{\"code\":50,\"msg\":\"not ready\"}'\nexit 1\n")
        lab.plugin("b")
        with pytest.raises(CNIError) as ei:
            status_network(conflist("a", "b", version="1.1.0"), lab.dirs, BASE_ENV, T)
        assert (ei.value.code, ei.value.msg) == (50, "not ready")
        assert lab.calls() == []
