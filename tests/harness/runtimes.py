"""Real container runtimes that call a CNI plugin the way a node does: containerd (CRI) and podman.

Both run in the *current* network namespace: the caller must already be inside a lab "host" namespace
(never the machine's root one). Everything else they touch lives under a lab directory: containerd's
root/state/socket, runc state, pod netns mounts, podman storage, the CNI bin/conf dirs.

    rt = Containerd(lab, lab / "cni-bin", lab / "net.d", extra_plugins=[shutil.which("multus")]).start()
    rt.set_network(bridge_conflist("pods", "10.250.1.0/24", lab / "ipam"))
    cri = rt.cri()
    sid = cri.run_pod("web", "default", uid, {"k8s.v1.cni.cncf.io/networks": "macvlan"})
    cri.status(sid).ip            # plus .additional_ips, .netns, .cni_result
    cri.stop_pod(sid); cri.remove_pod(sid)    # CNI DEL with netns+prevResult, then DEL with CNI_NETNS=""
    rt.stop()                     # removes every pod, kills containerd and its shims, unmounts leftovers

    pm = Podman(lab, lab / "cni-bin", lab / "net.d").setup()
    pm.set_network(bridge_conflist("pm", "10.250.2.0/24", lab / "ipam"))
    rc, out = pm.run("pm", ["ip", "-o", "addr", "show", "eth0"])
    pm.start("c1", "pm"); pm.exec("c1", ["ip", "addr"]); pm.netns_path("c1"); pm.rm("c1")
    pm.stop()

`runtime_unavailable_reason("containerd" | "podman")` says why a runtime cannot be used here (for skips).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Self

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # the generated gRPC stub imports "from cri import api_pb2"
    sys.path.insert(0, str(HERE))

CNI_PLUGIN_DIR = Path(os.environ.get("MULTUS_TEST_CNI_PLUGIN_DIR", "/usr/lib/cni"))
BUSYBOX = Path(os.environ.get("MULTUS_TEST_BUSYBOX", "/bin/busybox"))
SANDBOX_IMAGE = "multus-harness.local/pause:1"
# unix socket paths are limited to 108 bytes (sun_path); containerd also listens on <address>.ttrpc
MAX_SOCKET_PATH = 100

_BINARIES = {
    "containerd": ("containerd", "ctr", "containerd-shim-runc-v2", "runc", "ip", "mount"),
    "podman": ("podman", "conmon", "runc", "ip", "mount"),
}


# --------------------------------------------------------------------------------------------------------------
# environment checks


def _init_pid() -> str | None:
    """A process in the machine's initial namespaces whose /proc entries we may read.

    PID 1 normally; where PID 1's namespaces are hidden (a VM init that is not dumpable), kthreadd (PID 2):
    kernel threads always live in the initial network and mount namespaces.
    """
    for pid in ("1", "2"):
        if pid == "2":
            try:
                if Path("/proc/2/comm").read_text().strip() != "kthreadd":
                    continue
            except OSError:
                continue
        try:
            os.stat(f"/proc/{pid}/ns/net")
            return pid
        except OSError:
            continue
    return None


def _ns_inode(pid: str | None, kind: str) -> tuple[int, int] | None:
    if pid is None:
        return None
    try:
        st = os.stat(f"/proc/{pid}/ns/{kind}")
    except OSError:
        return None
    return st.st_dev, st.st_ino


def in_root_netns() -> bool:
    """True when this process shares the machine's initial network namespace (or when that cannot be told)."""
    mine, init = _ns_inode("self", "net"), _ns_inode(_init_pid(), "net")
    return mine is None or init is None or mine == init


@dataclass(frozen=True)
class _Mount:
    point: str
    fstype: str
    root: str
    super_options: str


def _unescape(field: str) -> str:
    return field.encode().decode("unicode_escape")


def _mountinfo(pid: str = "self") -> list[_Mount]:
    """Every mount of `pid`'s mount namespace, in mount order."""
    out = []
    with open(f"/proc/{pid}/mountinfo") as f:
        for line in f:
            left, _, right = line.rstrip("\n").partition(" - ")
            lf, rf = left.split(), right.split()
            out.append(_Mount(_unescape(lf[4]), rf[0], _unescape(lf[3]), rf[2] if len(rf) > 2 else ""))
    return out


def _has_cgroupfs() -> bool:
    return any(
        m.fstype in ("cgroup", "cgroup2") and m.point.startswith("/sys/fs/cgroup") for m in _mountinfo()
    )


def _private_mount_ns() -> bool:
    """True when this process has a mount namespace of its own (as under `ip netns exec`)."""
    mine, init = _ns_inode("self", "mnt"), _ns_inode(_init_pid(), "mnt")
    return mine is not None and init is not None and mine != init


def ensure_cgroupfs() -> str | None:
    """Make /sys/fs/cgroup usable for runc; return a reason when it cannot be.

    `ip netns exec` runs its command in a private mount namespace with a fresh sysfs on /sys and no cgroup
    mounts below it, so runc could create no container. In such a *private* mount namespace the machine's
    cgroup mounts are mirrored (same filesystem types and options: the kernel hands back the very same
    hierarchies). The machine's own mount namespace is never changed.
    """
    if _has_cgroupfs():
        return None
    if not _private_mount_ns():
        return "no cgroup filesystem is mounted under /sys/fs/cgroup"
    try:
        wanted = [m for m in _mountinfo(_init_pid() or "1") if m.point.startswith("/sys/fs/cgroup")]
    except OSError as e:
        return f"no cgroup filesystem under /sys/fs/cgroup, and the machine's mounts are unreadable ({e})"
    for m in wanted:
        if m.fstype not in ("tmpfs", "cgroup", "cgroup2"):
            continue
        if m.root != "/":
            return f"cannot mirror cgroup mount {m.point} (root {m.root})"
        opts = ",".join(o for o in m.super_options.split(",") if o not in ("rw", "ro", "")) or "defaults"
        os.makedirs(m.point, exist_ok=True)
        r = subprocess.run(
            ["mount", "-t", m.fstype, "-o", opts, m.fstype, m.point],
            check=False,
            capture_output=True,
            text=True,
        )
        if r.returncode:
            return f"cannot mount {m.fstype} on {m.point}: {r.stderr.strip()}"
    if not _has_cgroupfs():
        return "no cgroup filesystem is mounted under /sys/fs/cgroup"
    return None


