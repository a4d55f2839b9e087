"""Invoke a CNI plugin executable exactly as a runtime would: environment plus stdin in,
stdout and exit code out."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from typing import Any

import attrs


@attrs.frozen
class CniOutcome:
    returncode: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout) if self.stdout.strip() else None

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def describe(self) -> str:
        return f"rc={self.returncode}\nstdout={self.stdout}\nstderr={self.stderr[-4000:]}"

    def cni_error(self) -> dict[str, Any]:
        """The CNI error object of a failed run, asserting that it is one: exit code 1, a JSON
        object with an integer ``code`` and a string ``msg`` on stdout, no traceback anywhere."""
        assert self.returncode == 1, self.describe()
        err = self.json
        assert isinstance(err, dict) and isinstance(err.get("code"), int) and isinstance(err.get("msg"), str), \
            self.describe()
        assert "Traceback" not in self.stdout and "Traceback" not in self.stderr, self.describe()
        return err


def cni_env(command: str, container_id: str = "", netns: str = "", ifname: str = "", args: str = "",
            path: str = "/usr/lib/cni", extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CNI_")}
    env.update({"CNI_COMMAND": command, "CNI_CONTAINERID": container_id, "CNI_NETNS": netns,
                "CNI_IFNAME": ifname, "CNI_ARGS": args, "CNI_PATH": path})
    env.update(extra or {})
    return env


def invoke(executable: str | list[str], env: Mapping[str, str], config: Mapping[str, Any] | bytes | str,
           timeout: float = 120) -> CniOutcome:
    """Run ``executable`` with ``env`` and the config on stdin."""
    data = config if isinstance(config, bytes) else (
        config.encode() if isinstance(config, str) else json.dumps(config).encode())
    cmd = [executable] if isinstance(executable, str) else list(executable)
    p = subprocess.run(cmd, input=data, env=dict(env), capture_output=True, timeout=timeout, check=False)
    return CniOutcome(p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"))
