"""A real kube-apiserver (+ etcd) on 127.0.0.1 for tests and benchmarks.

The servers are started by ``tests/harness/kube-apiserver.sh`` and listen on the loopback of
the network namespace the calling process is in, so a test that runs inside a lab host
namespace talks to a server only that namespace can reach.

Nothing here is a pytest fixture: the fixtures live in ``tests/harness/kube_fixtures.py``.
The ``kubernetes`` client is imported inside the functions that need it.

Usage::

    reason = apiserver_unavailable_reason()
    if reason is None:
        srv = KubeApiServer()
        srv.start()                       # builds the binary first when it is not cached
        srv.install_crd("deploy/crd.yaml")
        ns = srv.new_namespace()
        before = srv.metrics()
        ...                               # code under test, pointed at srv.kubeconfig
        print((srv.metrics() - before).total(verb="GET", resource="pods"))
        srv.stop()
"""

from __future__ import annotations

import importlib
import os
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

__all__ = [
    "DEFAULT_CACHE_DIR",
    "KubeApiServer",
    "KubeHarnessError",
    "RequestCounts",
    "apiserver_unavailable_reason",
    "find_harness_script",
    "repo_root",
]

DEFAULT_CACHE_DIR = Path(os.environ.get("KUBE_CACHE_DIR", "/opt/kube-test"))
_SCRIPT_REL = Path("tests/harness/kube-apiserver.sh")
_RUNTIME_TOOLS = ("etcd", "openssl", "curl")


class KubeHarnessError(RuntimeError):
    """The harness script failed (build or start)."""


def _lazy(module: str) -> Any:
    """Import a module on first use (kubernetes and yaml are slow to import and partly untyped)."""
    return importlib.import_module(module)


def repo_root() -> Path | None:
    """The source checkout this package runs from (editable install), if any."""
    env = os.environ.get("MULTUS_REPO_ROOT")
    if env:
        return Path(env)
    for parent in Path(__file__).resolve().parents:
        if (parent / _SCRIPT_REL).is_file() and (parent / "pyproject.toml").is_file():
            return parent
    return None


def find_harness_script() -> Path | None:
    env = os.environ.get("MULTUS_KUBE_HARNESS")
    if env:
        return Path(env) if Path(env).is_file() else None
    root = repo_root()
    if root is not None and (root / _SCRIPT_REL).is_file():
        return root / _SCRIPT_REL
    return None


def _has_default_route() -> bool:
    """Whether the current network namespace has an IPv4 or IPv6 default route."""
    try:
        with open("/proc/net/route", encoding="ascii") as f:
            next(f, None)
            if any(line.split()[1:2] == ["00000000"] for line in f):
                return True
    except OSError:
        pass
    try:
        with open("/proc/net/ipv6_route", encoding="ascii") as f:
            for line in f:
                cols = line.split()
                if len(cols) >= 10 and cols[0] == "0" * 32 and cols[1] == "00" and cols[9] != "lo":
                    return True
    except OSError:
        pass
    return False


def _binary(cache_dir: Path) -> Path:
    return cache_dir / "bin" / "kube-apiserver"


def apiserver_unavailable_reason(
    cache_dir: Path | str | None = None, *, allow_build: bool = True
) -> str | None:
    """Why a real kube-apiserver cannot be run here, or None when it can.

    With ``allow_build`` a missing binary (or missing etcd/openssl/curl) is fine as long as the
    build step can reach the Debian mirror (apt-get present and a default route in this network
    namespace); the build then takes about 5 minutes on 2 cores.
    """
    cache = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE_DIR
    if os.environ.get("MULTUS_SKIP_APISERVER"):
        return "MULTUS_SKIP_APISERVER is set"
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return f"the kube-apiserver harness needs root (it installs packages and writes {cache})"
    script = find_harness_script()
    if script is None:
        return f"harness script {_SCRIPT_REL} not found (set MULTUS_KUBE_HARNESS or MULTUS_REPO_ROOT)"
    if shutil.which("bash") is None:
        return "bash not found"
    missing = [t for t in _RUNTIME_TOOLS if shutil.which(t) is None]
    binary = _binary(cache)
    if not os.access(binary, os.X_OK):
        missing.append(str(binary))
    if not missing:
        return None
    what = ", ".join(missing)
    if not allow_build or os.environ.get("KUBE_NO_BUILD") == "1":
        return f"missing {what} and building is disabled; run `{script} build` first"
    if shutil.which("apt-get") is None:
        return f"missing {what} and no apt-get to install/build it"
    if not _has_default_route():
        return (
            f"missing {what} and this network namespace has no route out to install/build it; "
            f"run `bash {script} build` outside the namespace first"
        )
    return None


