"""The container image built by deploy/image/build.sh (Debian packages + local wheels, no
registry), run with podman without a network: its commands, and ``multusctl install`` into a
mounted scratch host tree whose executables must then run on this host, outside the image."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("MULTUS_IMAGE_CACHE", "/var/cache/multus-image"))
pytestmark = pytest.mark.runtime


def _podman() -> list[str]:
    s = CACHE / "storage"
    return ["podman", "--root", str(s / "root"), "--runroot", str(s / "run"), "--storage-driver", "vfs",
            "--cgroup-manager", "cgroupfs", "--events-backend", "file", "--tmpdir", str(s / "tmp")]


@pytest.fixture(scope="session")
def image() -> Iterator[str]:
    if os.geteuid() != 0 or not shutil.which("podman"):
        pytest.skip("building the image needs root and podman")
    if os.environ.get("MULTUS_SKIP_IMAGE"):
        pytest.skip("MULTUS_SKIP_IMAGE is set")
    r = subprocess.run(["bash", str(REPO / "deploy/image/build.sh")], capture_output=True, text=True,
                       timeout=3000, check=False)
    if r.returncode != 0 and not (CACHE / "wheels").is_dir() and _offline():
        pytest.skip("the image is not built and Debian/PyPI are unreachable from here: "
                    "run scripts/setup.sh (it builds the image) first")
    assert r.returncode == 0, r.stderr[-4000:]
    yield r.stdout.strip().splitlines()[-1]


def _offline() -> bool:
    with open("/proc/net/route") as f:
        return not any(line.split()[1] == "00000000" for line in f.readlines()[1:] if line.split())


def run(image: str, *cmd: str, volumes: tuple[str, ...] = (), env: dict[str, str] | None = None,
        ) -> subprocess.CompletedProcess[str]:
    args = [*_podman(), "run", "--rm", "--network", "none", "--runtime", "runc",
            "--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"]
    for v in volumes:
        args += ["-v", v]
    for k, v in (env or {}).items():
        args += ["-e", f"{k}={v}"]
    return subprocess.run([*args, image, *cmd], capture_output=True, text=True, timeout=300, check=False)


def test_commands_in_the_image(image: str) -> None:
    r = run(image, "multusctl", "--help")
    assert r.returncode == 0 and "install" in r.stdout and "explain" in r.stdout, r.stderr
    r = run(image, "multus-daemon", "-version")
    assert r.returncode == 4 and r.stdout.startswith("multus-daemon: version:"), r.stderr
    r = run(image, "python3", "-c", "import kubernetes.client, kubernetes.config, pyroute2, grpc, multus_k8s.client")
    assert r.returncode == 0, r.stderr


def test_install_into_a_mounted_host_tree(image: str, tmp_path: Path) -> None:
    host = tmp_path / "host"
    (host / "opt/cni/bin").mkdir(parents=True)
    (host / "etc/cni/net.d").mkdir(parents=True)
    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text("image-token")
    (sa / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    conf = tmp_path / "multus.conf"
    conf.write_text(json.dumps({"cniVersion": "0.3.1", "name": "multus-cni-network", "type": "multus",
                                "delegates": [{"cniVersion": "0.3.1", "name": "cbr0", "type": "bridge"}]}))
    vols = (f"{host}:/host", f"{sa}:/var/run/secrets/kubernetes.io/serviceaccount:ro", f"{conf}:/cfg/multus.conf:ro")
    r = run(image, "multusctl", "copy-binaries", "--type=thin", volumes=vols)
    assert r.returncode == 0, r.stderr
    r = run(image, "multusctl", "install", "--once", "--skip-multus-binary-copy", "--multus-conf-file=/cfg/multus.conf",
            volumes=vols, env={"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"})
    assert r.returncode == 0, r.stderr
    r = run(image, "multusctl", "copy-binaries", "--type=thick", volumes=vols)
    assert r.returncode == 0, r.stderr

    bin_dir = host / "opt/cni/bin"
    assert json.loads((host / "etc/cni/net.d/multus.conf").read_text())["delegates"][0]["name"] == "cbr0"
    kubeconfig = host / "etc/cni/net.d/multus.d/multus.kubeconfig"
    assert oct(kubeconfig.stat().st_mode & 0o777) == "0o600" and "image-token" in kubeconfig.read_text()
    # the thin plugin is a self-contained bundle: it runs here, with none of the image's Python
    multus = bin_dir / "multus"
    assert multus.is_symlink() and (bin_dir / os.readlink(multus)).resolve().is_relative_to(bin_dir.resolve())
    env = {"PATH": "/usr/bin:/bin", "CNI_COMMAND": "VERSION"}
    for exe in ("multus", "multus-shim", "passthru"):
        r = subprocess.run([str(bin_dir / exe)], input='{"cniVersion": "1.0.0"}', env=env, capture_output=True,
                           text=True, timeout=60, check=False)
        assert r.returncode == 0, (exe, r.stderr)
        assert "1.0.0" in json.loads(r.stdout)["supportedVersions"], exe
    r = subprocess.run([str(multus), "-version"], capture_output=True, text=True, timeout=60, check=False)
    assert r.stdout.startswith("multus: version:")
