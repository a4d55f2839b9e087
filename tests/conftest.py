"""Fixtures of the project's test harnesses (tests/harness), for every test directory:
the real kube-apiserver (kube_apiserver, kube_namespace, kube_client, kube_multus_kubeconfig) and
the real runtimes (containerd, podman). The lab fixtures (cni_lab, pod_netns, cni_invoke, ...)
come from multus' own pytest plugin."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "harness"))

from kube_fixtures import (  # noqa: F401  (fixtures and the summary hook, re-exported)
    kube_apiserver,
    kube_client,
    kube_multus_kubeconfig,
    kube_namespace,
    pytest_terminal_summary,
)
from runtime_fixtures import containerd, podman  # noqa: F401