def build(cache_dir: Path | str | None = None, *, timeout: float = 1800) -> None:
    """Install the run-time packages and build/cache kube-apiserver (no-op when done)."""
    script = find_harness_script()
    if script is None:
        raise KubeHarnessError(f"harness script {_SCRIPT_REL} not found")
    env = dict(os.environ)
    env["KUBE_CACHE_DIR"] = str(Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE_DIR)
    proc = subprocess.run(
        ["bash", str(script), "build"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise KubeHarnessError(f"kube-apiserver build failed (rc={proc.returncode}):\n{proc.stderr[-4000:]}")


# ---------------------------------------------------------------------------
# metrics


_LabelKey = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class RequestCounts:
    """``apiserver_request_total`` samples, keyed by their sorted label pairs.

    Labels (1.20): verb (GET, LIST, WATCH, POST, PUT, PATCH, DELETE, ...), group, version,
    resource, subresource, scope, component, code, dry_run. Subtract two snapshots to get
    the requests made in between.
    """

    samples: Mapping[_LabelKey, float] = field(default_factory=dict)

    def total(self, **labels: str) -> float:
        """Sum of the samples whose labels match all of ``labels`` (verb case-insensitive)."""
        want = {k: (v.upper() if k == "verb" else v) for k, v in labels.items()}
        n = 0.0
        for key, value in self.samples.items():
            d = dict(key)
            if all(d.get(k, "") == v for k, v in want.items()):
                n += value
        return n

    def by(self, *names: str, **labels: str) -> dict[tuple[str, ...], float]:
        """Totals grouped by the given label names, e.g. ``by("verb", "resource")``."""
        want = {k: (v.upper() if k == "verb" else v) for k, v in labels.items()}
        out: dict[tuple[str, ...], float] = {}
        for key, value in self.samples.items():
            d = dict(key)
            if all(d.get(k, "") == v for k, v in want.items()):
                g = tuple(d.get(n, "") for n in names)
                out[g] = out.get(g, 0.0) + value
        return {k: v for k, v in out.items() if v}

    def __sub__(self, other: RequestCounts) -> RequestCounts:
        keys = set(self.samples) | set(other.samples)
        return RequestCounts({k: self.samples.get(k, 0.0) - other.samples.get(k, 0.0) for k in keys})

    def __iter__(self) -> Iterator[tuple[dict[str, str], float]]:
        for key, value in self.samples.items():
            yield dict(key), value


def parse_request_counts(text: str) -> RequestCounts:
    from prometheus_client.parser import text_string_to_metric_families

    samples: dict[_LabelKey, float] = {}
    for family in text_string_to_metric_families(text):
        # the parser strips "_total" from counter family names
        if family.name not in ("apiserver_request", "apiserver_request_total"):
            continue
        for s in family.samples:
            if s.name != "apiserver_request_total":
                continue
            key = tuple(sorted(s.labels.items()))
            samples[key] = samples.get(key, 0.0) + s.value
    return RequestCounts(samples)


# ---------------------------------------------------------------------------
# the server


class KubeApiServer:
    """etcd + kube-apiserver on 127.0.0.1 of the current network namespace.

    ``base_dir`` (a fresh temp dir by default) holds ``run/`` (certs, etcd data, logs; removed
    by :meth:`stop`) and ``state/`` (kubeconfig, kubeconfig-multus, ca.crt, token, url), which
    stays until :meth:`cleanup` so a client's kubeconfig path remains valid while the server
    is stopped.
    """

    def __init__(
        self,
        base_dir: Path | str | None = None,
        *,
        cache_dir: Path | str | None = None,
        script: Path | str | None = None,
        ready_timeout: float = 120,
    ) -> None:
        found = Path(script) if script is not None else find_harness_script()
        if found is None:
            raise KubeHarnessError(f"harness script {_SCRIPT_REL} not found")
        self.script = found
        self.cache_dir = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE_DIR
        self._own_base = base_dir is None
        self.base_dir = (
            Path(base_dir) if base_dir is not None else Path(tempfile.mkdtemp(prefix="multus-kube-"))
        )
        self.run_dir = self.base_dir / "run"
        self.state_dir = self.base_dir / "state"
        self.ready_timeout = ready_timeout
        self.start_seconds: float | None = None
        self.stop_seconds: float | None = None
        self._crd_ready: set[str] = set()

    # -- script ------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            KUBE_CACHE_DIR=str(self.cache_dir),
            KUBE_RUN_DIR=str(self.run_dir),
            KUBE_STATE_DIR=str(self.state_dir),
            KUBE_READY_TIMEOUT=str(int(self.ready_timeout)),
            KUBE_WATCH_PID=str(os.getpid()),
        )
        return env

    def _run(self, cmd: str, timeout: float, **extra_env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(self.script), cmd],
            env={**self._env(), **extra_env},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def build(self, timeout: float = 1800) -> None:
        build(self.cache_dir, timeout=timeout)

    def start(self) -> None:
        """Start (building first if needed) and wait for /readyz."""
        t0 = time.monotonic()
        proc = self._run("start", timeout=self.ready_timeout + 1800)
        if proc.returncode != 0:
            raise KubeHarnessError(
                f"kube-apiserver start failed (rc={proc.returncode}):\n{proc.stderr[-4000:]}"
            )
        self.start_seconds = time.monotonic() - t0
        self._crd_ready.clear()

    def stop(self, grace: float = 10) -> None:
        """Stop both servers (SIGTERM, SIGKILL after ``grace`` s; 0: SIGKILL at once).

        The state dir (kubeconfig, CA) is kept. A graceful kube-apiserver stop takes ~3 s.
        """
        t0 = time.monotonic()
        self._run("stop", timeout=grace + 60, KUBE_STOP_GRACE=str(int(grace)))
        self.stop_seconds = time.monotonic() - t0

    def cleanup(self, grace: float = 0) -> None:
        """Stop (SIGKILL by default: the data is thrown away) and remove everything."""
        self.stop(grace)
        if self._own_base:
            shutil.rmtree(self.base_dir, ignore_errors=True)
        else:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def is_running(self) -> bool:
        return self._run("status", timeout=10).returncode == 0

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    # -- connection data ---------------------------------------------------

    def _state(self, name: str) -> str:
        try:
            return (self.state_dir / name).read_text().strip()
        except FileNotFoundError:
            raise KubeHarnessError(
                f"kube-apiserver was never started ({self.state_dir / name} missing)"
            ) from None

    @property
    def kubeconfig(self) -> Path:
        """Admin kubeconfig (group system:masters); outlives :meth:`stop`."""
        return self.state_dir / "kubeconfig"

    @property
    def multus_kubeconfig(self) -> Path:
        """Kubeconfig of user system:serviceaccount:kube-system:multus (rights come from deploy/rbac.yaml)."""
        return self.state_dir / "kubeconfig-multus"

    @property
    def url(self) -> str:
        return self._state("url")

    @property
    def token(self) -> str:
        return self._state("token")

    @property
    def multus_token(self) -> str:
        return self._state("token-multus")

    @property
    def ca(self) -> Path:
        """CA certificate file that signed the serving certificate."""
        return self.state_dir / "ca.crt"

    @property
    def log_file(self) -> Path:
        return self.run_dir / "kube-apiserver.log"

    # -- HTTP / client -----------------------------------------------------

    def get_raw(self, path: str, timeout: float = 10) -> str:
        """GET ``path`` as admin with plain urllib (no proxy), returning the body."""
        ctx = ssl.create_default_context(cafile=str(self.ca))
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ctx)
        )
        req = urllib.request.Request(self.url + path, headers={"Authorization": f"Bearer {self.token}"})
        with opener.open(req, timeout=timeout) as resp:
            body: bytes = resp.read()
        return body.decode()

    def metrics(self) -> RequestCounts:
        """``apiserver_request_total`` counters from /metrics.

        The counter of a request is bumped just after its response is written, so read
        twice (or poll) when a count must include the request that just returned.
        """
        return parse_request_counts(self.get_raw("/metrics"))

    def api_client(self, kubeconfig: Path | str | None = None) -> Any:
        """A ``kubernetes.client.ApiClient`` for the admin (or the given) kubeconfig."""
        client = _lazy("kubernetes.client")
        config = _lazy("kubernetes.config")

        cfg = client.Configuration()
        config.load_kube_config(config_file=str(kubeconfig or self.kubeconfig), client_configuration=cfg)
        cfg.proxy = None  # loopback only: never through an environment proxy
        return client.ApiClient(configuration=cfg)

    # -- objects -----------------------------------------------------------

    def install_crd(self, path: Path | str, timeout: float = 30) -> list[str]:
        """Create the CRDs in a YAML file (existing ones are kept) and wait until Established."""
        yaml = _lazy("yaml")
        client = _lazy("kubernetes.client")
        ApiException = _lazy("kubernetes.client.exceptions").ApiException

        docs = [d for d in yaml.safe_load_all(Path(path).read_text()) if d]
        names: list[str] = []
        with self.api_client() as api_client:
            api = client.ApiextensionsV1Api(api_client)
            for doc in docs:
                if doc.get("kind") != "CustomResourceDefinition":
                    continue
                name = doc["metadata"]["name"]
                names.append(name)
                try:
                    api.create_custom_resource_definition(body=doc)
                except ApiException as e:
                    if e.status != 409:
                        raise
            deadline = time.monotonic() + timeout
            for name in names:
                while not self._crd_established(api, name):
                    if time.monotonic() > deadline:
                        raise KubeHarnessError(f"CRD {name} not Established after {timeout} s")
                    time.sleep(0.05)
                self._crd_ready.add(name)
        return names

    @staticmethod
    def _crd_established(api: Any, name: str) -> bool:
        crd = api.read_custom_resource_definition(name)
        conds: Iterable[Any] = (crd.status.conditions if crd.status else None) or []
        return any(c.type == "Established" and c.status == "True" for c in conds)

    def apply_manifest(self, path: Path | str) -> list[str]:
        """Create the objects of a YAML file (ClusterRole, ClusterRoleBinding, ServiceAccount,
        CRDs, anything ``kubernetes.utils`` knows); objects that already exist are kept."""
        yaml = _lazy("yaml")
        utils = _lazy("kubernetes.utils")

        created: list[str] = []
        docs = [d for d in yaml.safe_load_all(Path(path).read_text()) if d]
        with self.api_client() as api_client:
            for doc in docs:
                try:
                    utils.create_from_dict(api_client, doc)
                except utils.FailToCreateError as e:
                    if any(getattr(x, "status", None) != 409 for x in e.api_exceptions):
                        raise
                created.append(f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}")
        return created

    def new_namespace(self, prefix: str = "t", labels: Mapping[str, str] | None = None) -> str:
        """Create a uniquely named namespace and return its name.

        Only the apiserver runs: a deleted namespace stays Terminating, so tests simply
        leave theirs behind (the whole server is thrown away at the end).
        """
        client = _lazy("kubernetes.client")

        prefix = "".join(c if c.isalnum() else "-" for c in prefix.lower()).strip("-")[:40] or "t"
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        body = client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels=dict(labels or {})))
        with self.api_client() as api_client:
            client.CoreV1Api(api_client).create_namespace(body)
        return name