def _is_static_elf(path: Path) -> bool:
    """True for an ELF executable without a PT_INTERP program header (no dynamic loader needed)."""
    try:
        with open(path, "rb") as f:
            hdr = f.read(64)
            if hdr[:4] != b"\x7fELF" or hdr[4] != 2:  # 64-bit only
                return False
            endian: Literal["little", "big"] = "little" if hdr[5] == 1 else "big"
            phoff = int.from_bytes(hdr[32:40], endian)
            phentsize = int.from_bytes(hdr[54:56], endian)
            phnum = int.from_bytes(hdr[56:58], endian)
            f.seek(phoff)
            table = f.read(phentsize * phnum)
    except OSError:
        return False
    return all(
        int.from_bytes(table[i * phentsize : i * phentsize + 4], endian) != 3 for i in range(phnum)
    )  # 3 = PT_INTERP


def runtime_unavailable_reason(kind: str) -> str | None:
    """Why `kind` ("containerd" or "podman") cannot run here, or None when it can. Side-effect free."""
    if kind not in _BINARIES:
        raise ValueError(f"unknown runtime kind {kind!r}")
    if not sys.platform.startswith("linux"):
        return f"{kind} tests need Linux"
    if os.geteuid() != 0:
        return f"{kind} tests need root"
    if in_root_netns():
        return (
            f"{kind} tests refuse to run in the machine's root network namespace "
            "(run them inside a lab netns, e.g. `ip netns exec LAB python -m pytest ...`)"
        )
    missing = [b for b in _BINARIES[kind] if shutil.which(b) is None]
    if missing:
        return f"{kind} tests need {', '.join(missing)} on PATH"
    for plugin in ("bridge", "host-local", "loopback"):
        if not os.access(CNI_PLUGIN_DIR / plugin, os.X_OK):
            return (
                f"CNI plugin {CNI_PLUGIN_DIR / plugin} missing (Debian package containernetworking-plugins)"
            )
    if not _is_static_elf(BUSYBOX):
        return f"{BUSYBOX} is not a static busybox (Debian package busybox-static)"
    if kind == "containerd":
        try:
            load_cri_modules()
        except Exception as e:  # noqa: BLE001  (whatever fails, its message is the skip reason)
            return f"CRI client unusable: {type(e).__name__}: {e}"
    if not _has_cgroupfs() and not _private_mount_ns():
        return "no cgroup filesystem is mounted under /sys/fs/cgroup"
    return None


# --------------------------------------------------------------------------------------------------------------
# CRI stubs


def load_cri_modules() -> tuple[Any, Any]:
    """(api_pb2, api_pb2_grpc) of cri/api.proto.

    The checked-in stubs are used when the installed protobuf/grpcio accept them (generated code demands a
    runtime at least as new as its generator). Otherwise the stubs are generated again with the installed
    grpc_tools into a cache dir under the system tmp dir, and imported from there.
    """
    try:
        from cri import api_pb2, api_pb2_grpc

        return api_pb2, api_pb2_grpc
    except Exception as first:  # noqa: BLE001  (VersionError, RuntimeError, ImportError: all mean "regenerate")
        try:
            gen = _generate_cri_stubs()
        except Exception as e:  # reported together with the first failure
            raise ImportError(f"checked-in CRI stubs unusable ({first}); regenerating failed: {e}") from e
    if str(gen) not in sys.path:
        sys.path.insert(0, str(gen))  # the "cri" namespace package now finds the fresh modules first
    from cri import api_pb2, api_pb2_grpc

    return api_pb2, api_pb2_grpc


def _generate_cri_stubs() -> Path:
    import grpc_tools
    from grpc_tools import protoc

    proto = HERE / "cri" / "api.proto"
    key = hashlib.sha256(proto.read_bytes() + getattr(grpc_tools, "__version__", "").encode()).hexdigest()[
        :16
    ]
    out = Path(tempfile.gettempdir()) / f"multus-harness-cri-{key}"
    if (out / "cri" / "api_pb2_grpc.py").exists():
        return out
    work = Path(tempfile.mkdtemp(prefix=out.name + ".", dir=out.parent))
    (work / "cri").mkdir()
    shutil.copy(proto, work / "cri" / "api.proto")
    rc = protoc.main(
        [
            "protoc",
            f"-I{work}",
            f"--python_out={work}",
            f"--grpc_python_out={work}",
            str(work / "cri" / "api.proto"),
        ]
    )
    if rc != 0:
        shutil.rmtree(work, ignore_errors=True)
        raise RuntimeError(f"grpc_tools.protoc exited with {rc}")
    try:
        os.rename(work, out)  # atomic; another process may have won the race
    except OSError:
        shutil.rmtree(work, ignore_errors=True)
    return out


# --------------------------------------------------------------------------------------------------------------
# shared helpers


def make_cni_bin_dir(
    bin_dir: Path | str, extra: Iterable[Path | str] | Mapping[str, Path | str] = ()
) -> Path:
    """A CNI bin dir of symlinks: every plugin of CNI_PLUGIN_DIR, plus `extra` (paths, or name -> path).

    Runtimes that take a single bin_dir (containerd 1.6) need every plugin a meta-plugin delegates to in it.
    """
    bin_dir = Path(bin_dir)
    bin_dir.mkdir(parents=True, exist_ok=True)
    for plugin in sorted(CNI_PLUGIN_DIR.iterdir()):
        link = bin_dir / plugin.name
        if not link.exists() and not link.is_symlink():
            link.symlink_to(plugin)
    items = extra.items() if isinstance(extra, Mapping) else ((Path(p).name, p) for p in extra)
    for name, target in items:
        add_plugin(bin_dir, target, name)
    return bin_dir


def add_plugin(bin_dir: Path | str, target: Path | str, name: str | None = None) -> Path:
    """Symlink `target` into `bin_dir` as `name` (default: its file name), replacing what was there."""
    target = Path(target).resolve() if not Path(target).is_absolute() else Path(target)
    if not os.access(target, os.X_OK):
        raise FileNotFoundError(f"CNI plugin {target} is not an executable file")
    link = Path(bin_dir) / (name or target.name)
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    tmp.symlink_to(target)
    os.replace(tmp, link)
    return link


