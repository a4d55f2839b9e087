"""The light transport's kubeconfig and service-account reading (multus_k8s.rest), and the one
place that chooses a transport (multus_k8s.transport.open_transport); no API server needed."""

from __future__ import annotations

import base64
import json
import os
import ssl
from pathlib import Path
from typing import Any

import pytest
import yaml
from multus_k8s import client as kube
from multus_k8s import rest
from multus_k8s.transport import AUTO, KUBERNETES, REST, ConfigError, open_transport

from multus.errors import INVALID_CONFIG, CNIError


def kubeconfig(tmp_path: Path, user: dict[str, Any] | None = None, cluster: dict[str, Any] | None = None,
               name: str = "kubeconfig", as_json: bool = False, **top: Any) -> Path:
    cfg: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Config", "current-context": "ctx",
        "clusters": [{"name": "c", "cluster": {"server": "https://10.0.0.1:6443", **(cluster or {})}}],
        "users": [{"name": "u", "user": user if user is not None else {"token": "t0k3n"}}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
        **top,
    }
    path = tmp_path / name
    path.write_text(json.dumps(cfg) if as_json else yaml.safe_dump(cfg))
    return path


def creds(path: Path) -> rest.Credentials:
    return rest.load_credentials(str(path), {}, "/nonexistent")


def test_token_server_and_the_rest_transport(tmp_path: Path) -> None:
    for as_json in (False, True):
        c = creds(kubeconfig(tmp_path, as_json=as_json, cluster={"server": "https://10.0.0.1:6443/prefix/"}))
        assert (c.server, c.token, c.needs_client, c.insecure) == ("https://10.0.0.1:6443/prefix/", "t0k3n", None, False)
        t = rest.RestTransport(c)
        assert (t.host, t._hostname, t._port, t._prefix) == ("https://10.0.0.1:6443/prefix/", "10.0.0.1", 6443,
                                                               "/prefix")
        assert t._headers["Authorization"] == "Bearer t0k3n"
        assert t._context is not None and t._context.verify_mode == ssl.CERT_REQUIRED and t._context.check_hostname


def test_token_file_relative_to_the_kubeconfig_and_basic_auth(tmp_path: Path) -> None:
    (tmp_path / "tok").write_text("  from-file\n")
    assert creds(kubeconfig(tmp_path, {"tokenFile": "tok"})).token == "from-file"
    c = creds(kubeconfig(tmp_path, {"username": "admin", "password": "pw"}))
    t = rest.RestTransport(c)
    assert t._headers["Authorization"] == "Basic " + base64.b64encode(b"admin:pw").decode()


def test_certificate_files_and_data(tmp_path: Path) -> None:
    (tmp_path / "pki").mkdir()
    for f in ("ca.crt", "c.crt", "c.key"):
        (tmp_path / "pki" / f).write_text("x")
    c = creds(kubeconfig(tmp_path, {"client-certificate": "pki/c.crt", "client-key": "pki/c.key"},
                         {"certificate-authority": "pki/ca.crt"}))
    assert (c.ca_file, c.cert_file, c.key_file) == tuple(str(tmp_path / "pki" / f) for f in ("ca.crt", "c.crt", "c.key"))
    data = base64.b64encode(b"PEM").decode()
    c = creds(kubeconfig(tmp_path, {"client-certificate-data": data, "client-key-data": data},
                         {"certificate-authority-data": data, "certificate-authority": "ignored"}))
    assert (c.ca_data, c.cert_data, c.key_data, c.ca_file) == (b"PEM", b"PEM", b"PEM", "")


