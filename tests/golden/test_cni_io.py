"""Golden tests of the ``multus`` executable's CNI protocol.

Environment + stdin in, stdout + exit code out, exactly as a container runtime sees it. Every
verb and every error code of the CNI specification (1.1.0) that the protocol layer can produce:
the answer is always one JSON object on stdout (a result, or an error with ``code`` and ``msg``),
exit code 0 or 1, and never a Python traceback on stdout or stderr.

Nothing here creates network interfaces: the requests fail before any delegate runs, or they
need none (VERSION, DEL/GC/STATUS of an unknown container). The one round trip at the end uses a
recording plugin inside a lab pod namespace.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from multus.testing.recorder import read_calls

MULTUS = [sys.executable, "-m", "multus.cli.thin"]
CNI_PATH = "/usr/lib/cni"
SUPPORTED = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]
VERSION_ANSWER = {"cniVersion": "1.1.0", "supportedVersions": SUPPORTED}

INCOMPATIBLE_VERSION = 1
UNKNOWN_CONTAINER = 3
INVALID_ENV = 4
DECODE_FAILURE = 6
INVALID_CONFIG = 7

CONTAINER_ID = "0123456789abcdef"
# Never created: every request using it fails (or succeeds) before the namespace is opened.
NETNS = "/run/netns/multus-golden-does-not-exist"

VARS = ("CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS", "CNI_PATH")
REQUIRED = {
    "ADD": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"),
    "CHECK": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"),
    "DEL": ("CNI_CONTAINERID", "CNI_IFNAME", "CNI_PATH"),
    "GC": ("CNI_PATH",),
    "STATUS": ("CNI_PATH",),
}
UNSET = None


def base_config(version: str = "1.0.0") -> dict[str, Any]:
    """A valid multus netconf; ``@TMP@`` is replaced by the test's tmp_path."""
    return {
        "cniVersion": version,
        "name": "multus-cni-network",
        "type": "multus",
        "cniDir": "@TMP@/cni",
        "confDir": "@TMP@/net.d",
        "binDir": CNI_PATH,
        "delegates": [{"cniVersion": "1.0.0", "name": "cluster", "type": "bridge",
                       "ipam": {"type": "host-local", "subnet": "10.250.254.0/24"}}],
    }


def cfg(version: str = "1.0.0", drop: tuple[str, ...] = (), **changes: Any) -> dict[str, Any]:
    c = base_config(version)
    for k in drop:
        c.pop(k, None)
    c.update(changes)
    return c


@dataclass(frozen=True)
class Case:
    id: str
    command: str | None
    stdin: Any = field(default_factory=cfg)
    """A dict (JSON-encoded), raw bytes, or a str (encoded as is)."""
    env: Mapping[str, str | None] = field(default_factory=dict)
    code: int | None = None
    """The expected CNI error code; None: success (exit 0)."""
    msg: tuple[str, ...] = ()
    """Substrings the error ``msg`` must contain (the field or variable at fault)."""


def full_env(command: str | None) -> dict[str, str | None]:
    return {"CNI_COMMAND": command, "CNI_CONTAINERID": CONTAINER_ID, "CNI_NETNS": NETNS,
            "CNI_IFNAME": "eth0", "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=p",
            "CNI_PATH": CNI_PATH}


def run(case_env: Mapping[str, str | None], stdin: Any, tmp_path: Path, command: str | None) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CNI_")}
    merged = full_env(command)
    merged.update(case_env)
    env.update({k: v for k, v in merged.items() if v is not None})
    if isinstance(stdin, (dict, list)):
        data = json.dumps(stdin).replace("@TMP@", str(tmp_path)).encode()
    elif isinstance(stdin, str):
        data = stdin.replace("@TMP@", str(tmp_path)).encode()
    else:
        data = stdin
    return subprocess.run(MULTUS, check=False, input=data, env=env, capture_output=True, timeout=60)


def assert_no_traceback(p: subprocess.CompletedProcess[bytes]) -> None:
    for stream in (p.stdout, p.stderr):
        text = stream.decode(errors="replace")
        assert "Traceback (most recent call last)" not in text, text


def assert_single_json_object(p: subprocess.CompletedProcess[bytes]) -> dict[str, Any]:
    text = p.stdout.decode()
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, f"stdout must hold exactly one JSON object, got {text!r}"
    obj = json.loads(lines[0])
    assert isinstance(obj, dict), text
    return obj