def write_json_atomic(path: Path, data: Any) -> Path:
    """Write JSON via a hidden temporary file + rename, so a watcher never reads half a file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)
    return path


def bridge_conflist(
    name: str,
    subnet: str,
    ipam_data_dir: Path | str,
    *,
    bridge: str | None = None,
    cni_version: str = "1.0.0",
    gateway: bool = True,
) -> dict[str, Any]:
    """A plain bridge + host-local conflist (no masquerade, no default route to anything outside the lab)."""
    return {
        "cniVersion": cni_version,
        "name": name,
        "plugins": [
            {
                "type": "bridge",
                "bridge": bridge or f"br-{name}"[:15],
                "isGateway": gateway,
                "ipMasq": False,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": subnet}]],
                    "dataDir": str(ipam_data_dir),
                },
            }
        ],
    }


def _busybox_applets() -> list[str]:
    r = subprocess.run([str(BUSYBOX), "--list"], capture_output=True, text=True, check=True)
    return [a for a in r.stdout.split() if a and "/" not in a and a != "busybox"]


def make_busybox_rootfs(root: Path | str) -> Path:
    """A minimal root filesystem: static busybox with every applet symlinked into /bin."""
    root = Path(root)
    if (root / "bin" / "busybox").exists():
        return root
    for d in ("bin", "proc", "sys", "dev", "etc", "tmp", "run", "var"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "tmp").chmod(0o1777)
    shutil.copy2(BUSYBOX, root / "bin" / "busybox")
    for applet in _busybox_applets():
        link = root / "bin" / applet
        if not link.exists():
            link.symlink_to("busybox")
    (root / "etc" / "passwd").write_text(
        "root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"
    )
    (root / "etc" / "group").write_text("root:x:0:\nnobody:x:65534:\n")
    return root


def make_pause_image_tar(out: Path | str, ref: str = SANDBOX_IMAGE) -> Path:
    """An OCI image layout tar (one busybox-static layer, entrypoint sleeps forever), for `ctr images import`."""

    def digest(b: bytes) -> str:
        return "sha256:" + hashlib.sha256(b).hexdigest()

    def add_bytes(t: tarfile.TarFile, name: str, data: bytes) -> None:
        ti = tarfile.TarInfo(name)
        ti.size, ti.mode, ti.mtime = len(data), 0o644, 0
        t.addfile(ti, io.BytesIO(data))

    layer_buf = io.BytesIO()
    with tarfile.open(fileobj=layer_buf, mode="w") as t:
        for d in ("bin", "proc", "sys", "dev", "etc", "tmp", "run"):
            ti = tarfile.TarInfo(d)
            ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, 0
            t.addfile(ti)
        data = BUSYBOX.read_bytes()
        ti = tarfile.TarInfo("bin/busybox")
        ti.size, ti.mode, ti.mtime = len(data), 0o755, 0
        t.addfile(ti, io.BytesIO(data))
        for applet in ("sh", "sleep", "ip", "ping", "cat", "ls"):
            ti = tarfile.TarInfo("bin/" + applet)
            ti.type, ti.linkname, ti.mode, ti.mtime = tarfile.SYMTYPE, "busybox", 0o777, 0
            t.addfile(ti)
    layer = layer_buf.getvalue()
    config = json.dumps(
        {
            "architecture": {"x86_64": "amd64", "aarch64": "arm64"}.get(
                os.uname().machine, os.uname().machine
            ),
            "os": "linux",
            "config": {"Entrypoint": ["/bin/busybox", "sleep", "2147483647"], "Env": ["PATH=/bin"]},
            "rootfs": {"type": "layers", "diff_ids": [digest(layer)]},
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": digest(layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    index = json.dumps(
        {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": digest(manifest),
                    "size": len(manifest),
                    "annotations": {
                        "io.containerd.image.name": ref,
                        "org.opencontainers.image.ref.name": ref.rsplit(":", 1)[1],
                    },
                }
            ],
        }
    ).encode()
    out = Path(out)
    with tarfile.open(out, "w") as t:
        add_bytes(t, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        add_bytes(t, "index.json", index)
        for blob in (layer, config, manifest):
            add_bytes(t, "blobs/sha256/" + digest(blob)[7:], blob)
    return out


_libc = ctypes.CDLL(None, use_errno=True)
_MNT_DETACH = 2


def unmount_under(directory: Path | str) -> list[str]:
    """Lazily unmount every mount at or below `directory` (deepest first); return what was unmounted."""
    prefix = str(Path(directory).resolve()).rstrip("/") + "/"
    points = [m.point for m in _mountinfo() if (m.point + "/").startswith(prefix)]
    done = []
    for point in sorted(set(points), key=len, reverse=True):
        if _libc.umount2(point.encode(), _MNT_DETACH) == 0:
            done.append(point)
        elif ctypes.get_errno() not in (errno.EINVAL, errno.ENOENT):
            print(f"harness: umount {point}: {os.strerror(ctypes.get_errno())}", file=sys.stderr)
    return done


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def _pids_matching(pred: Any) -> list[int]:
    me = os.getpid()
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != me:
            args = _cmdline(int(entry))
            if args and pred(args):
                out.append(int(entry))
    return out


def _kill_pids(pids: Iterable[int], timeout: float = 5.0) -> None:
    pids = list(pids)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    for pid in pids:
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.05)


def _runc_delete_all(root: str, bundle_prefix: str | None = None) -> list[str]:
    """`runc delete --force` every container of a runc root (only those with a bundle below `bundle_prefix`)."""
    r = subprocess.run(
        ["runc", "--root", root, "list", "--format", "json"], check=False, capture_output=True, text=True
    )
    if r.returncode or not r.stdout.strip():
        return []
    try:
        items = json.loads(r.stdout) or []
    except ValueError:
        return []
    gone = []
    for c in items:
        if bundle_prefix and not str(c.get("bundle", "")).startswith(bundle_prefix):
            continue
        subprocess.run(
            ["runc", "--root", root, "delete", "--force", c["id"]], check=False, capture_output=True
        )
        gone.append(c["id"])
    return gone


def _remove_cgroup_tree(parent: str, keep: Sequence[str] = ()) -> bool:
    """rmdir `parent` and everything below it in every cgroup hierarchy.

    True if it held a child cgroup other than those named in `keep` (expected leftovers, e.g. conmon's).
    """
    found = False
    for m in _mountinfo():
        if m.fstype not in ("cgroup", "cgroup2"):
            continue
        top = Path(m.point + parent)
        if not top.is_dir():
            continue
        children = [p for p in top.rglob("*") if p.is_dir()]
        found = found or any(p.relative_to(top).parts[0] not in keep for p in children)
        for d in sorted(children, key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                d.rmdir()
        with contextlib.suppress(OSError):
            top.rmdir()
    return found


def link_names() -> set[str]:
    """Interface names of the current network namespace (no /sys: it may show another netns's view)."""
    r = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True)
    return {line.split(":")[1].strip().split("@")[0] for line in r.stdout.splitlines() if ":" in line}


def bring_up_loopback() -> None:
    """`ip link set lo up` in the current (lab) netns: containerd's stream server binds 127.0.0.1."""
    if in_root_netns():
        raise RuntimeError("refusing to touch the machine's root network namespace")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, capture_output=True)