@pytest.mark.parametrize(("edit", "message"), [
    ({"current-context": None}, "no current-context"),
    ({"current-context": "other"}, "no context named 'other' in contexts"),
    ({"contexts": [{"name": "ctx", "context": {"cluster": "gone", "user": "u"}}]}, "no cluster named 'gone'"),
    ({"clusters": [{"name": "c", "cluster": {}}]}, "cluster 'c' has no server"),
])
def test_kubeconfig_errors_name_what_is_missing(tmp_path: Path, edit: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        creds(kubeconfig(tmp_path, **edit))


def test_missing_files_say_file_not_found_with_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"^file not found: {tmp_path}/gone$"):
        creds(kubeconfig(tmp_path, {"tokenFile": str(tmp_path / "gone")}))
    with pytest.raises(ConfigError, match=f"^client-certificate: file not found: {tmp_path}/c.crt$"):
        creds(kubeconfig(tmp_path, {"client-certificate": "c.crt", "client-key": "c.key"}))
    with pytest.raises(ConfigError, match="client-certificate and client-key go together"):
        creds(kubeconfig(tmp_path, {"client-certificate-data": "UEVN"}))
    (tmp_path / "bad").write_text("clusters: [")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        creds(tmp_path / "bad")
    # through the client, as the CNI error says it
    c = kube.KubeClient(str(kubeconfig(tmp_path, {"tokenFile": "gone"})), {})
    with pytest.raises(CNIError) as e:
        c.get_pod("app", "p1")
    assert e.value.code == INVALID_CONFIG
    assert e.value.msg == f"error getting k8s client: kubeconfig {tmp_path}/kubeconfig: file not found: {tmp_path}/gone"


def test_credential_plugins_and_proxies_are_left_to_the_kubernetes_package(tmp_path: Path) -> None:
    assert creds(kubeconfig(tmp_path, {"exec": {"command": "x"}})).needs_client == "a user with exec"
    assert creds(kubeconfig(tmp_path, {"auth-provider": {"name": "oidc"}})).needs_client == "a user with auth-provider"
    assert creds(kubeconfig(tmp_path, cluster={"proxy-url": "http://p:3128"})).needs_client == "a cluster with proxy-url"
    with pytest.raises(ConfigError, match="a user with exec needs the kubernetes package"):
        open_transport(str(kubeconfig(tmp_path, {"exec": {"command": "x"}})), {}, "/x", REST)


def test_the_choice_of_transport(tmp_path: Path) -> None:
    path = str(kubeconfig(tmp_path, cluster={"insecure-skip-tls-verify": True}))
    t = open_transport(path, {}, "/x", AUTO)
    assert t.implementation == REST and isinstance(t, rest.RestTransport)
    assert t._context is not None and t._context.verify_mode == ssl.CERT_NONE
    assert open_transport(path, {}, "/x", KUBERNETES).implementation == KUBERNETES
    with pytest.raises(ConfigError, match="^file not found$"):
        open_transport(str(tmp_path / "none"), {}, "/x", KUBERNETES)


def test_in_cluster_service_account(tmp_path: Path) -> None:
    env = {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"}
    with pytest.raises(ConfigError, match=f"^file not found: {tmp_path}/token$"):
        rest.load_credentials("", env, str(tmp_path))
    (tmp_path / "token").write_text("sa-token\n")
    with pytest.raises(ConfigError, match=f"^file not found: {tmp_path}/ca.crt$"):
        rest.load_credentials("", env, str(tmp_path))
    (tmp_path / "ca.crt").write_text("x")
    c = rest.load_credentials("", env, str(tmp_path))
    assert (c.server, c.token, c.ca_file) == ("https://[fd00::1]:443", "sa-token", str(tmp_path / "ca.crt"))
    with pytest.raises(ConfigError, match="KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set"):
        rest.load_credentials("", {}, str(tmp_path))


def test_a_server_that_is_not_an_http_url(tmp_path: Path) -> None:
    for server in ("ftp://x", "10.0.0.1:6443", "https://x:port"):
        with pytest.raises(ConfigError, match="server"):
            rest.RestTransport(creds(kubeconfig(tmp_path, cluster={"server": server})))


def test_credential_data_goes_through_a_private_file_that_is_gone_afterwards() -> None:
    with rest._as_file(b"secret", "") as name:
        with open(name, "rb") as f:
            assert f.read() == b"secret"
        assert name.startswith("/proc/self/fd/")  # Linux: an anonymous memory file, never on a disk
        fd = int(name.rsplit("/", 1)[1])
        assert os.readlink(name).startswith("/memfd:multus-k8s-credential")
    with pytest.raises(OSError):
        os.fstat(fd)
    with rest._as_file(None, "/etc/hostname") as name:
        assert name == "/etc/hostname"