def assert_error(p: subprocess.CompletedProcess[bytes], code: int, msg: tuple[str, ...] = ()) -> dict[str, Any]:
    info = f"rc={p.returncode} stdout={p.stdout!r} stderr={p.stderr[-3000:]!r}"
    assert p.returncode == 1, info
    assert_no_traceback(p)
    err = assert_single_json_object(p)
    assert isinstance(err.get("code"), int) and not isinstance(err.get("code"), bool), info
    assert isinstance(err.get("msg"), str) and err["msg"], info
    assert err["code"] == code, info
    assert isinstance(err.get("cniVersion"), str) and err["cniVersion"] in SUPPORTED, info
    if "details" in err:
        assert isinstance(err["details"], str), info
    for part in msg:
        assert part in err["msg"], f"{part!r} not named in {err['msg']!r}"
    return err


def assert_success_no_output(p: subprocess.CompletedProcess[bytes]) -> None:
    info = f"rc={p.returncode} stdout={p.stdout!r} stderr={p.stderr[-3000:]!r}"
    assert p.returncode == 0, info
    assert p.stdout.strip() == b"", info
    assert_no_traceback(p)


# ------------------------------------------------------------------------------------------ VERSION

VERSION_CASES = [
    Case("version", "VERSION", stdin=b""),
    Case("version-with-config", "VERSION", stdin=cfg()),
    Case("version-garbage-stdin", "VERSION", stdin=b"this is not json"),
    Case("version-no-other-vars", "VERSION", stdin=b"",
         env={v: UNSET for v in VARS if v != "CNI_COMMAND"}),
    Case("version-old-config", "VERSION", stdin={"cniVersion": "0.1.0"}),
]


@pytest.mark.parametrize("case", VERSION_CASES, ids=lambda c: c.id)
def test_version(case: Case, tmp_path: Path) -> None:
    p = run(case.env, case.stdin, tmp_path, case.command)
    assert p.returncode == 0, p
    assert_no_traceback(p)
    assert assert_single_json_object(p) == VERSION_ANSWER
    # and nothing else on stdout
    assert json.loads(p.stdout) == VERSION_ANSWER


@pytest.mark.parametrize("value", [UNSET, ""], ids=["unset", "empty"])
def test_no_command_prints_about_to_stderr(value: str | None, tmp_path: Path) -> None:
    p = run({"CNI_COMMAND": value}, b"", tmp_path, None)
    assert p.returncode == 0, p
    assert p.stdout == b""
    err = p.stderr.decode()
    assert "multus" in err
    assert "CNI protocol versions supported: " + ", ".join(SUPPORTED) in err
    assert_no_traceback(p)


