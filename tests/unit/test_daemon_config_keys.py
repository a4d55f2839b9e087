from __future__ import annotations

from typing import Any

import pytest

from multus.thick import config


def test_generation_keys_parsed() -> None:
    cfg = config.parse({"cniVersion": "0.3.1", "multusAutoconfigDir": "/a", "cniConfigDir": "/c",
                        "multusMasterCNI": "10-x.conf", "readinessindicatorfile": "/r", "chrootDir": "/hostroot"})
    assert (cfg.autoconfig_dir, cfg.cni_config_dir, cfg.master_cni, cfg.readiness_file, cfg.chroot_dir) == \
        ("/a", "/c", "10-x.conf", "/r", "/hostroot")
    assert cfg.generates and cfg.manages_config
    assert "readinessindicatorfile" not in cfg.overlay()
    assert cfg.overlay()["multusAutoconfigDir"] == "/a"


def test_copied_file_keeps_readiness_in_overlay() -> None:
    cfg = config.parse({"multusConfigFile": "/etc/mine.conf", "readinessindicatorfile": "/r"})
    assert not cfg.generates and cfg.manages_config
    assert cfg.overlay()["readinessindicatorfile"] == "/r"
    assert not config.parse({}).manages_config


@pytest.mark.parametrize(("data", "field"), [
    ({"enablePprof": True}, "enablePprof"),
    ({"perNodeCertificate": {"enabled": True}}, "perNodeCertificate"),
    ({"chrootDir": "hostroot"}, "chrootDir"),
    ({"multusMasterCNI": "../x.conf"}, "multusMasterCNI"),
    ({"multusAutoconfigDir": "/a"}, "cniVersion"),
    ({"forceCNIVersion": "yes"}, "forceCNIVersion"),
    ({"readinessTimeout": -1}, "readinessTimeout"),
    ({"cniConfigDir": 3}, "cniConfigDir"),
])
def test_refused_keys_name_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(config.ConfigError, match=field):
        config.parse(data)