def _toml_set(text: str, section: str, key: str, value: str) -> str:
    """Replace `key = ...` inside `[section]` (not its sub-tables) of a `containerd config default` file."""
    lines = text.splitlines()
    header = f"[{section}]"
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == header)
    except StopIteration:
        raise KeyError(f"no [{section}] in containerd's default config") from None
    for i in range(start + 1, len(lines)):
        stripped = lines[i].strip()
        if stripped.startswith("["):
            break
        if stripped.split("=", 1)[0].strip() == key:
            indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
            lines[i] = f"{indent}{key} = {value}"
            return "\n".join(lines) + "\n"
    raise KeyError(f"no {key} in [{section}] of containerd's default config")


def _q(s: Path | str) -> str:
    return json.dumps(str(s))  # a TOML basic string


# --------------------------------------------------------------------------------------------------------------
# CRI client


class CriError(RuntimeError):
    """A failed CRI call; `code` is the grpc.StatusCode, `details` the runtime's message."""

    def __init__(self, method: str, code: Any, details: str) -> None:
        super().__init__(f"{method}: {getattr(code, 'name', code)}: {details}")
        self.method, self.code, self.details = method, code, details


@dataclass
class PodStatus:
    id: str
    name: str
    namespace: str
    uid: str
    state: str  # "SANDBOX_READY" | "SANDBOX_NOTREADY"
    ip: str
    additional_ips: list[str]
    annotations: dict[str, str]
    netns: str | None  # the pod's netns path (from the verbose info), if the runtime tells it
    cni_result: Any = None  # containerd: the CNI result it keeps (per interface IPs), if any
    info: dict[str, Any] = field(default_factory=dict, repr=False)  # verbose info, JSON-decoded

    @property
    def ips(self) -> list[str]:
        return ([self.ip] if self.ip else []) + self.additional_ips


@dataclass
class PodSummary:
    id: str
    name: str
    namespace: str
    uid: str
    state: str
    annotations: dict[str, str]


