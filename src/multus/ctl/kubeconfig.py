"""The kubeconfig multus uses on the node, made from the pod's service-account token and CA.

Kubelet rotates projected service-account tokens (about hourly, 80 % into their lifetime) and
the CA bundle can change: the installer rewrites this file whenever either changes (upstream
#852, #1263: a kubeconfig written once goes stale and every later ADD fails with 401).
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping

import attrs

DEFAULT_SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


class KubeconfigError(Exception):
    """The service account's files or the API address are missing or unusable."""


@attrs.frozen
class ServiceAccount:
    token: str
    ca: bytes

    @classmethod
    def read(cls, directory: str, skip_tls_verify: bool = False) -> ServiceAccount:
        token_path = os.path.join(directory, "token")
        try:
            with open(token_path, encoding="utf-8") as f:
                token = f.read().strip()
        except (OSError, UnicodeDecodeError) as e:
            raise KubeconfigError(f"cannot read the service-account token {token_path}: "
                                  f"{getattr(e, 'strerror', None) or e}") from None
        if not token:
            raise KubeconfigError(f"the service-account token {token_path} is empty")
        ca = b""
        if not skip_tls_verify:
            ca_path = os.path.join(directory, "ca.crt")
            try:
                with open(ca_path, "rb") as f:
                    ca = f.read()
            except OSError as e:
                raise KubeconfigError(f"cannot read the service-account CA {ca_path}: {e.strerror}") from None
            if b"BEGIN CERTIFICATE" not in ca:
                raise KubeconfigError(f"the service-account CA {ca_path} holds no PEM certificate")
        return cls(token=token, ca=ca)


def server_url(env: Mapping[str, str]) -> str:
    host = env.get("KUBERNETES_SERVICE_HOST", "")
    port = env.get("KUBERNETES_SERVICE_PORT", "")
    if not host or not port:
        raise KubeconfigError("KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set "
                              "(the pod's environment names the API server)")
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{env.get('KUBERNETES_SERVICE_PROTOCOL') or 'https'}://{host}:{port}"


def render(sa: ServiceAccount, server: str, skip_tls_verify: bool = False) -> bytes:
    """The kubeconfig, as JSON: every kubeconfig reader takes it (JSON is YAML), and the thin
    plugin reads it without loading a YAML parser."""
    cluster: dict[str, object] = {"server": server}
    if skip_tls_verify:
        cluster["insecure-skip-tls-verify"] = True
    else:
        cluster["certificate-authority-data"] = base64.b64encode(sa.ca).decode()
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": cluster}],
        "users": [{"name": "multus", "user": {"token": sa.token}}],
        "contexts": [{"name": "multus-context", "context": {"cluster": "local", "user": "multus"}}],
        "current-context": "multus-context",
    }
    return (json.dumps(doc, indent=2) + "\n").encode()
