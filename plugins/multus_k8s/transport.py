"""How :class:`multus_k8s.client.KubeClient` talks HTTP to the API server: one interface, two
implementations, chosen in :func:`open_transport` only.

``rest`` (:mod:`multus_k8s.rest`)
    The Python standard library's ``http.client`` and ``ssl``, the kubeconfig read with PyYAML.
    About 20 ms of imports instead of the ~300 ms of the ``kubernetes`` package, which is what a
    thin plugin pays on every CNI call. It knows what multus' requests need: plain REST
    requests with JSON bodies, bearer tokens (``token``, ``tokenFile``, the service account's),
    client certificates, HTTP basic auth, the server's CA, ``insecure-skip-tls-verify`` and
    ``tls-server-name``.
``kubernetes`` (:mod:`multus_k8s.kubeclient`)
    The ``kubernetes`` package's ``ApiClient``. The daemon uses it (its informers watch through
    it), and so does the thin plugin for a kubeconfig whose user needs a credential plugin
    (``exec``, ``auth-provider``) or a cluster reached through ``proxy-url``.

Both answer the same: the JSON of a 2xx answer as plain dicts and lists, :class:`APIStatusError`
for any other status (with the server's ``Status`` body), :class:`APIConnectionError` when no
answer came (``certificate`` set when the server's certificate does not verify), and
:class:`ConfigError` when the credentials cannot be loaded.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

REST = "rest"
KUBERNETES = "kubernetes"
AUTO = "auto"
"""``rest`` unless the credentials need the ``kubernetes`` package."""

Timeout = float | tuple[float, float]
"""Seconds for the whole request, or ``(connect, read)``."""


class ConfigError(Exception):
    """The kubeconfig or the service account cannot give a connection (the message says why)."""


class APIStatusError(Exception):
    """The API server answered with a status outside 2xx."""

    def __init__(self, status: int, reason: str = "", body: str = "") -> None:
        super().__init__(f"{status} {reason}".strip())
        self.status = status
        self.reason = reason
        self.body = body


class APIConnectionError(Exception):
    """No answer: the connection failed, timed out or broke (``certificate``: the server's
    certificate was refused, which retrying cannot fix)."""

    def __init__(self, reason: str, certificate: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.certificate = certificate


class Transport(Protocol):
    """One API server's connection, thread-safe."""

    host: str
    """The server's URL, for messages."""
    implementation: str

    def request(self, method: str, path: str, timeout: Timeout, body: Any = None,
                content_type: str = "application/json", query: Sequence[tuple[str, str]] = (),
                stream: bool = False) -> Any:
        """One request; the decoded JSON of a 2xx answer (``None`` when empty). With ``stream``
        (the ``kubernetes`` transport only: watches) the open response instead."""
        ...

    def close(self) -> None: ...


def open_transport(kubeconfig: str, env: Mapping[str, str], service_account_dir: str,
                   implementation: str = AUTO) -> Transport:
    """The connection of ``kubeconfig`` (or, when empty, of the in-cluster service account), with
    the ``rest`` transport unless ``implementation`` is ``kubernetes`` or the credentials need
    it. Raises :class:`ConfigError`."""
    if kubeconfig and not os.path.isfile(kubeconfig):
        raise ConfigError("file not found")
    if implementation != KUBERNETES:
        from multus_k8s import rest

        creds = rest.load_credentials(kubeconfig, env, service_account_dir)
        if creds.needs_client is None:
            return rest.RestTransport(creds)
        if implementation == REST:
            raise ConfigError(f"{creds.needs_client} needs the kubernetes package")
    from multus_k8s import kubeclient

    return kubeclient.KubernetesTransport(kubeconfig, env, service_account_dir)
