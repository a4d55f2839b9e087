"""A scratch host tree for ``multusctl install``: host bin and conf dirs, the image's bin dir,
a service-account dir laid out as kubelet projects it (``..data`` symlink swapped on rotation),
and the installer run as a real process."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs

CTL = [sys.executable, "-m", "multus.ctl.main"]
FAKE_CA = ("-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU{}\n-----END CERTIFICATE-----\n")


def wait_for(cond: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@attrs.define
class Host:
    root: Path
    procs: list[subprocess.Popen[str]] = attrs.field(factory=list)

    @property
    def bin_dir(self) -> Path:
        return self.root / "host/opt/cni/bin"

    @property
    def conf_dir(self) -> Path:
        return self.root / "host/etc/cni/net.d"

    @property
    def image_bin(self) -> Path:
        return self.root / "image/bin"

    @property
    def sa_dir(self) -> Path:
        return self.root / "serviceaccount"

    @property
    def kubeconfig(self) -> Path:
        return self.conf_dir / "multus.d/multus.kubeconfig"

    def make(self) -> Host:
        for d in (self.bin_dir, self.conf_dir, self.image_bin, self.sa_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.put_binary("multus", "#!/bin/sh\necho 'multus: version: image-1'\n")
        self.put_binary("passthru", "#!/bin/sh\necho passthru\n")
        self.rotate_service_account("token-1", "ca-1")
        return self

    def put_binary(self, name: str, text: str) -> Path:
        p = self.image_bin / name
        tmp = p.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.chmod(0o755)
        tmp.rename(p)
        return p

    def rotate_service_account(self, token: str, ca_serial: str) -> None:
        """kubelet's atomic writer: a fresh timestamped dir, then ``..data`` renamed onto it."""
        stamp = self.sa_dir / f"..{time.time_ns()}"
        stamp.mkdir()
        (stamp / "token").write_text(token)
        (stamp / "ca.crt").write_text(FAKE_CA.format(ca_serial))
        tmp_link = self.sa_dir / "..data_tmp"
        tmp_link.symlink_to(stamp.name)
        tmp_link.rename(self.sa_dir / "..data")
        for name in ("token", "ca.crt"):
            link = self.sa_dir / name
            if not link.is_symlink():
                link.symlink_to(f"..data/{name}")

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(KUBERNETES_SERVICE_HOST="10.96.0.1", KUBERNETES_SERVICE_PORT="443")
        env.pop("KUBERNETES_SERVICE_PROTOCOL", None)
        return env

    def args(self, *extra: str) -> list[str]:
        return ["install", f"--cni-bin-dir={self.bin_dir}", f"--cni-conf-dir={self.conf_dir}",
                f"--multus-autoconfig-dir={self.conf_dir}", f"--multus-bin-file={self.image_bin / 'multus'}",
                f"--service-account-dir={self.sa_dir}", "--poll-interval=0.5", *extra]

    def run(self, *extra: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(CTL + self.args(*extra), env=self.env(), capture_output=True, text=True,
                              timeout=timeout, check=False)

    @property
    def log(self) -> Path:
        return self.root / "installer.log"

    def log_text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def start(self, *extra: str) -> subprocess.Popen[str]:
        """The installer in the background; its stderr goes to :attr:`log`."""
        with open(self.log, "a") as err:
            p = subprocess.Popen(CTL + self.args(*extra), env=self.env(), stdout=subprocess.DEVNULL,
                                 stderr=err, text=True)
        self.procs.append(p)
        return p

    def stop(self, p: subprocess.Popen[str], sig: int = signal.SIGTERM) -> tuple[int, str]:
        p.send_signal(sig)
        p.wait(timeout=30)
        return p.returncode, self.log_text()

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.communicate()

    def kubeconfig_token_and_ca(self) -> tuple[str, str]:
        import yaml

        doc = yaml.safe_load(self.kubeconfig.read_text())
        token = doc["users"][0]["user"]["token"]
        ca = base64.b64decode(doc["clusters"][0]["cluster"]["certificate-authority-data"]).decode()
        return token, ca

    def write_json(self, name: str, data: dict[str, Any]) -> Path:
        p = self.conf_dir / name
        tmp = p.parent / f".{name}.tmp"
        tmp.write_text(json.dumps(data))
        tmp.rename(p)
        return p


def bridge_conflist(name: str = "cbr0", version: str = "1.0.0", **caps: bool) -> dict[str, Any]:
    plugins: list[dict[str, Any]] = [{"type": "bridge", "bridge": name, "ipam": {"type": "host-local",
                                                                               "subnet": "10.244.0.0/24"}}]
    if caps:
        plugins.append({"type": "portmap", "capabilities": dict(caps)})
    return {"cniVersion": version, "name": name, "plugins": plugins}


def no_partial_files(directory: Path, names: Sequence[str]) -> bool:
    """No temporary file is left next to the targets."""
    return not [n for n in os.listdir(directory) if n.startswith(".") and n.endswith(".new")
                and any(n[1:].startswith(t) for t in names)]
