"""Security cases of the thin plugin, on the real CNI plugins in lab namespaces.

Namespace isolation over the annotation forms, names that try to leave ``confDir``, interface-name
injection, file modes of what multus writes, and no credential in any log line or error.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
import thinkit
from thinkit import Node

NETWORKS = "k8s.v1.cni.cncf.io/networks"

pytestmark = [pytest.mark.root, pytest.mark.skipif(thinkit.skip_reason() is not None,
                                                   reason=thinkit.skip_reason() or "")]


def _error(node: Node, out: thinkit.CniOutcome) -> dict[str, object]:
    assert out.returncode == 1, thinkit.describe(out)
    err = out.json
    assert isinstance(err, dict) and isinstance(err.get("code"), int), thinkit.describe(out)
    return err


@pytest.mark.parametrize(("annotation", "allowed"), [
    ('[{"name": "mvnet", "namespace": "team-b"}]', False),
    ('[{"name": "mvnet", "namespace": "team-a"}]', True),
    ("team-b/mvnet@net5", False),
    ('[{"name": "mvnet", "namespace": "shared"}]', True),      # a global namespace
    ("shared/mvnet", True),
])
def test_namespace_isolation_every_form(node: Node, annotation: str, allowed: bool) -> None:
    node.write_conf("20-mvnet.conf", node.macvlan("mvnet"))
    conf = node.multus(delegates=[node.bridge("brnet")], namespaceIsolation=True, globalNamespaces="shared",
                       annotations={NETWORKS: annotation})
    pod = node.pod(namespace="team-a")
    if allowed:
        node.add(conf, pod)
        assert len([n for n in node.links(pod) if n not in ("lo", "eth0")]) == 1
        node.delete(conf, pod)
    else:
        err = _error(node, node.run("ADD", conf, pod))
        assert err["code"] == 7 and "namespace isolation" in str(err["msg"]), err
        assert sorted(node.links(pod)) == ["lo"]
    node.assert_clean(pod)


@pytest.mark.parametrize("name", ["../outside", "../../etc/passwd", "/etc/passwd", "sub/../../outside",
                                  "%2e%2e/outside"])
def test_network_names_do_not_leave_conf_dir(node: Node, tmp_path: Path, name: str) -> None:
    # a valid network configuration just outside confDir, under the name the annotation tries
    outside = tmp_path / "outside"
    outside.write_text(json.dumps(node.macvlan("outside")))
    conf = node.multus(delegates=[node.bridge("brnet")], annotations={NETWORKS: json.dumps([{"name": name}])})
    pod = node.pod()
    err = _error(node, node.run("ADD", conf, pod))
    assert err["code"] in (7, 100), err
    assert sorted(node.links(pod)) == ["lo"]
    node.assert_clean(pod)


@pytest.mark.parametrize("annotation", [
    "mvnet@a/b", "mvnet@..", "mvnet@.", "mvnet@" + "x" * 16, "mvnet@ab:c", "mvnet@a b",
    '[{"name": "mvnet", "interface": "../eth0"}]', '[{"name": "mvnet", "interface": "net\\n1"}]',
    '[{"name": "mvnet", "interface": "net\\t1"}]', '[{"name": "mvnet", "interface": "' + "é" * 8 + '"}]',
    '[{"name": "mvnet", "interface": "a\\u0000b"}]',
])
def test_interface_name_injection(node: Node, annotation: str) -> None:
    node.write_conf("20-mvnet.conf", node.macvlan("mvnet"))
    conf = node.multus(delegates=[node.bridge("brnet")], annotations={NETWORKS: annotation})
    pod = node.pod()
    err = _error(node, node.run("ADD", conf, pod))
    msg = str(err["msg"])
    assert err["code"] == 7 and ("interface" in msg.lower() or "parsePodNetworkObjectName" in msg), err
    assert sorted(node.links(pod)) == ["lo"]
    node.assert_clean(pod)


@pytest.mark.parametrize("ifname", ["a/b", "..", "x" * 16, "eth 0", "eth0\n"])
def test_cni_ifname_injection(node: Node, ifname: str) -> None:
    conf = node.multus(delegates=[node.bridge("brnet")])
    pod = node.pod()
    err = _error(node, node.run("ADD", conf, pod, ifname=ifname))
    assert err["code"] == 4 and "CNI_IFNAME" in str(err["msg"]), err
    node.assert_clean(pod)


def test_cache_and_results_are_0600_in_0700_dirs(node: Node) -> None:
    conf = node.multus(delegates=[node.bridge("brnet")])
    pod = node.pod()
    old = os.umask(0)  # whatever the runtime's umask
    try:
        node.add(conf, pod)
    finally:
        os.umask(old)
    files = [p for p in node.cni_dir.rglob("*") if p.is_file()]
    assert files, "ADD wrote no cache"
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, f"{p}: {oct(p.stat().st_mode)}"
    for d in [node.cni_dir, *[p for p in node.cni_dir.rglob("*") if p.is_dir()]]:
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, f"{d}: {oct(d.stat().st_mode)}"
    node.delete(conf, pod)


TOKEN = "s3cr3t-T0KEN-4b9f2c1d8e7a6b5c"
def _client_pair(tmp_path: Path) -> tuple[str, str]:
    """A real EC client key and self-signed certificate (PEM), so that the client loads them and
    goes on to call the server: the logs then cover the whole credential path."""
    key, cert = tmp_path / "client.key", tmp_path / "client.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=multus-test"],
                   check=True, capture_output=True)
    return key.read_text(), cert.read_text()


def _kubeconfig(tmp_path: Path, key: str, cert: str) -> Path:
    """A kubeconfig with a bearer token and an inline client key, for a server nobody listens on."""
    p = tmp_path / "multus.kubeconfig"
    p.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:9", "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": TOKEN,
                                         "client-key-data": base64.b64encode(key.encode()).decode(),
                                         "client-certificate-data": base64.b64encode(cert.encode()).decode()}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}]}))
    p.chmod(0o600)
    return p


@pytest.mark.parametrize("level", ["debug", "verbose", "error"])
def test_no_credentials_in_logs_or_errors(node: Node, tmp_path: Path, level: str) -> None:
    key, cert = _client_pair(tmp_path)
    kubeconfig = _kubeconfig(tmp_path, key, cert)
    log_file = tmp_path / f"multus-{level}.log"
    conf = node.multus(delegates=[node.bridge("brnet")], kubeconfig=str(kubeconfig), logLevel=level,
                       logFile=str(log_file), logToStderr=True, annotations={NETWORKS: "missing-net"})
    pod = node.pod()
    outs = [node.run("ADD", conf, pod, timeout=90), node.run("DEL", conf, pod, timeout=90)]
    seen = log_file.read_text() if log_file.exists() else ""
    for out in outs:
        seen += out.stdout + out.stderr
    assert "127.0.0.1:9" in seen, "the API client never ran: " + seen
    key_body = "".join(line for line in key.splitlines() if not line.startswith("-----"))
    needles = [TOKEN, key_body[10:40], base64.b64encode(key.encode()).decode()[:24], "client-key-data"]
    for needle in needles:
        assert needle not in seen, f"{needle!r} leaked at logLevel {level}"
    node.assert_clean(pod)


def test_symlinks_in_conf_dir_are_read_as_libcni_reads_them(node: Node, tmp_path: Path) -> None:
    # confDir is the administrator's (root only): a symlink there to a file outside it is followed,
    # as libcni and upstream do (a ConfigMap mount or a shared file); a symlink to a directory and a
    # dangling one are skipped. A network *name* never becomes a path (see the cases above).
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "linked.conf").write_text(json.dumps(node.macvlan("linked")))
    (outside / "20-in-dir.conf").write_text(json.dumps(node.macvlan("in-dir")))
    (node.conf_dir / "10-linked.conf").symlink_to(outside / "linked.conf")
    (node.conf_dir / "15-dir.conf").symlink_to(outside)
    (node.conf_dir / "05-dangling.conf").symlink_to(tmp_path / "missing.conf")
    pod = node.pod()
    conf = node.multus(delegates=[node.bridge("brnet")], annotations={NETWORKS: "linked"})
    node.add(conf, pod)
    assert sorted(node.links(pod)) == ["eth0", "lo", "net1"]
    node.delete(conf, pod)
    node.assert_clean(pod)
    # the directory behind 15-dir.conf is not searched: its network is unknown
    conf = node.multus(delegates=[node.bridge("brnet")], annotations={NETWORKS: "in-dir"})
    err = _error(node, node.run("ADD", conf, pod))
    assert err["code"] == 7 and "in-dir" in str(err["msg"]), err
    node.assert_clean(pod)
