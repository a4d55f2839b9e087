"""MultusConf loading (strict types, upstream defaults) and logging configuration."""

from __future__ import annotations

import gzip
import logging
import os

import pytest

from multus.config import logs, netconf
from multus.errors import INVALID_CONFIG, CNIError


def test_upstream_defaults() -> None:
    c = netconf.load({"name": "m", "delegates": [{"type": "bridge"}]})
    assert c.conf_dir == "/etc/cni/multus/net.d"
    assert c.cni_dir == "/var/lib/cni/multus"
    assert c.bin_dir == "/opt/cni/bin"
    assert c.multus_namespace == "kube-system"
    assert c.system_namespaces == ("kube-system",)
    assert c.log_to_stderr is True
    assert c.global_namespaces == ("default",)
    assert c.readiness_timeout == 45.0
    assert c.namespace_isolation is False and c.retry_delete_on_error is False


def test_keys_and_unknown_keys() -> None:
    raw = {"cniVersion": "1.0.0", "name": "m", "clusterNetwork": "/x/y.conflist", "defaultNetworks": ["a", "b"],
           "globalNamespaces": " default , other ,", "readinessindicatorfile": "/r", "logOptions": {"maxAge": 1},
           "capabilities": {"portMappings": True}, "runtimeConfig": {"portMappings": []},
           "auxiliaryCNIChainName": "aux", "retryDeleteOnError": True, "somethingNew": {"x": 1}}
    c = netconf.load(raw)
    assert c.global_namespaces == ("default", "other")
    assert c.default_networks == ("a", "b")
    assert c.log_options.max_age == 1 and c.log_options.compress is None
    assert c.raw["somethingNew"] == {"x": 1}
    assert c.auxiliary_cni_chain_name == "aux" and c.retry_delete_on_error


@pytest.mark.parametrize(("raw", "key"), [
    ({"logToStderr": "false"}, "logToStderr"),
    ({"delegates": {}}, "delegates"),
    ({"delegates": [1]}, "delegates"),
    ({"defaultNetworks": ["a", 3]}, "defaultNetworks"),
    ({"confDir": None}, "confDir"),
    ({"logOptions": {"maxAge": "x"}}, "logOptions.maxAge"),
    ({"logOptions": []}, "logOptions"),
    ({"capabilities": {"ips": 1}}, "capabilities"),
    ({"namespaceIsolation": 1}, "namespaceIsolation"),
    ({"readinessTimeout": "5"}, "readinessTimeout"),
    ({"delegateTimeout": 0}, "delegateTimeout"),
])
def test_wrong_types_name_the_key(raw: dict[str, object], key: str) -> None:
    with pytest.raises(CNIError) as e:
        netconf.load(raw)
    assert e.value.code == INVALID_CONFIG
    assert key in e.value.msg


def test_needs_delegates_or_cluster_network() -> None:
    with pytest.raises(CNIError) as e:
        netconf.validate(netconf.load({"kubeconfig": "/k"}))
    assert "at least one delegate/clusterNetwork must be specified" in e.value.msg


def test_log_levels_and_format(capsys: pytest.CaptureFixture[str]) -> None:
    log = logs.configure(netconf.load({"logLevel": "Verbose"}))
    log.info("hello %s", "there")
    log.debug("hidden")
    err = capsys.readouterr().err
    assert "[verbose] hello there" in err and "hidden" not in err
    log = logs.configure(netconf.load({"logLevel": "chatty"}))
    assert "cannot set logging level to chatty" in capsys.readouterr().err
    assert log.level == logging.CRITICAL
    log = logs.configure(netconf.load({"logLevel": "debug", "logToStderr": False}))
    log.error("nothing on stderr")
    assert capsys.readouterr().err == ""


def test_log_file_rotates_and_compresses(tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(tmp_path, "multus.log")
    log = logs.configure(netconf.load({"logLevel": "debug", "logToStderr": False, "logFile": path,
                                       "logOptions": {"maxSize": 0, "maxBackups": 2}}))
    handler = next(h for h in log.handlers if getattr(h, "baseFilename", None))
    handler.maxBytes = 200  # type: ignore[attr-defined]  # MB granularity is too coarse for a test
    for i in range(40):
        log.error("line %d %s", i, "x" * 20)
    names = sorted(os.listdir(tmp_path))
    assert "multus.log" in names
    rotated = [n for n in names if n.endswith(".gz")]
    assert 1 <= len(rotated) <= 2, names
    with gzip.open(os.path.join(tmp_path, rotated[0]), "rt") as f:
        assert "[error] line" in f.read()
    logs.configure(netconf.load({}))


def test_log_file_directories_are_created(tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(tmp_path, "a", "b", "multus.log")
    logs.configure(netconf.load({"logFile": path, "logLevel": "error", "logToStderr": False})).error("made it")
    with open(path) as f:
        assert "[error] made it" in f.read()
    logs.configure(netconf.load({}))


def test_log_file_unwritable_is_reported_not_fatal(capsys: pytest.CaptureFixture[str]) -> None:
    log = logs.configure(netconf.load({"logFile": "/proc/no-such-dir/multus.log", "logLevel": "error",
                                       "logToStderr": False}))
    log.error("still works")
    err = capsys.readouterr().err
    assert "multus logging: cannot open logFile /proc/no-such-dir/multus.log" in err
    assert "Traceback" not in err
    logs.configure(netconf.load({}))
