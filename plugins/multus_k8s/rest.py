"""The light transport (:mod:`multus_k8s.transport`): ``http.client`` + ``ssl`` of the standard
library, the kubeconfig read with PyYAML (its C loader when built).

What it reads from a kubeconfig (as ``kubectl`` and the ``kubernetes`` package do):

* ``current-context`` -> the context's ``cluster`` and ``user``;
* cluster: ``server`` (``https://`` or ``http://``, with an optional path prefix),
  ``certificate-authority`` / ``certificate-authority-data`` (else the system's CAs),
  ``insecure-skip-tls-verify``, ``tls-server-name``;
* user: ``token``, ``tokenFile``, ``client-certificate(-data)`` + ``client-key(-data)``,
  ``username`` + ``password``.

Relative file names are relative to the kubeconfig's directory. Client certificates given as
``-data`` reach ``ssl`` through an anonymous memory file (``memfd_create``; where that is
missing, a 0600 temporary file removed at once). A user with ``exec`` or ``auth-provider``, or a
cluster with ``proxy-url``, is left to the ``kubernetes`` package
(:attr:`Credentials.needs_client`).

Without a kubeconfig: the in-cluster service account (``KUBERNETES_SERVICE_HOST``,
``KUBERNETES_SERVICE_PORT``, ``token`` and ``ca.crt`` of the service-account directory).

Connections are kept alive and reused (a thin ADD makes 3-5 requests: one TLS handshake);
a kept connection the server closed meanwhile is reopened once.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import socket
import ssl
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode, urlsplit

from multus import __version__
from multus_k8s.transport import REST, APIConnectionError, APIStatusError, ConfigError, Timeout

HOST_ENV = "KUBERNETES_SERVICE_HOST"
PORT_ENV = "KUBERNETES_SERVICE_PORT"
USER_AGENT = f"multus/{__version__}"
MAX_IDLE = 4
"""Idle connections kept per server."""


class Credentials:
    """Where the API server is and how to authenticate, as read from the kubeconfig."""

    def __init__(self, server: str) -> None:
        self.server = server
        self.ca_file = ""
        self.ca_data: bytes | None = None
        self.insecure = False
        self.server_name = ""
        self.cert_file = ""
        self.cert_data: bytes | None = None
        self.key_file = ""
        self.key_data: bytes | None = None
        self.token = ""
        self.basic: tuple[str, str] | None = None
        self.needs_client: str | None = None
        """Why only the ``kubernetes`` package can use these credentials (``None``: we can)."""


# --- loading -------------------------------------------------------------------------------------

def load_credentials(kubeconfig: str, env: Mapping[str, str], service_account_dir: str) -> Credentials:
    """The credentials of ``kubeconfig``, or of the service account when it is empty."""
    if not kubeconfig:
        return in_cluster(env, service_account_dir)
    data = _parse(kubeconfig, _read(kubeconfig).decode("utf-8", "replace"))
    base = os.path.dirname(os.path.abspath(kubeconfig))
    current = data.get("current-context")
    if not current or not isinstance(current, str):
        raise ConfigError("no current-context")
    context = _named(data, "contexts", "context", current)
    cluster = _named(data, "clusters", "cluster", _field(context, "cluster", f"context {current!r}"))
    user_name = context.get("user")
    user = _named(data, "users", "user", user_name) if user_name else {}
    server = _field(cluster, "server", f"cluster {context['cluster']!r}")
    creds = Credentials(server)
    if cluster.get("proxy-url"):
        creds.needs_client = "a cluster with proxy-url"
    for key in ("exec", "auth-provider"):
        if user.get(key):
            creds.needs_client = f"a user with {key}"
    creds.insecure = _flag(cluster.get("insecure-skip-tls-verify"))
    creds.server_name = str(cluster.get("tls-server-name") or "")
    creds.ca_file, creds.ca_data = _file_or_data(cluster, "certificate-authority", base)
    creds.cert_file, creds.cert_data = _file_or_data(user, "client-certificate", base)
    creds.key_file, creds.key_data = _file_or_data(user, "client-key", base)
    if bool(creds.cert_file or creds.cert_data) != bool(creds.key_file or creds.key_data):
        raise ConfigError(f"user {user_name!r}: client-certificate and client-key go together")
    if user.get("token"):
        creds.token = str(user["token"]).strip()
    elif user.get("tokenFile"):
        creds.token = _read(_resolve(str(user["tokenFile"]), base)).decode("utf-8", "replace").strip()
    if user.get("username") and not creds.token:
        creds.basic = (str(user["username"]), str(user.get("password") or ""))
    return creds


def in_cluster(env: Mapping[str, str], service_account_dir: str) -> Credentials:
    """The pod's service account, as client-go's ``InClusterConfig``."""
    host, port = env.get(HOST_ENV, ""), env.get(PORT_ENV, "")
    if not host or not port:
        raise ConfigError(f"{HOST_ENV} and {PORT_ENV} must be set for the in-cluster configuration")
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address
    creds = Credentials(f"https://{host}:{port}")
    token_path = os.path.join(service_account_dir, "token")
    creds.token = _read(token_path).decode("utf-8", "replace").strip()
    if not creds.token:
        raise ConfigError(f"{token_path} is empty")
    creds.ca_file = os.path.join(service_account_dir, "ca.crt")
    if not os.path.isfile(creds.ca_file):
        raise ConfigError(f"file not found: {creds.ca_file}")
    return creds


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise ConfigError(f"file not found: {path}") from None
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror or e}") from None


def _parse(path: str, text: str) -> dict[str, Any]:
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            data = _yaml(path, text)  # YAML's flow style, not JSON
    else:
        data = _yaml(path, text)
    if not isinstance(data, dict):
        raise ConfigError(f"{path} is not a kubeconfig (a mapping with clusters, users and contexts)")
    return data


def _yaml(path: str, text: str) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)  # a safe loader (C when built)
    except yaml.YAMLError as e:
        raise ConfigError(f"{path} is not valid YAML: {e}") from None


def _named(data: Mapping[str, Any], section: str, key: str, name: Any) -> Mapping[str, Any]:
    entries = data.get(section)
    for entry in entries if isinstance(entries, list) else ():
        if isinstance(entry, Mapping) and entry.get("name") == name:
            value = entry.get(key)
            if value is None:
                return {}
            if not isinstance(value, Mapping):
                raise ConfigError(f"{section} {name!r}: {key} must be a mapping")
            return value
    raise ConfigError(f"no {key} named {name!r} in {section}")


def _field(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not value or not isinstance(value, str):
        raise ConfigError(f"{where} has no {key}")
    return value


def _flag(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _resolve(path: str, base: str) -> str:
    return path if os.path.isabs(path) else os.path.join(base, path)


def _file_or_data(obj: Mapping[str, Any], key: str, base: str) -> tuple[str, bytes | None]:
    """``<key>-data`` (base64, decoded) wins over the file ``<key>``, as in client-go."""
    data = obj.get(f"{key}-data")
    if data:
        try:
            return "", base64.b64decode(str(data), validate=False)
        except ValueError as e:
            raise ConfigError(f"{key}-data is not base64: {e}") from None
    path = obj.get(key)
    if not path:
        return "", None
    full = _resolve(str(path), base)
    if not os.path.isfile(full):
        raise ConfigError(f"{key}: file not found: {full}")
    return full, None


# --- TLS -----------------------------------------------------------------------------------------

def ssl_context(creds: Credentials) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        if creds.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif creds.ca_data is not None:
            ctx.load_verify_locations(cadata=_pem_or_der(creds.ca_data))
        elif creds.ca_file:
            ctx.load_verify_locations(cafile=creds.ca_file)
        else:
            ctx.load_default_certs()
    except (ssl.SSLError, OSError, ValueError) as e:
        raise ConfigError(f"cannot load the certificate authority: {e}") from None
    if creds.cert_file or creds.cert_data is not None:
        try:
            with _as_file(creds.cert_data, creds.cert_file) as cert, _as_file(creds.key_data, creds.key_file) as key:
                ctx.load_cert_chain(cert, key)
        except (ssl.SSLError, OSError) as e:
            raise ConfigError(f"cannot load the client certificate and key: {e}") from None
    return ctx


def _pem_or_der(data: bytes) -> str | bytes:
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return data
    return text if "-----BEGIN" in text else data


@contextlib.contextmanager
def _as_file(data: bytes | None, path: str) -> Iterator[str]:
    """``path``, or a private file holding ``data`` for as long as the block runs."""
    if data is None:
        yield path
        return
    temp = ""
    try:
        fd = os.memfd_create("multus-k8s-credential", os.MFD_CLOEXEC)
        name = f"/proc/self/fd/{fd}"
    except (AttributeError, OSError):
        import tempfile

        fd, temp = tempfile.mkstemp(prefix="multus-k8s-")  # mode 0600
        name = temp
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        yield name
    finally:
        os.close(fd)
        if temp:
            os.unlink(temp)


def _ascii(name: str) -> bytes | str:
    """``name`` as bytes when it is ASCII: ``socket`` and ``ssl`` encode a ``str`` host with the
    ``idna`` codec, whose import (``stringprep``, ``unicodedata``) a thin plugin would pay."""
    try:
        return name.encode("ascii")
    except UnicodeEncodeError:
        return name


class _Connection(http.client.HTTPConnection):
    """An HTTP connection that resolves its host without the ``idna`` codec."""

    def connect(self) -> None:
        self.sock = socket.create_connection((_ascii(self.host), self.port), self.timeout)  # type: ignore[arg-type]
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _TLSConnection(http.client.HTTPSConnection):
    """An HTTPS connection whose certificate is checked against ``server_name`` (the kubeconfig's
    ``tls-server-name``, else the host it connects to)."""

    server_name = ""

    def connect(self) -> None:
        _Connection.connect(self)  # type: ignore[arg-type]
        name = _ascii(self.server_name or self.host)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=name)  # type: ignore[attr-defined]


# --- the transport -------------------------------------------------------------------------------

class RestTransport:
    """Requests to one API server over kept-alive ``http.client`` connections; thread-safe."""

    implementation = REST

    def __init__(self, creds: Credentials) -> None:
        url = urlsplit(creds.server)
        if url.scheme not in ("https", "http") or not url.hostname:
            raise ConfigError(f"server {creds.server!r}: not an http(s) URL")
        try:
            self._port = url.port or (443 if url.scheme == "https" else 80)
        except ValueError:
            raise ConfigError(f"server {creds.server!r}: invalid port") from None
        self.host = creds.server
        self._hostname = url.hostname
        self._prefix = url.path.rstrip("/")
        self._context = ssl_context(creds) if url.scheme == "https" else None
        self._server_name = creds.server_name
        self._headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if creds.token:
            self._headers["Authorization"] = f"Bearer {creds.token}"
        elif creds.basic is not None:
            pair = base64.b64encode(":".join(creds.basic).encode()).decode("ascii")
            self._headers["Authorization"] = f"Basic {pair}"
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def _connection(self, connect_timeout: float) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        conn: http.client.HTTPConnection
        if self._context is None:
            conn = _Connection(self._hostname, self._port, timeout=connect_timeout)
        else:
            tls = _TLSConnection(self._hostname, self._port, timeout=connect_timeout, context=self._context)
            tls.server_name = self._server_name
            conn = tls
        return conn, False

    def _release(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < MAX_IDLE:
                self._idle.append(conn)
                return
        conn.close()

    def request(self, method: str, path: str, timeout: Timeout, body: Any = None,
                content_type: str = "application/json", query: Sequence[tuple[str, str]] = (),
                stream: bool = False) -> Any:
        if stream:
            raise NotImplementedError("watches need the kubernetes transport")
        connect_timeout, read_timeout = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        target = self._prefix + path + (f"?{urlencode(list(query))}" if query else "")
        headers = dict(self._headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        while True:
            conn, reused = self._connection(connect_timeout)
            try:
                if conn.sock is None:
                    conn.timeout = connect_timeout
                    conn.connect()
                conn.sock.settimeout(read_timeout)
                conn.request(method, target, body=data, headers=headers)
                resp = conn.getresponse()
                payload = resp.read()
            except ssl.SSLCertVerificationError as e:
                conn.close()
                raise APIConnectionError(f"SSLCertVerificationError: {e.verify_message or e}: the server's "
                                         "certificate does not verify (certificate verify failed)",
                                         certificate=True) from None
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as e:
                conn.close()
                if reused:
                    continue  # a kept connection the server had closed: once more on a new one
                raise APIConnectionError(f"{type(e).__name__}: {e}") from None
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                raise APIConnectionError(f"{type(e).__name__}: {e}") from None
            break
        if resp.will_close:
            conn.close()
        else:
            self._release(conn)
        if not 200 <= resp.status <= 299:
            raise APIStatusError(resp.status, resp.reason, payload.decode("utf-8", "replace"))
        if not payload:
            return None
        try:
            return json.loads(payload)
        except ValueError as e:
            raise APIConnectionError(f"the answer to {method} {path} is not JSON: {e}") from None

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