class CriClient:
    """A tiny kubelet: CRI runtime.v1 calls over a unix socket."""

    def __init__(
        self,
        socket_path: Path | str,
        log_dir: Path | str | None = None,
        timeout: float = 120.0,
        cgroup_parent: str = "",
    ) -> None:
        import grpc

        api_pb2, api_pb2_grpc = load_cri_modules()

        self._grpc, self.pb = grpc, api_pb2
        self.socket_path = str(socket_path)
        self.log_dir = Path(log_dir) if log_dir else None
        self.timeout = timeout
        self.cgroup_parent = cgroup_parent  # like kubelet's /kubepods/...; "" = the runtime's default
        self._channel = grpc.insecure_channel("unix://" + self.socket_path)
        self._rt = api_pb2_grpc.RuntimeServiceStub(self._channel)
        self._img = api_pb2_grpc.ImageServiceStub(self._channel)
        self.last_duration: float | None = None  # seconds taken by the last call

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, stub: Any, method: str, request: Any, timeout: float | None = None) -> Any:
        t0 = time.perf_counter()
        try:
            return getattr(stub, method)(request, timeout=timeout or self.timeout)
        except self._grpc.RpcError as e:
            raise CriError(method, e.code(), e.details() or "") from None
        finally:
            self.last_duration = time.perf_counter() - t0

    # -- runtime
    def version(self, timeout: float | None = None) -> Any:
        return self._call(self._rt, "Version", self.pb.VersionRequest(version="v1"), timeout)

    def runtime_status(self, verbose: bool = True) -> tuple[dict[str, tuple[bool, str]], dict[str, Any]]:
        """({condition type: (status, reason + message)}, JSON-decoded verbose info)."""
        r = self._call(self._rt, "Status", self.pb.StatusRequest(verbose=verbose))
        conds = {c.type: (c.status, f"{c.reason} {c.message}".strip()) for c in r.status.conditions}
        return conds, {k: _json_or_str(v) for k, v in r.info.items()}

    def image_present(self, ref: str) -> bool:
        r = self._call(
            self._img, "ImageStatus", self.pb.ImageStatusRequest(image=self.pb.ImageSpec(image=ref))
        )
        return r.HasField("image") and bool(r.image.id)

    # -- pod sandboxes
    def run_pod(
        self,
        name: str,
        namespace: str = "default",
        uid: str | None = None,
        annotations: Mapping[str, str] | None = None,
        *,
        labels: Mapping[str, str] | None = None,
        hostname: str | None = None,
        port_mappings: Sequence[tuple[int, int, str]] = (),  # (container_port, host_port, protocol)
        attempt: int = 0,
        host_network: bool = False,
        timeout: float | None = None,
    ) -> str:
        """RunPodSandbox (CNI ADD happens inside); returns the sandbox id."""
        pb = self.pb
        uid = uid or str(uuid.uuid4())
        log_dir = ""
        if self.log_dir:
            d = self.log_dir / f"{namespace}_{name}_{uid}"
            d.mkdir(parents=True, exist_ok=True)
            log_dir = str(d)
        linux = pb.LinuxPodSandboxConfig(
            cgroup_parent=self.cgroup_parent,
            security_context=pb.LinuxSandboxSecurityContext(
                namespace_options=pb.NamespaceOption(network=pb.NODE if host_network else pb.POD)
            ),
        )
        config = pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name=name, uid=uid, namespace=namespace, attempt=attempt),
            hostname=hostname or name[:63],
            log_directory=log_dir,
            port_mappings=[
                pb.PortMapping(protocol=pb.Protocol.Value(proto.upper()), container_port=cp, host_port=hp)
                for cp, hp, proto in port_mappings
            ],
            labels=dict(labels or {}),
            annotations=dict(annotations or {}),
            linux=linux,
        )
        r = self._call(self._rt, "RunPodSandbox", pb.RunPodSandboxRequest(config=config), timeout)
        return str(r.pod_sandbox_id)

    def status(self, sandbox_id: str, verbose: bool = True) -> PodStatus:
        r = self._call(
            self._rt,
            "PodSandboxStatus",
            self.pb.PodSandboxStatusRequest(pod_sandbox_id=sandbox_id, verbose=verbose),
        )
        st = r.status
        info = {k: _json_or_str(v) for k, v in r.info.items()}
        raw = info.get("info")
        details: dict[str, Any] = raw if isinstance(raw, dict) else {}
        netns = None
        spec = details.get("runtimeSpec") or {}
        for ns in (spec.get("linux") or {}).get("namespaces") or []:
            if ns.get("type") == "network" and ns.get("path"):
                netns = ns["path"]
        return PodStatus(
            id=st.id,
            name=st.metadata.name,
            namespace=st.metadata.namespace,
            uid=st.metadata.uid,
            state=self.pb.PodSandboxState.Name(st.state),
            ip=st.network.ip,
            additional_ips=[i.ip for i in st.network.additional_ips],
            annotations=dict(st.annotations),
            netns=netns,
            cni_result=details.get("cniResult"),
            info=info,
        )

    def stop_pod(self, sandbox_id: str, timeout: float | None = None) -> None:
        """StopPodSandbox: CNI DEL with the pod's netns (and prevResult), then the netns is removed."""
        self._call(
            self._rt, "StopPodSandbox", self.pb.StopPodSandboxRequest(pod_sandbox_id=sandbox_id), timeout
        )

    def remove_pod(self, sandbox_id: str, timeout: float | None = None) -> None:
        """RemovePodSandbox: containerd 1.6 sends a second CNI DEL (CNI_NETNS="", no prevResult)."""
        self._call(
            self._rt, "RemovePodSandbox", self.pb.RemovePodSandboxRequest(pod_sandbox_id=sandbox_id), timeout
        )

    def list_pods(self) -> list[PodSummary]:
        r = self._call(self._rt, "ListPodSandbox", self.pb.ListPodSandboxRequest())
        return [
            PodSummary(
                id=s.id,
                name=s.metadata.name,
                namespace=s.metadata.namespace,
                uid=s.metadata.uid,
                state=self.pb.PodSandboxState.Name(s.state),
                annotations=dict(s.annotations),
            )
            for s in r.items
        ]

    def remove_all(self) -> list[str]:
        """Stop and remove every sandbox; return error messages (empty when all went)."""
        errors = []
        for pod in self.list_pods():
            for call in (self.stop_pod, self.remove_pod):
                try:
                    call(pod.id)
                except CriError as e:
                    errors.append(f"{pod.namespace}/{pod.name} {pod.id[:12]}: {e}")
        return errors

    @contextlib.contextmanager
    def pod(
        self,
        name: str,
        namespace: str = "default",
        uid: str | None = None,
        annotations: Mapping[str, str] | None = None,
        **kw: Any,
    ) -> Iterator[PodStatus]:
        """Run a pod sandbox for the duration of a `with` block, then stop and remove it."""
        sid = self.run_pod(name, namespace, uid, annotations, **kw)
        try:
            yield self.status(sid)
        finally:
            try:
                self.stop_pod(sid)
            finally:
                self.remove_pod(sid)


def _json_or_str(v: str) -> Any:
    try:
        return json.loads(v)
    except ValueError:
        return v


# --------------------------------------------------------------------------------------------------------------
# containerd


