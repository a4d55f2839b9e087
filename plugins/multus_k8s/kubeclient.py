"""The ``kubernetes`` package's transport (:mod:`multus_k8s.transport`): its ``ApiClient`` loads
the kubeconfig (every credential plugin included) or the in-cluster service account, and does
the TLS and the authentication. The daemon uses it; the thin plugin only for credentials the
light transport leaves to it.

Requests go through ``ApiClient.call_api`` without the generated API classes: importing
``CoreV1Api`` alone costs ~0.5 s of model building, for four plain REST requests.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from multus import __version__
from multus_k8s.transport import KUBERNETES, APIConnectionError, APIStatusError, ConfigError, Timeout


class KubernetesTransport:
    """One ``kubernetes.client.ApiClient`` (its own connection pool); thread-safe."""

    implementation = KUBERNETES

    def __init__(self, kubeconfig: str, env: Mapping[str, str], service_account_dir: str) -> None:
        client, config = _module("kubernetes.client"), _module("kubernetes.config")
        config_exception = _module("kubernetes.config.config_exception").ConfigException
        cfg = client.Configuration()
        try:
            if kubeconfig:
                config.load_kube_config(config_file=kubeconfig, client_configuration=cfg, persist_config=False)
            else:
                loader = _module("kubernetes.config.incluster_config").InClusterConfigLoader
                loader(token_filename=os.path.join(service_account_dir, "token"),
                       cert_filename=os.path.join(service_account_dir, "ca.crt"),
                       environ=dict(env)).load_and_set(cfg)
        except (config_exception, OSError, ValueError, TypeError, KeyError) as e:
            raise ConfigError(f"{type(e).__name__}: {e}") from None
        cfg.retries = False  # the client's own loop retries, within its time budget
        self.host = str(cfg.host)
        self.api = client.ApiClient(configuration=cfg)
        self.api.user_agent = f"multus/{__version__}"

    def request(self, method: str, path: str, timeout: Timeout, body: Any = None,
                content_type: str = "application/json", query: Sequence[tuple[str, str]] = (),
                stream: bool = False) -> Any:
        """With ``stream`` the answer is the open ``urllib3`` response (a watch), not its JSON."""
        import urllib3.exceptions

        api_exception = api_exception_class()
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        try:
            m, url, h, b, post = self.api.param_serialize(
                method=method, resource_path=path, query_params=list(query), header_params=headers, body=body,
                auth_settings=["BearerToken"])
            resp = self.api.call_api(m, url, header_params=h, body=b, post_params=post, _request_timeout=timeout)
            if stream and 200 <= resp.status <= 299:
                return resp.response
            resp.read()
            if not 200 <= resp.status <= 299:
                raise api_exception(http_resp=resp)
        except api_exception as e:
            raise as_transport_error(e) from None
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise APIConnectionError(reason_of(e)) from None
        try:
            return json.loads(resp.data) if resp.data else None
        except ValueError as e:
            raise APIConnectionError(f"the answer to {method} {path} is not JSON: {e}") from None

    def close(self) -> None:
        self.api.close()


def as_transport_error(e: Any) -> APIStatusError | APIConnectionError:
    """A ``kubernetes`` ``ApiException``: status 0 is its wrapping of a TLS or protocol failure
    (no answer at all)."""
    status = int(getattr(e, "status", 0) or 0)
    reason = str(getattr(e, "reason", "") or "")
    if status == 0:
        lowered = reason.lower()
        rejected = "certificate verify failed" in lowered or "certificate_verify_failed" in lowered
        return APIConnectionError(" ".join(reason.split()) or "no answer", certificate=rejected)
    body = getattr(e, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    return APIStatusError(status, reason, str(body or ""))


def reason_of(e: BaseException) -> str:
    inner = getattr(e, "reason", None)
    if isinstance(inner, BaseException):
        return f"{type(inner).__name__}: {inner}"
    return f"{type(e).__name__}: {e}"


def api_exception_class() -> Any:
    return _module("kubernetes.client.exceptions").ApiException


def _module(name: str) -> Any:
    """A module of the ``kubernetes`` package, typed ``Any`` (its annotations differ between the
    releases we accept)."""
    return importlib.import_module(name)