@pytest.mark.parametrize("flag", ["-v", "-version", "--version"])
def test_version_flag(flag: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CNI_")}
    p = subprocess.run([*MULTUS, flag], check=False, env=env, capture_output=True, timeout=60, input=b"")
    assert p.returncode == 0
    assert p.stdout.decode().startswith("multus: version:")


# ------------------------------------------------------------------------------------------ errors

def _missing_var_cases() -> list[Case]:
    out = []
    for verb, required in REQUIRED.items():
        version = "1.1.0" if verb in ("GC", "STATUS") else "1.0.0"
        for var in required:
            out.append(Case(f"{verb}-missing-{var}", verb, stdin=cfg(version), env={var: UNSET},
                            code=INVALID_ENV, msg=(var,)))
        out.append(Case(f"{verb}-empty-{required[0]}", verb, stdin=cfg(version), env={required[0]: ""},
                        code=INVALID_ENV, msg=(required[0],)))
        out.append(Case(f"{verb}-missing-all", verb, stdin=cfg(version),
                        env={v: UNSET for v in required}, code=INVALID_ENV, msg=required))
    return out


def _per_verb(make: Callable[[str, str], Case], verbs: tuple[str, ...] = ("ADD", "DEL", "CHECK", "GC", "STATUS")
              ) -> list[Case]:
    return [make(v, "1.1.0" if v in ("GC", "STATUS") else "1.0.0") for v in verbs]


WRONG_TYPED = [
    ("logToStderr", "false", "logToStderr"),
    ("delegates", {}, "delegates"),
    ("defaultNetworks", [1], "defaultNetworks"),
    ("confDir", None, "confDir"),
    ("logOptions", {"maxAge": "x"}, "logOptions.maxAge"),
    ("capabilities", {"x": 1}, "capabilities"),
    ("cniDir", 5, "cniDir"),
    ("binDir", False, "binDir"),
    ("clusterNetwork", ["a"], "clusterNetwork"),
    ("namespaceIsolation", "true", "namespaceIsolation"),
    ("systemNamespaces", "kube-system", "systemNamespaces"),
    ("readinessindicatorfile", 1, "readinessindicatorfile"),
    ("runtimeConfig", [], "runtimeConfig"),
    ("logOptions", {"compress": "yes"}, "logOptions.compress"),
    ("retryDeleteOnError", 1, "retryDeleteOnError"),
    ("delegates", [1], "delegates"),
]

ERROR_CASES: list[Case] = [
    # the command itself
    Case("unknown-command", "FOO", code=INVALID_ENV, msg=("FOO",)),
    Case("lowercase-command", "add", code=INVALID_ENV, msg=("add",)),
    *_missing_var_cases(),
    # stdin that is no network configuration
    *_per_verb(lambda v, _: Case(f"{v}-empty-stdin", v, stdin=b"", code=DECODE_FAILURE)),
    *_per_verb(lambda v, _: Case(f"{v}-blank-stdin", v, stdin=b"  \n\t ", code=DECODE_FAILURE)),
    *_per_verb(lambda v, _: Case(f"{v}-not-json", v, stdin=b"{not json", code=DECODE_FAILURE)),
    *_per_verb(lambda v, _: Case(f"{v}-truncated-json", v, stdin=b'{"cniVersion": "1.1.0", "name": "x"',
                                 code=DECODE_FAILURE)),
    *_per_verb(lambda v, _: Case(f"{v}-json-array", v, stdin=[cfg()], code=DECODE_FAILURE)),
    *_per_verb(lambda v, _: Case(f"{v}-json-string", v, stdin=b'"hello"', code=DECODE_FAILURE)),
    *_per_verb(lambda v, _: Case(f"{v}-json-null", v, stdin=b"null", code=DECODE_FAILURE)),
    *_per_verb(lambda v, _: Case(f"{v}-invalid-utf8", v, stdin=b'{"cniVersion": "1.1.0", "name": "\xff\xfe"}',
                                 code=DECODE_FAILURE)),
    # NaN and Infinity are not JSON (RFC 8259); a Go runtime's decoder refuses them as well
    *_per_verb(lambda v, ver: Case(f"{v}-nan-literal", v, code=DECODE_FAILURE,
                                   stdin=json.dumps(cfg(ver))[:-1] + ', "delegateTimeout": NaN}')),
    *_per_verb(lambda v, ver: Case(f"{v}-infinity-literal", v, code=DECODE_FAILURE,
                                   stdin=json.dumps(cfg(ver))[:-1] + ', "readinessTimeout": Infinity}')),
    *_per_verb(lambda v, _: Case(f"{v}-cniVersion-number", v, stdin=cfg(cniVersion=1), code=DECODE_FAILURE,
                                 msg=("cniVersion",))),
    *_per_verb(lambda v, _: Case(f"{v}-cniVersion-list", v, stdin=cfg(cniVersion=["1.0.0"]),
                                 code=DECODE_FAILURE, msg=("cniVersion",))),
    # versions
    *_per_verb(lambda v, _: Case(f"{v}-cniVersion-9.9.9", v, stdin=cfg("9.9.9"), code=INCOMPATIBLE_VERSION,
                                 msg=("9.9.9",))),
    *_per_verb(lambda v, _: Case(f"{v}-cniVersion-abc", v, stdin=cfg("abc"), code=INCOMPATIBLE_VERSION,
                                 msg=("abc",))),
    *_per_verb(lambda v, _: Case(f"{v}-cniVersion-1.0", v, stdin=cfg("1.0"), code=INCOMPATIBLE_VERSION)),
    *[Case(f"CHECK-cniVersion-{ver}", "CHECK", stdin=cfg(ver), code=INCOMPATIBLE_VERSION, msg=("CHECK",))
      for ver in ("0.1.0", "0.2.0", "0.3.0", "0.3.1")],
    Case("CHECK-cniVersion-missing", "CHECK", stdin=cfg(drop=("cniVersion",)), code=INCOMPATIBLE_VERSION,
         msg=("CHECK",)),
    *[Case(f"{verb}-cniVersion-{ver}", verb, stdin=cfg(ver), code=INCOMPATIBLE_VERSION, msg=(verb,))
      for verb in ("GC", "STATUS") for ver in ("0.3.1", "0.4.0", "1.0.0")],
    # the network name
    *_per_verb(lambda v, ver: Case(f"{v}-name-missing", v, stdin=cfg(ver, drop=("name",)), code=INVALID_CONFIG,
                                   msg=("name",))),
    *_per_verb(lambda v, ver: Case(f"{v}-name-empty", v, stdin=cfg(ver, name=""), code=INVALID_CONFIG,
                                   msg=("name",))),
    *_per_verb(lambda v, ver: Case(f"{v}-name-invalid", v, stdin=cfg(ver, name="bad name!"), code=INVALID_CONFIG,
                                   msg=("name",))),
    *_per_verb(lambda v, ver: Case(f"{v}-name-dotdot", v, stdin=cfg(ver, name="../x"), code=INVALID_CONFIG,
                                   msg=("name",))),
    # like a wrong-typed cniVersion, a wrong-typed name cannot be decoded (libcni skel: decoding failure)
    *_per_verb(lambda v, ver: Case(f"{v}-name-number", v, stdin=cfg(ver, name=1), code=DECODE_FAILURE,
                                   msg=("name",))),
    # CNI_CONTAINERID and CNI_IFNAME
    *[Case(f"{verb}-containerid-{label}", verb, env={"CNI_CONTAINERID": cid}, code=INVALID_ENV,
           msg=("CNI_CONTAINERID",))
      for verb in ("ADD", "DEL", "CHECK")
      for label, cid in (("slash", "abc/def"), ("dotdot", ".."), ("leading-dash", "-abc"), ("space", "a b"))],
    *[Case(f"{verb}-ifname-{label}", verb, env={"CNI_IFNAME": ifname}, code=INVALID_ENV, msg=("CNI_IFNAME",))
      for verb in ("ADD", "DEL", "CHECK")
      for label, ifname in (("slash", "a/b"), ("colon", "a:b"), ("space", "a b"), ("too-long", "x" * 16),
                            ("dot", "."), ("dotdot", ".."))],
    # CNI_ARGS
    *[Case(f"{verb}-cni-args-no-equals", verb, env={"CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAME"},
           code=INVALID_ENV, msg=("K8S_POD_NAME",)) for verb in ("ADD", "DEL", "CHECK")],
    Case("ADD-cni-args-unknown-key", "ADD", env={"CNI_ARGS": "K8S_POD_NAMESPACE=default;FOO=bar"},
         code=INVALID_ENV, msg=("FOO",)),
    Case("ADD-cni-args-unknown-key-ignoreunknown-false", "ADD",
         env={"CNI_ARGS": "IgnoreUnknown=false;FOO=bar"}, code=INVALID_ENV, msg=("FOO",)),
    # wrong-typed multus keys: code 7, the JSON key named
    *[Case(f"{verb}-{name}-{type(value).__name__}", verb, stdin=cfg("1.1.0" if verb in ("GC", "STATUS") else "1.0.0",
                                                                   **{key: value}),
           code=INVALID_CONFIG, msg=(name,))
      for key, value, name in WRONG_TYPED for verb in ("ADD", "DEL", "CHECK", "GC", "STATUS")],
    # no delegates and no clusterNetwork
    *_per_verb(lambda v, ver: Case(f"{v}-no-delegates", v, stdin=cfg(ver, drop=("delegates",)), code=INVALID_CONFIG,
                                   msg=("delegate", "clusterNetwork")), verbs=("ADD", "CHECK", "STATUS")),
    *_per_verb(lambda v, ver: Case(f"{v}-empty-delegates", v, stdin=cfg(ver, delegates=[]), code=INVALID_CONFIG,
                                   msg=("delegate", "clusterNetwork")), verbs=("ADD", "CHECK", "STATUS")),
    Case("ADD-only-kubeconfig", "ADD", stdin=cfg(drop=("delegates",), kubeconfig="/nonexistent/kubeconfig"),
         code=INVALID_CONFIG, msg=("clusterNetwork",)),
]


def test_error_case_ids_are_unique() -> None:
    ids = [c.id for c in ERROR_CASES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("case", ERROR_CASES, ids=lambda c: c.id)
def test_error(case: Case, tmp_path: Path) -> None:
    p = run(case.env, case.stdin, tmp_path, case.command)
    assert case.code is not None
    assert_error(p, case.code, case.msg)


# ------------------------------------------------------------------------------------------ success

SUCCESS_CASES = [
    # DEL of a container multus never saw: success, nothing printed; CNI_NETNS is optional
    Case("DEL-unknown-container", "DEL"),
    Case("DEL-no-netns", "DEL", env={"CNI_NETNS": UNSET}),
    Case("DEL-empty-netns", "DEL", env={"CNI_NETNS": ""}),
    Case("DEL-cniVersion-0.1.0", "DEL", stdin=cfg("0.1.0")),
    Case("DEL-no-cni-args", "DEL", env={"CNI_ARGS": UNSET}),
    # GC and STATUS only need CNI_PATH
    Case("GC-only-cni-path", "GC", stdin=cfg("1.1.0"),
         env={"CNI_CONTAINERID": UNSET, "CNI_NETNS": UNSET, "CNI_IFNAME": UNSET, "CNI_ARGS": UNSET}),
    Case("GC-valid-attachments", "GC",
         stdin=cfg("1.1.0", **{"cni.dev/valid-attachments": [{"containerID": "abc", "ifname": "eth0"}]}),
         env={"CNI_CONTAINERID": UNSET, "CNI_NETNS": UNSET, "CNI_IFNAME": UNSET}),
    Case("STATUS-only-cni-path", "STATUS", stdin=cfg("1.1.0"),
         env={"CNI_CONTAINERID": UNSET, "CNI_NETNS": UNSET, "CNI_IFNAME": UNSET, "CNI_ARGS": UNSET}),
]


@pytest.mark.parametrize("case", SUCCESS_CASES, ids=lambda c: c.id)
def test_success_without_output(case: Case, tmp_path: Path) -> None:
    p = run(case.env, case.stdin, tmp_path, case.command)
    assert_success_no_output(p)


def test_check_unknown_container_is_code_3(tmp_path: Path) -> None:
    p = run({}, cfg(), tmp_path, "CHECK")
    assert_error(p, UNKNOWN_CONTAINER, (CONTAINER_ID,))


def test_add_missing_netns_is_an_error(tmp_path: Path) -> None:
    """The namespace is only opened, never created: a missing one is an environment error."""
    p = run({}, cfg(), tmp_path, "ADD")
    assert_error(p, INVALID_ENV, (NETNS,))
    assert not os.path.exists(NETNS)


@pytest.mark.parametrize("path", ["/etc/hostname", "/proc/self/ns/mnt", "/"])
def test_add_netns_that_is_no_network_namespace(path: str, tmp_path: Path) -> None:
    p = run({"CNI_NETNS": path}, cfg(), tmp_path, "ADD")
    assert_error(p, INVALID_ENV, (path,))


def test_error_stamped_with_config_version(tmp_path: Path) -> None:
    p = run({"CNI_IFNAME": "a/b"}, cfg("0.4.0"), tmp_path, "ADD")
    assert assert_error(p, INVALID_ENV)["cniVersion"] == "0.4.0"


def test_stdout_is_unbuffered_single_object_on_error_with_logging(tmp_path: Path) -> None:
    """Debug logging goes to stderr only; stdout still holds just the error object."""
    p = run({"CNI_ARGS": "K8S_POD_NAME=p;FOO=1"}, cfg(logLevel="debug", logToStderr=True), tmp_path, "ADD")
    assert_error(p, INVALID_ENV, ("FOO",))


# ------------------------------------------------------------------------------------------ round trip

def test_add_check_del_round_trip(tmp_path: Path, pod_netns: Callable[..., str],
                                  recording_plugin: Callable[[str], tuple[str, str]]) -> None:
    """ADD prints one result object in the config's cniVersion; CHECK and DEL print nothing."""
    bin_dir, log = recording_plugin("golden-rec")
    netns = "/run/netns/" + pod_netns()
    conf = cfg("1.0.0", binDir=bin_dir,
               delegates=[{"cniVersion": "0.4.0", "name": "rec", "type": "golden-rec", "ip": "192.0.2.7/24"}])
    env = {"CNI_NETNS": netns, "CNI_PATH": bin_dir}

    p = run(env, conf, tmp_path, "ADD")
    assert p.returncode == 0, p
    assert_no_traceback(p)
    res = assert_single_json_object(p)
    assert res["cniVersion"] == "1.0.0"
    assert res["interfaces"] == [{"name": "eth0", "mac": "02:00:00:00:00:01", "sandbox": netns}]
    assert res["ips"] == [{"address": "192.0.2.7/24", "interface": 0}]

    assert_success_no_output(run(env, conf, tmp_path, "CHECK"))
    assert_success_no_output(run(env, conf, tmp_path, "DEL"))
    assert_success_no_output(run({**env, "CNI_NETNS": ""}, conf, tmp_path, "DEL"))
    commands = [c["env"]["CNI_COMMAND"] for c in read_calls(log)]
    assert commands == ["ADD", "CHECK", "DEL"]
    sent = read_calls(log)[0]
    assert sent["env"]["CNI_IFNAME"] == "eth0"
    assert sent["env"]["CNI_CONTAINERID"] == CONTAINER_ID
    assert sent["stdin"]["cniVersion"] == "0.4.0" and sent["stdin"]["name"] == "rec"