class Containerd:
    """containerd 1.6 with its CRI plugin, private to `lab_dir`, in the current network namespace."""

    def __init__(
        self,
        lab_dir: Path | str,
        cni_bin_dir: Path | str,
        cni_conf_dir: Path | str,
        extra_plugins: Iterable[Path | str] | Mapping[str, Path | str] = (),
        *,
        start_timeout: float = 60.0,
    ) -> None:
        self.lab_dir = Path(lab_dir).resolve()
        self.cni_bin_dir = Path(cni_bin_dir).resolve()
        self.cni_conf_dir = Path(cni_conf_dir).resolve()
        self.extra_plugins = extra_plugins
        self.start_timeout = start_timeout
        self.dir = self.lab_dir / "containerd"
        self.root, self.state = self.dir / "root", self.dir / "state"
        self.runc_root = self.dir / "runc"
        self.socket = self.dir / "containerd.sock"
        self.config_path = self.dir / "config.toml"
        self.log_path = self.dir / "containerd.log"
        self.pod_log_dir = self.dir / "pod-logs"
        self.sandbox_image = SANDBOX_IMAGE
        # pods' cgroups go below this (cgroupfs driver), so tear-down can remove what runc leaves behind
        self.cgroup_parent = f"/multus-harness-{hashlib.sha1(str(self.lab_dir).encode()).hexdigest()[:12]}"
        self.proc: subprocess.Popen[bytes] | None = None
        self._cri: CriClient | None = None
        self.timings: dict[str, float] = {}
        self.cleanup_errors: list[str] = []

    # -- set-up
    def write_config(self) -> Path:
        default = subprocess.run(
            ["containerd", "config", "default"], capture_output=True, text=True, check=True
        )
        s = default.stdout
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        runc = f"{cri}.containerd.runtimes.runc"
        edits = [
            ("", "root", _q(self.root)),
            ("", "state", _q(self.state)),
            ("grpc", "address", _q(self.socket)),
            ('plugins."io.containerd.internal.v1.opt"', "path", _q(self.dir / "opt")),
            (cri, "sandbox_image", _q(self.sandbox_image)),
            # without CAP_SYS_RESOURCE runc cannot lower oom_score_adj to -998 for the sandbox:
            # "can't get final child's PID from pipe: EOF"
            (cri, "restrict_oom_score_adj", "true"),
            # pod netns under the state dir, not /run/netns: nothing leaks into the machine's netns list
            (cri, "netns_mounts_under_state_dir", "true"),
            (f"{cri}.cni", "bin_dir", _q(self.cni_bin_dir)),
            (f"{cri}.cni", "conf_dir", _q(self.cni_conf_dir)),
            (f"{cri}.containerd", "snapshotter", '"native"'),
            (f"{runc}.options", "Root", _q(self.runc_root)),  # runc state private to this lab
        ]
        for section, key, value in edits:
            if section:
                s = _toml_set(s, section, key, value)
            else:  # top-level keys come before the first table
                head, sep, rest = s.partition("\n[")
                head = "\n".join(
                    f"{key} = {value}" if line.split("=", 1)[0].strip() == key else line
                    for line in head.splitlines()
                )
                s = head + sep + rest
        # snapshotters nobody here uses (and that log errors on this kernel)
        disabled = [
            f"io.containerd.snapshotter.v1.{n}" for n in ("aufs", "btrfs", "devmapper", "zfs", "overlayfs")
        ]
        s = s.replace("disabled_plugins = []", f"disabled_plugins = {json.dumps(disabled)}", 1)
        self.config_path.write_text(s)
        return self.config_path

    def start(self) -> Self:
        if self.proc is not None:
            return self
        if in_root_netns():
            raise RuntimeError("refusing to start containerd in the machine's root network namespace")
        reason = ensure_cgroupfs()
        if reason:
            raise RuntimeError(reason)
        if len(str(self.socket)) + len(".ttrpc") > MAX_SOCKET_PATH:
            raise RuntimeError(f"socket path too long for a unix socket: {self.socket}")
        bring_up_loopback()
        for d in (self.root, self.state, self.runc_root, self.pod_log_dir, self.cni_conf_dir):
            d.mkdir(parents=True, exist_ok=True)
        make_cni_bin_dir(self.cni_bin_dir, self.extra_plugins)
        self.write_config()
        t0 = time.perf_counter()
        with open(self.log_path, "ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                ["containerd", "--config", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self._wait_ready(t0)
            t1 = time.perf_counter()
            tar = make_pause_image_tar(self.dir / "pause.tar", self.sandbox_image)
            self.ctr("images", "import", "--snapshotter", "native", str(tar))
            deadline = time.monotonic() + self.start_timeout
            while not self.cri().image_present(self.sandbox_image):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"CRI does not see the imported image {self.sandbox_image}")
                time.sleep(0.05)
            self.timings["image_import"] = time.perf_counter() - t1
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, t0: float) -> None:
        deadline = time.monotonic() + self.start_timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"containerd exited with {self.proc.returncode}:\n{self.log_tail()}")
            if self.socket.exists():
                try:
                    self.cri().version(timeout=2)
                    self.timings["start"] = time.perf_counter() - t0
                    return
                except CriError as e:
                    last = e
            time.sleep(0.05)
        raise RuntimeError(
            f"containerd CRI not ready after {self.start_timeout}s ({last}):\n{self.log_tail()}"
        )

    def ctr(self, *args: str, timeout: float = 120) -> str:
        r = subprocess.run(
            ["ctr", "--address", str(self.socket), "--namespace", "k8s.io", *args],
            check=False,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if r.returncode:
            raise RuntimeError(f"ctr {' '.join(args)} failed ({r.returncode}): {r.stderr.strip()}")
        return r.stdout

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no containerd log)"

    # -- use
    def cri(self) -> CriClient:
        if self._cri is None:
            self._cri = CriClient(self.socket, self.pod_log_dir, cgroup_parent=self.cgroup_parent)
        return self._cri

    def add_plugin(self, target: Path | str, name: str | None = None) -> Path:
        """Put another CNI plugin (e.g. the multus console script) into containerd's bin dir."""
        return add_plugin(self.cni_bin_dir, target, name)

    def set_network(
        self, conf: Mapping[str, Any] | str, filename: str | None = None, *, timeout: float = 10.0
    ) -> Path:
        """Make `conf` (a conflist dict or JSON text) the only config in conf_dir; wait until containerd uses it.

        containerd reloads conf_dir on file events and uses the first file (sorted) only.
        """
        data = json.loads(conf) if isinstance(conf, str) else dict(conf)
        name = data.get("name") or "net"
        ext = ".conflist" if "plugins" in data else ".conf"
        target = self.cni_conf_dir / (filename or f"10-{name}{ext}")
        for old in self.cni_conf_dir.iterdir():
            if old != target and old.suffix in (".conf", ".conflist", ".json"):
                old.unlink()
        write_json_atomic(target, data)
        if self.proc is not None:
            self.wait_network_loaded(data, timeout=timeout)
        return target

    def clear_networks(self) -> None:
        for old in self.cni_conf_dir.iterdir():
            if old.suffix in (".conf", ".conflist", ".json"):
                old.unlink()

    def loaded_network_names(self) -> list[str]:
        """Names of the networks containerd's CNI plugin holds (from the verbose CRI Status)."""
        _, info = self.cri().runtime_status(verbose=True)
        cfg = info.get("cniconfig") or {}
        names = []
        for net in cfg.get("Networks") or []:
            source = (net.get("Config") or {}).get("Source")
            try:
                names.append(json.loads(str(source))["name"])
            except (TypeError, ValueError, KeyError):
                names.append((net.get("Config") or {}).get("Name", ""))
        return names

    def wait_network_loaded(self, conf: Mapping[str, Any], timeout: float = 10.0) -> None:
        """Wait until containerd's loaded CNI config is `conf` (compared as JSON)."""
        want = json.loads(json.dumps(conf))
        deadline = time.monotonic() + timeout
        while True:
            _, info = self.cri().runtime_status(verbose=True)
            for net in (info.get("cniconfig") or {}).get("Networks") or []:
                cfg = net.get("Config") or {}
                # a conflist file is the network's Source; a single-plugin .conf is its one plugin's Source
                sources = [cfg.get("Source"), *((p or {}).get("Source") for p in cfg.get("Plugins") or [])]
                for source in sources:
                    try:
                        if source and json.loads(source) == want:
                            return
                    except ValueError:
                        pass
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"containerd did not load network {want.get('name')!r} within {timeout}s "
                    f"(loaded: {self.loaded_network_names()}; status: {info.get('lastCNILoadStatus')})"
                )
            time.sleep(0.05)

    def pod_netns_dir(self) -> Path:
        return self.state / "io.containerd.grpc.v1.cri" / "netns"

    # -- tear-down
    def stop(self) -> list[str]:
        """Remove all sandboxes (CNI DEL), stop containerd and its shims, unmount leftovers.

        Returns (and keeps in `cleanup_errors`) what went wrong on the way; never raises for it.
        """
        errors: list[str] = []
        if self.proc is not None and self.proc.poll() is None and self.socket.exists():
            try:
                errors += self.cri().remove_all()
            except Exception as e:  # noqa: BLE001  (keep tearing down whatever happens)
                errors.append(f"removing pods: {e}")
        if self._cri is not None:
            self._cri.close()
            self._cri = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(15)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(10)
            self.proc = None
        # containers left behind (runc state is private to this lab: <runc root>/<containerd namespace>)
        for ns_root in (d for d in self.runc_root.glob("*") if d.is_dir()):
            gone = _runc_delete_all(str(ns_root))
            if gone:
                errors.append(f"force-deleted {len(gone)} leftover container(s)")
        # shims started by this containerd carry its socket path on their command line
        sock = str(self.socket)
        shims = _pids_matching(lambda a: "shim" in Path(a[0]).name and sock in a)
        if shims:
            errors.append(f"killed {len(shims)} leftover shim(s)")
            _kill_pids(shims)
        if _remove_cgroup_tree(self.cgroup_parent):
            errors.append(f"removed leftover cgroups below {self.cgroup_parent}")
        left = unmount_under(self.lab_dir)
        if left:
            errors.append(f"unmounted {len(left)} leftover mount(s)")
        self.cleanup_errors = errors
        return errors

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------------------------------------------
# podman


