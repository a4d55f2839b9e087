"""``multusctl status``: what this node runs, as the runtime and the daemon see it.

* the config in use: the lexically first ``.conf``/``.conflist`` of the CNI conf dir (what a
  runtime picks), whether it is multus (thin ``multus`` or thick ``multus-shim``) and its primary
  (``clusterNetwork`` or ``delegates[0]``);
* thick mode: the daemon's ``/healthz`` and ``/readyz`` on ``<socketDir>/multus.sock``;
* the cache: scratch cache files (one per pod multus attached) and libcni result files;
* the last ``[error]`` lines of the log file (the config's or the daemon's ``logFile``).

Exit 4 when the node is not ready: the first config is not multus, or in thick mode the
daemon does not answer ``/readyz`` (a DaemonSet's readiness probe can run this).
"""

from __future__ import annotations

import json
import os
from collections import deque
from typing import Any

from multus.ctl.main import EXIT_NOT_READY, EXIT_OK
from multus.ctl.output import Output

MULTUS_TYPES = ("multus", "multus-shim")
DEFAULT_CNI_DIR = "/var/lib/cni/multus"


def config_in_use(conf_dir: str) -> tuple[str, dict[str, Any] | None, str]:
    """(path, the multus plugin's object or None, problem)."""
    try:
        names = sorted(n for n in os.listdir(conf_dir) if n.endswith((".conf", ".conflist", ".json")))
    except OSError as e:
        return "", None, f"cannot list {conf_dir}: {e.strerror}"
    if not names:
        return "", None, f"no CNI config in {conf_dir}"
    path = os.path.join(conf_dir, names[0])
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        return path, None, f"cannot read {path}: {e}"
    if not isinstance(data, dict):
        return path, None, f"{path} is not a JSON object"
    plugin = data
    if isinstance(data.get("plugins"), list) and data["plugins"] and isinstance(data["plugins"][0], dict):
        plugin = {"cniVersion": data.get("cniVersion"), "name": data.get("name"), **data["plugins"][0]}
    if plugin.get("type") not in MULTUS_TYPES:
        return path, None, f"the first CNI config {path} is {plugin.get('type')!r}, not multus"
    return path, plugin, ""


def primary_of(plugin: dict[str, Any]) -> str:
    if plugin.get("clusterNetwork"):
        return str(plugin["clusterNetwork"])
    delegates = plugin.get("delegates")
    if isinstance(delegates, list) and delegates and isinstance(delegates[0], dict):
        d = delegates[0]
        return f"{d.get('name', '?')} ({d.get('type') or 'conflist'}, in delegates[0])"
    return "-"


def _read_json(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def last_errors(log_file: str, n: int) -> list[str]:
    if not log_file or n <= 0:
        return []
    try:
        with open(log_file, encoding="utf-8", errors="replace") as f:
            return list(deque((line.rstrip("\n") for line in f if "[error]" in line), maxlen=n))
    except OSError:
        return []


def command(cni_conf_dir: str, daemon_config: str, socket_dir: str, cni_dir: str, log_file: str, n_errors: int,
            fmt: str) -> int:
    from multus.engine import cache
    from multus.thick import client

    out = Output(fmt)
    path, plugin, problem = config_in_use(cni_conf_dir)
    daemon_cfg = _read_json(daemon_config)
    thick = plugin is not None and plugin.get("type") == "multus-shim"
    report: dict[str, Any] = {
        "config": path or None,
        "mode": None if plugin is None else ("thick" if thick else "thin"),
        "primary": primary_of(plugin) if plugin else None,
        "problem": problem or None,
    }
    ready = plugin is not None
    if thick or daemon_cfg or socket_dir:
        sock = client.socket_path(socket_dir or str(daemon_cfg.get("socketDir") or "")
                                  or str((plugin or {}).get("daemonSocketDir") or ""))
        health = client.healthy(sock, client.HEALTH_ENDPOINT, timeout=2)
        readiness = client.healthy(sock, client.READY_ENDPOINT, timeout=2)
        report["daemon"] = {"socket": sock, "healthz": health or "ok", "readyz": readiness or "ok"}
        if thick and readiness is not None:
            ready = False
    cni_dir = cni_dir or str((plugin or {}).get("cniDir") or daemon_cfg.get("cniDir") or DEFAULT_CNI_DIR)
    results = os.path.join(cni_dir, "results")
    report["cache"] = {"dir": cni_dir, "pods": len(cache.cached_container_ids(cni_dir)),
                       "results": len(os.listdir(results)) if os.path.isdir(results) else 0}
    log_file = log_file or str((plugin or {}).get("logFile") or daemon_cfg.get("logFile") or "")
    report["logFile"] = log_file or None
    report["lastErrors"] = last_errors(log_file, n_errors)
    report["ready"] = ready
    if fmt == "json":
        out.json(report)
    else:
        out.heading("multus on this node: " + ("ready" if ready else "NOT READY"))
        rows: list[tuple[str, Any]] = [("config in use", report["config"]), ("mode", report["mode"]),
                                       ("primary", report["primary"])]
        if problem:
            rows.append(("problem", problem))
        if "daemon" in report:
            d = report["daemon"]
            rows += [("daemon socket", d["socket"]), ("daemon /healthz", d["healthz"]),
                     ("daemon /readyz", d["readyz"])]
        counts = f"{report['cache']['pods']} pod(s), {report['cache']['results']} result file(s) in {cni_dir}"
        rows += [("cache", counts), ("log file", report["logFile"])]
        out.fields(rows)
        for line in report["lastErrors"]:
            out.line(line, style="red")
    return EXIT_OK if ready else EXIT_NOT_READY
