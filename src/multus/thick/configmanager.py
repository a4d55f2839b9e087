"""The daemon's config manager: keeps ``<cniConfigDir>/00-multus.conf`` in step with the node.

With ``multusConfigFile: auto`` the file is generated from the primary configuration found in
``multusAutoconfigDir`` (:mod:`multus.config.generate`) and regenerated on every change of that
directory, a new primary file with another name included. Otherwise the given file is copied
verbatim (and again when it changes). Changes are seen through ``watchdog`` (inotify), not by
polling. A primary that is unreadable or invalid keeps the previous file. When the readiness
indicator file disappears the configuration is removed. :meth:`ConfigManager.stop` removes it unless
``cleanupConfigOnExit`` is false.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

from multus.config import generate
from multus.thick.config import DaemonConfig

log = logging.getLogger("multus.thick.configmanager")

READINESS_POLL = 0.2
DEBOUNCE = 0.05


class ReadinessTimeout(Exception):
    """The readiness indicator file did not appear in time (the daemon exits 1)."""


def wait_for_readiness(path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() >= deadline:
            raise ReadinessTimeout(f"readinessindicatorfile: {path} did not appear within {timeout:g} s")
        time.sleep(READINESS_POLL)


class ConfigManager:
    def __init__(self, config: DaemonConfig,
                 on_readiness_lost: Callable[[], None] | None = None) -> None:
        self.config = config
        self.target = os.path.join(config.cni_config_dir, generate.THICK_FILE)
        self.on_readiness_lost = on_readiness_lost
        self._lock = threading.Lock()
        self._changed = threading.Event()
        self._stopping = threading.Event()
        self._worker: threading.Thread | None = None
        self._observer: object = None
        self.generations = 0

    # -- one pass --------------------------------------------------------------------------
    def render(self) -> bytes:
        cfg = self.config
        if not cfg.generates:
            try:
                with open(cfg.multus_config_file, "rb") as f:
                    data = f.read()
            except OSError as e:
                raise generate.GenerateError(
                    f"multusConfigFile: cannot read {cfg.multus_config_file}: {e.strerror}") from None
            return data
        path = generate.find_primary(cfg.autoconfig_dir, cfg.master_cni)
        primary = generate.load_primary(path)
        daemon = dict(cfg.raw)
        if daemon.get("forceCNIVersion") and isinstance(daemon.get("cniVersion"), str):
            primary["cniVersion"] = daemon["cniVersion"]
        return generate.render(generate.thick_config(daemon, path, primary))

    def sync(self) -> bool:
        """Write the configuration once; ``False`` (previous file kept) when it cannot be made."""
        with self._lock:
            if self.config.readiness_file and not os.path.exists(self.config.readiness_file):
                self._remove()
                return False
            try:
                data = self.render()
                generate.write_atomic(self.target, data)
            except (generate.GenerateError, OSError) as e:
                log.error("multus configuration not updated, keeping %s: %s", self.target, e)
                return False
            self.generations += 1
            log.info("wrote %s", self.target)
            return True

    def _remove(self) -> None:
        try:
            os.unlink(self.target)
            log.info("removed %s", self.target)
        except FileNotFoundError:
            pass

    # -- watching --------------------------------------------------------------------------
    def _watched_dirs(self) -> list[str]:
        cfg = self.config
        dirs = [cfg.autoconfig_dir] if cfg.generates else [os.path.dirname(os.path.abspath(cfg.multus_config_file))]
        if cfg.readiness_file:
            dirs.append(os.path.dirname(os.path.abspath(cfg.readiness_file)))
        return sorted({os.path.abspath(d) for d in dirs})

    def _relevant(self, path: str) -> bool:
        if not path:
            return False
        if os.path.abspath(path) == os.path.abspath(self.target):
            return False
        name = os.path.basename(path)
        return not (name.startswith(".") and name.endswith(".tmp"))

    def start(self) -> None:
        from watchdog.events import FileSystemEvent, FileSystemEventHandler
        from watchdog.observers import Observer

        manager = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                if event.event_type in ("opened", "closed_no_write"):
                    return
                paths = [os.fsdecode(event.src_path), os.fsdecode(getattr(event, "dest_path", "") or "")]
                if any(manager._relevant(p) for p in paths):
                    manager._changed.set()

        self.sync()
        observer = Observer()
        for d in self._watched_dirs():
            observer.schedule(Handler(), d, recursive=False)
        observer.daemon = True
        observer.start()
        self._observer = observer
        self._worker = threading.Thread(target=self._loop, name="multus-configmanager", daemon=True)
        self._worker.start()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._changed.wait()
            if self._stopping.is_set():
                return
            time.sleep(DEBOUNCE)
            self._changed.clear()
            ready = not self.config.readiness_file or os.path.exists(self.config.readiness_file)
            self.sync()
            if not ready and self.on_readiness_lost is not None:
                log.error("readiness indicator %s removed", self.config.readiness_file)
                self.on_readiness_lost()

    def stop(self) -> None:
        """Stop watching and remove the configuration (kept with ``cleanupConfigOnExit: false``)."""
        self._stopping.set()
        self._changed.set()
        observer = self._observer
        if observer is not None:
            observer.stop()  # type: ignore[attr-defined]
            observer.join(timeout=5)  # type: ignore[attr-defined]
        if self._worker is not None:
            self._worker.join(timeout=5)
        if self.config.cleanup_config_on_exit:
            with self._lock:
                self._remove()