class Podman:
    """podman 4 with the CNI network backend, private storage/config under `lab_dir`, current netns."""

    def __init__(
        self,
        lab_dir: Path | str,
        cni_bin_dir: Path | str,
        cni_conf_dir: Path | str,
        extra_plugins: Iterable[Path | str] | Mapping[str, Path | str] = (),
    ) -> None:
        self.lab_dir = Path(lab_dir).resolve()
        self.cni_bin_dir = Path(cni_bin_dir).resolve()
        self.cni_conf_dir = Path(cni_conf_dir).resolve()
        self.extra_plugins = extra_plugins
        self.dir = self.lab_dir / "podman"
        self.root, self.runroot, self.tmp = self.dir / "root", self.dir / "run", self.dir / "tmp"
        self.rootfs = self.lab_dir / "rootfs"
        self.conf_path = self.dir / "containers.conf"
        self.storage_conf_path = self.dir / "storage.conf"
        self.last_stderr = ""
        self.last_duration: float | None = None
        self.cleanup_errors: list[str] = []
        # containers' (and conmon's) cgroups go below this, so tear-down can remove what is left
        self.cgroup_parent = f"/multus-harness-{hashlib.sha1(str(self.lab_dir).encode()).hexdigest()[:12]}"
        self._netns_seen: set[str] = set()  # netns files of containers started here (checked at stop())
        self._ready = False

    def setup(self) -> Self:
        if self._ready:
            return self
        if in_root_netns():
            raise RuntimeError("refusing to run podman in the machine's root network namespace")
        reason = ensure_cgroupfs()
        if reason:
            raise RuntimeError(reason)
        bring_up_loopback()
        for d in (self.root, self.runroot, self.tmp, self.cni_conf_dir):
            d.mkdir(parents=True, exist_ok=True)
        make_cni_bin_dir(self.cni_bin_dir, self.extra_plugins)
        make_busybox_rootfs(self.rootfs)
        # runc, not crun: crun refuses hybrid cgroup v1/v2 hosts. Lowered ulimits: without CAP_SYS_RESOURCE
        # podman's defaults (nofile/nproc raised to the max) fail with "setrlimit ... Operation not permitted".
        # File locks in the private tmp dir: the default shm lock segment is shared by every podman on the machine.
        self.conf_path.write_text(
            f"""[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
log_driver = "k8s-file"

[network]
network_backend = "cni"
cni_plugin_dirs = [{_q(self.cni_bin_dir)}]
network_config_dir = {_q(self.cni_conf_dir)}
# used only if a network is not given: keep it inside the lab's range
default_subnet = "10.250.99.0/24"
default_network = "harness-default-unused"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
lock_type = "file"
tmp_dir = {_q(self.tmp)}
static_dir = {_q(self.root / "libpod")}
volume_path = {_q(self.root / "volumes")}
"""
        )
        self.storage_conf_path.write_text(
            f"""[storage]
driver = "vfs"
graphroot = {_q(self.root)}
runroot = {_q(self.runroot)}
"""
        )
        self._ready = True
        return self

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            CONTAINERS_CONF=str(self.conf_path),
            CONTAINERS_STORAGE_CONF=str(self.storage_conf_path),
            TMPDIR=str(self.tmp),
        )
        return env

    def base_cmd(self) -> list[str]:
        return [
            "podman", "--root", str(self.root), "--runroot", str(self.runroot), "--storage-driver", "vfs",
            "--cgroup-manager", "cgroupfs", "--events-backend", "file", "--tmpdir", str(self.tmp),
            "--runtime", "runc", "--network-config-dir", str(self.cni_conf_dir),
        ]  # fmt: skip

    def podman(self, *args: str, timeout: float = 120, check: bool = False) -> tuple[int, str]:
        """Run `podman ARGS` with this lab's config; (rc, stdout); stderr in `last_stderr`."""
        self.setup()
        t0 = time.perf_counter()
        r = subprocess.run(
            [*self.base_cmd(), *args],
            check=False,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env(),
            stdin=subprocess.DEVNULL,
        )
        self.last_duration = time.perf_counter() - t0
        self.last_stderr = r.stderr
        if check and r.returncode:
            raise RuntimeError(f"podman {' '.join(args)} failed ({r.returncode}): {r.stderr.strip()}")
        return r.returncode, r.stdout

    def add_plugin(self, target: Path | str, name: str | None = None) -> Path:
        return add_plugin(self.cni_bin_dir, target, name)

    def set_network(self, conf: Mapping[str, Any] | str, filename: str | None = None) -> Path:
        """Add (or replace) a network config in conf_dir; `--network NAME` picks it by name."""
        data = json.loads(conf) if isinstance(conf, str) else dict(conf)
        ext = ".conflist" if "plugins" in data else ".conf"
        return write_json_atomic(self.cni_conf_dir / (filename or f"{data['name']}{ext}"), data)

    def remove_network(self, name: str) -> None:
        for f in self.cni_conf_dir.glob(f"{name}.conf*"):
            f.unlink()

    @staticmethod
    def _command(command: Sequence[str] | str) -> list[str]:
        return ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)

    def _net_args(self, network: str, ip: str | None, mac: str | None, extra: Sequence[str]) -> list[str]:
        args = ["--network", network, "--cgroup-parent", self.cgroup_parent]
        if ip:
            args += ["--ip", ip]
        if mac:
            args += ["--mac-address", mac]
        return [*args, *extra]

    def run(
        self,
        network: str,
        command: Sequence[str] | str,
        ip: str | None = None,
        mac: str | None = None,
        *,
        extra_args: Sequence[str] = (),
        timeout: float = 120,
    ) -> tuple[int, str]:
        """`podman run --rm --network NET --rootfs ROOTFS COMMAND`: CNI ADD, the command, CNI DEL."""
        return self.podman(
            "run", "--rm", *self._net_args(network, ip, mac, extra_args), "--rootfs", str(self.rootfs),
            *self._command(command), timeout=timeout,
        )  # fmt: skip

    def start(
        self,
        name: str,
        network: str,
        command: Sequence[str] | str = ("sleep", "2147483647"),
        ip: str | None = None,
        mac: str | None = None,
        *,
        extra_args: Sequence[str] = (),
        timeout: float = 120,
    ) -> str:
        """Start a detached container (CNI ADD); returns its id. Remove it with rm() (CNI DEL)."""
        rc, out = self.podman(
            "run", "-d", "--name", name, *self._net_args(network, ip, mac, extra_args), "--rootfs", str(self.rootfs),
            *self._command(command), timeout=timeout,
        )  # fmt: skip
        if rc:
            raise RuntimeError(f"podman run {name} failed ({rc}): {self.last_stderr.strip()}")
        with contextlib.suppress(RuntimeError, KeyError, ValueError):
            self.netns_path(name)
        return out.strip()

    def exec(self, name: str, command: Sequence[str] | str, timeout: float = 60) -> tuple[int, str]:
        return self.podman("exec", name, *self._command(command), timeout=timeout)

    def inspect(self, name: str) -> dict[str, Any]:
        rc, out = self.podman("inspect", "--type", "container", name)
        if rc:
            raise RuntimeError(f"podman inspect {name} failed: {self.last_stderr.strip()}")
        data: dict[str, Any] = json.loads(out)[0]
        return data

    def netns_path(self, name: str) -> str:
        """The container's netns file (usable as CNI_NETNS / with nsenter --net=)."""
        path = str(self.inspect(name)["NetworkSettings"]["SandboxKey"])
        if path:
            self._netns_seen.add(path)
        return path

    def pid(self, name: str) -> int:
        return int(self.inspect(name)["State"]["Pid"])

    def rm(self, name: str, timeout: float = 120) -> None:
        """Stop and remove a container now (CNI DEL)."""
        rc, _ = self.podman("rm", "--force", "--time", "0", name, timeout=timeout)
        if rc:
            raise RuntimeError(f"podman rm {name} failed ({rc}): {self.last_stderr.strip()}")

    def names(self) -> list[str]:
        rc, out = self.podman("ps", "-a", "--format", "{{.Names}}")
        return out.split() if rc == 0 else []

    def stop(self) -> list[str]:
        """Remove every container of this lab; then kill, delete and unmount whatever is left of them.

        Returns (and keeps in `cleanup_errors`) what had to be cleaned by force; never raises for it.
        """
        errors: list[str] = []
        if self._ready:
            rc, _ = self.podman("rm", "--all", "--force", "--time", "0", timeout=180)
            if rc:
                errors.append(f"podman rm --all: {self.last_stderr.strip()}")
        # conmon (and the `podman container cleanup` it runs on exit) carry this lab's paths
        lab = str(self.lab_dir)

        def ours(args: list[str]) -> bool:
            return Path(args[0]).name in ("conmon", "podman") and any(lab in a for a in args)

        deadline = time.monotonic() + 10
        while (stray := _pids_matching(ours)) and time.monotonic() < deadline:
            time.sleep(0.1)
        if stray:
            errors.append(f"killed {len(stray)} leftover conmon/podman process(es)")
            _kill_pids(stray)
        # podman keeps runc state in runc's default root, shared with other users: only bundles of this lab
        gone = _runc_delete_all("/run/runc", bundle_prefix=lab + "/")
        if gone:
            errors.append(f"force-deleted {len(gone)} leftover container(s)")
        for ns in sorted(self._netns_seen):
            if os.path.lexists(ns):
                _libc.umount2(ns.encode(), _MNT_DETACH)
                with contextlib.suppress(OSError):
                    os.unlink(ns)
                errors.append(f"removed leftover netns {ns}")
        left = unmount_under(self.lab_dir)
        if left:
            errors.append(f"unmounted {len(left)} leftover mount(s)")
        if _remove_cgroup_tree(self.cgroup_parent, keep=("conmon",)):
            errors.append(f"removed leftover cgroups below {self.cgroup_parent}")
        self.cleanup_errors = errors
        return errors

    def __enter__(self) -> Self:
        return self.setup()

    def __exit__(self, *exc: object) -> None:
        self.stop()
