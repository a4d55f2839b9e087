"""``multusctl install`` into a scratch host tree, as a real process (signals, watching)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import threading
from pathlib import Path

from installkit import CTL, Host, no_partial_files, wait_for


def _static_conf(host: Host, name: str = "multus.conf", version: str = "0.3.1") -> Path:
    p = host.root / "image" / name
    p.write_text(json.dumps({"cniVersion": version, "name": "multus-cni-network", "type": "multus",
                             "kubeconfig": "/etc/cni/net.d/multus.d/multus.kubeconfig",
                             "delegates": [{"cniVersion": version, "name": "cbr0", "type": "bridge"}]}))
    return p


def test_first_install_copies_writes_kubeconfig_and_config(host: Host) -> None:
    conf = _static_conf(host)
    r = host.run(f"--multus-conf-file={conf}", "--once")
    assert r.returncode == 0, r.stderr
    for name in ("multus", "passthru"):
        installed = host.bin_dir / name
        assert installed.read_bytes() == (host.image_bin / name).read_bytes()
        assert stat.S_IMODE(installed.stat().st_mode) == 0o755
    assert (host.conf_dir / "multus.conf").read_bytes() == conf.read_bytes()
    assert stat.S_IMODE((host.conf_dir / "multus.conf").stat().st_mode) == 0o600
    assert stat.S_IMODE(host.kubeconfig.stat().st_mode) == 0o600
    token, ca = host.kubeconfig_token_and_ca()
    assert token == "token-1" and "ca-1" in ca
    cluster = json.loads(host.kubeconfig.read_text())["clusters"][0]["cluster"]  # JSON: read without YAML
    assert cluster["server"] == "https://10.96.0.1:443"
    assert no_partial_files(host.bin_dir, ["multus", "passthru"])
    assert no_partial_files(host.conf_dir, ["multus.conf"])


def test_kubeconfig_server_ipv6_and_skip_tls_verify(host: Host) -> None:
    conf = _static_conf(host)
    env = host.env() | {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PROTOCOL": "http"}
    r = subprocess.run([*CTL, *host.args(f"--multus-conf-file={conf}", "--once",
                                                                    "--skip-tls-verify")],
                       env=env, capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    cluster = json.loads(host.kubeconfig.read_text())["clusters"][0]["cluster"]
    assert cluster == {"server": "http://[fd00::1]:443", "insecure-skip-tls-verify": True}


def test_upgrade_while_the_old_binary_runs(host: Host) -> None:
    """The installed multus is an ELF being executed (one long-running process, and a loop
    that keeps starting it) while the installer replaces it: no exec fails, the running one
    keeps running, and the new file is in place afterwards (a copy in place would fail with
    "Text file busy", upstream #1221)."""
    sleep, true = shutil.which("sleep"), shutil.which("true")
    assert sleep and true
    shutil.copy(sleep, host.bin_dir / "multus")
    running = subprocess.Popen([str(host.bin_dir / "multus"), "60"])
    failures: list[str] = []
    runs = [0]
    stop = threading.Event()

    def keep_executing() -> None:
        while not stop.is_set():
            try:
                rc = subprocess.run([str(host.bin_dir / "multus"), "0"], capture_output=True, check=False).returncode
            except OSError as e:  # ETXTBSY, ENOENT, ENOEXEC of a partial file
                failures.append(repr(e))
                continue
            runs[0] += 1
            if rc != 0:
                failures.append(f"exit {rc}")

    loop = threading.Thread(target=keep_executing)
    loop.start()
    try:
        conf = _static_conf(host)
        for i in range(6):
            shutil.copy(true if i % 2 == 0 else sleep, host.image_bin / "multus")
            r = host.run(f"--multus-conf-file={conf}", "--once", "--skip-kubeconfig")
            assert r.returncode == 0, r.stderr
        assert running.poll() is None, "the process running the old binary was disturbed"
    finally:
        stop.set()
        loop.join()
        running.kill()
        running.wait()
    assert failures == [] and runs[0] > 0
    assert (host.bin_dir / "multus").read_bytes() == Path(sleep).read_bytes()
    assert no_partial_files(host.bin_dir, ["multus"])


def test_token_and_ca_rotation_rewrite_the_kubeconfig(host: Host) -> None:
    conf = _static_conf(host)
    p = host.start(f"--multus-conf-file={conf}")
    wait_for(lambda: host.kubeconfig.exists(), what="the kubeconfig")
    assert host.kubeconfig_token_and_ca()[0] == "token-1"
    host.rotate_service_account("token-2", "ca-1")
    wait_for(lambda: host.kubeconfig_token_and_ca()[0] == "token-2", what="the rotated token")
    host.rotate_service_account("token-2", "ca-2")
    wait_for(lambda: "ca-2" in host.kubeconfig_token_and_ca()[1], what="the rotated CA")
    assert stat.S_IMODE(host.kubeconfig.stat().st_mode) == 0o600
    code, err = host.stop(p)
    assert code == 0, err
    assert host.kubeconfig.exists(), "without --cleanup-config-on-exit the files stay"


def test_sigterm_cleanup_removes_what_it_wrote(host: Host) -> None:
    conf = _static_conf(host)
    other = host.write_json("10-other.conflist", {"cniVersion": "1.0.0", "name": "o", "plugins": [{"type": "x"}]})
    p = host.start(f"--multus-conf-file={conf}", "--cleanup-config-on-exit")
    wait_for(lambda: (host.conf_dir / "multus.conf").exists() and host.kubeconfig.exists(), what="the install")
    code, err = host.stop(p, signal.SIGTERM)
    assert code == 0, err
    assert not (host.conf_dir / "multus.conf").exists()
    assert not host.kubeconfig.exists()
    assert other.exists(), "files the installer did not write are kept"
    assert (host.bin_dir / "multus").exists(), "binaries stay for pods still being torn down"


def test_bad_flags_give_clear_errors(host: Host) -> None:
    r = host.run("--multus-log-level=loud")
    assert r.returncode == 1 and "--multus-log-level" in r.stderr and "loud" in r.stderr
    assert "Traceback" not in r.stderr
    r = host.run("--no-such-flag")
    assert r.returncode == 2 and "--no-such-flag" in r.stderr
    r = host.run(f"--cni-bin-dir={host.root / 'missing'}")
    assert r.returncode == 1 and "--cni-bin-dir" in r.stderr and "missing" in r.stderr
    r = host.run("--cni-version=9.9.9")
    assert r.returncode == 1 and "--cni-version" in r.stderr
    r = host.run("--skip-config-watch=maybe")
    assert r.returncode == 2 and "maybe" in r.stderr


def test_missing_token_is_reported_and_the_rest_still_installs(host: Host) -> None:
    conf = _static_conf(host)
    for name in ("token", "ca.crt"):
        os.unlink(host.sa_dir / name)
    r = host.run(f"--multus-conf-file={conf}", "--once")
    assert r.returncode == 1
    assert f"{host.sa_dir}/token" in r.stderr and "Traceback" not in r.stderr
    assert (host.conf_dir / "multus.conf").exists()
    assert not host.kubeconfig.exists()


def test_unreadable_or_empty_config_keeps_the_previous_one(host: Host) -> None:
    conf = _static_conf(host)
    p = host.start(f"--multus-conf-file={conf}")
    installed = host.conf_dir / "multus.conf"
    wait_for(installed.exists, what="the config")
    before = installed.read_bytes()
    conf.unlink()
    conf.symlink_to(host.root / "nowhere")  # dangling: cannot be read
    wait_for(lambda: "cannot read" in host.log_text(), what="the read error")
    assert installed.read_bytes() == before
    conf.unlink()
    conf.write_text("")
    wait_for(lambda: "is empty" in host.log_text(), what="the empty-file error")
    assert installed.read_bytes() == before
    conf.write_text('{"cniVersion": "0.3.1", "name": "n2", "type": "multus", "delegates": [{"type": "x"}]}')
    wait_for(lambda: b"n2" in installed.read_bytes(), what="the fixed config")
    code, err = host.stop(p)
    assert code == 0, err
    assert "Traceback" not in err
    assert no_partial_files(host.conf_dir, ["multus.conf"])


def test_bundle_directory_installs_as_versioned_tree_and_symlink(host: Host) -> None:
    """A self-contained bundle (a directory with the executable and its libraries) is copied to
    a fresh tree and ``multus`` is a symlink swapped by rename; the previous tree stays for
    processes still running from it, older ones go."""
    conf = _static_conf(host)
    bundle = host.root / "image/bundle/multus"
    trees = []
    for version in ("b1", "b2", "b3"):
        shutil.rmtree(bundle, ignore_errors=True)
        (bundle / "_internal").mkdir(parents=True)
        (bundle / "_internal" / "lib.txt").write_text(version)
        (bundle / "multus").write_text(f"#!/bin/sh\necho {version}\n")
        (bundle / "multus").chmod(0o755)
        r = host.run(f"--multus-conf-file={conf}", "--once", "--skip-kubeconfig", f"--multus-bin-file={bundle}")
        assert r.returncode == 0, r.stderr
        link = host.bin_dir / "multus"
        assert link.is_symlink()
        out = subprocess.run([str(link)], capture_output=True, text=True, check=True).stdout.strip()
        assert out == version
        trees.append(link.resolve().parent)
        assert (trees[-1] / "_internal" / "lib.txt").read_text() == version
    assert not trees[0].exists() and trees[1].exists() and trees[2].exists()
