"""A file named in the multus configuration that does not exist is reported as "file not found"
with its path (the thin plugin on the real CNI plugins, no API server)."""

from __future__ import annotations

from pathlib import Path

import pytest
from thinkit import Node, error_of

pytestmark = pytest.mark.root


@pytest.mark.parametrize("key", ["clusterNetwork", "defaultNetworks"])
def test_a_missing_network_file(node: Node, tmp_path: Path, key: str) -> None:
    missing = tmp_path / "net.d" / "gone.conf"
    if key == "clusterNetwork":
        conf = node.multus(clusterNetwork=str(missing))
    else:
        conf = node.multus(clusterNetwork=str(node.write_conf("cluster.conf", node.bridge("cluster"))),
                           defaultNetworks=[str(missing)])
    pod = node.pod()
    err = error_of(node.run("ADD", conf, pod))
    assert err["code"] == 7
    assert err["msg"] == f"{key} {missing}: file not found"
    node.assert_clean(pod)


def test_a_missing_kubeconfig(node: Node, tmp_path: Path) -> None:
    conf = node.multus(clusterNetwork="cbr0", kubeconfig=str(tmp_path / "multus.kubeconfig"))
    pod = node.pod()
    err = error_of(node.run("ADD", conf, pod))
    assert err["code"] == 7
    assert err["msg"] == f"error getting k8s client: kubeconfig {tmp_path}/multus.kubeconfig: file not found"
    node.assert_clean(pod)
