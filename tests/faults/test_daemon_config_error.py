"""A bad daemon configuration is a CNI error: code 7, a message naming the key, never a traceback,
whether it is met at the daemon's start-up or by code that reads it later."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from multus.errors import INVALID_CONFIG, CNIError
from multus.thick import config

BAD: list[tuple[Any, str]] = [
    ({"connectionLimit": 0}, "connectionLimit"),
    ({"metricsPort": 70000}, "metricsPort"),
    ({"socketDir": ""}, "socketDir"),
    ({"shutdownGracePeriod": "soon"}, "shutdownGracePeriod"),
    ({"allowedUIDs": [-1]}, "allowedUIDs"),
    ({"requestTimeout": 0}, "requestTimeout"),
    ({"chrootDir": "relative"}, "chrootDir"),
    ([1, 2], "JSON object"),
]


@pytest.mark.parametrize(("data", "field"), BAD)
def test_config_error_is_a_cni_error_naming_the_field(data: Any, field: str) -> None:
    with pytest.raises(CNIError) as info:
        config.parse(data)
    assert isinstance(info.value, config.ConfigError)
    assert info.value.code == INVALID_CONFIG
    assert field in info.value.msg
    assert json.loads(info.value.to_json())["code"] == INVALID_CONFIG


def test_unreadable_file_is_a_cni_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "daemon-config.json"
    path.write_text("{not json")
    with pytest.raises(CNIError) as info:
        config.load(str(path))
    assert info.value.code == INVALID_CONFIG and str(path) in info.value.msg


@pytest.mark.parametrize(("data", "field"), BAD[:3])
def test_the_daemon_refuses_a_bad_config_at_start_up(tmp_path: Path, data: Any, field: str) -> None:
    path = tmp_path / "daemon-config.json"
    path.write_text(json.dumps(data))
    p = subprocess.run([sys.executable, "-m", "multus.cli.daemon", "-config", str(path)], capture_output=True,
                       text=True, timeout=120, check=False, stdin=subprocess.DEVNULL)
    assert p.returncode == 1, p.stdout + p.stderr
    assert field in p.stderr and "Traceback" not in p.stderr, p.stderr
