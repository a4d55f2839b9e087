"""pytest plugin for multus and for authors of multus plugins (entry point ``pytest11``).

Fixtures:

* ``cni_lab`` (session): a lab of network namespaces. With ``--multus-lab`` (or the ini option
  ``multus_lab = true``) and root, the whole test session moves into the lab's host namespace at
  start, so every plugin, runtime and server the tests start stays off the machine's network.
* ``pod_netns``: a factory of pod namespaces, removed after the test.
* ``cni_invoke``: run a CNI executable as a runtime does (env + stdin -> stdout + exit code).
* ``delegate_recorder``: a :class:`~multus.testing.recorder.DelegateRecorder` to register on a
  ``Plugins`` object; ``recording_plugin``: write a recording CNI plugin executable.
* ``request_context``: build the :class:`~multus.RequestContext` a hook receives, without root
  or a network namespace, to unit-test a hook by calling it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from multus.testing import lab as lab_mod
from multus.testing.context import DEFAULT_ARGS, make_context
from multus.testing.invoke import CniOutcome, cni_env, invoke
from multus.testing.recorder import DelegateRecorder, write_recording_plugin

if TYPE_CHECKING:
    from multus import PodInfo, RequestContext

_LAB_KEY = pytest.StashKey[lab_mod.Lab]()


def lab_unavailable_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    if shutil.which("ip") is None:
        return "needs iproute2 (ip)"
    return None


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--multus-lab", action="store_true", default=None,
                     help="run the session inside a lab host network namespace (root)")
    parser.addini("multus_lab", "run the session inside a lab host network namespace", type="bool", default=False)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "root: needs root and network namespaces")
    wanted = config.getoption("--multus-lab") or config.getini("multus_lab")
    if wanted and lab_unavailable_reason() is None and lab_mod.in_root_netns():
        lab = lab_mod.Lab().up()
        lab.enter()
        config.stash[_LAB_KEY] = lab


def pytest_unconfigure(config: pytest.Config) -> None:
    lab = config.stash.get(_LAB_KEY, None)
    if lab is not None:
        lab.down()


@pytest.fixture(scope="session")
def cni_lab(request: pytest.FixtureRequest) -> lab_mod.Lab:
    """The lab of network namespaces the session runs in (needs root and ``--multus-lab`` or the
    ini option ``multus_lab = true``); tests that use it are skipped otherwise, with the reason."""
    reason = lab_unavailable_reason()
    if reason:
        pytest.skip(reason)
    lab = request.config.stash.get(_LAB_KEY, None)
    if lab is None:
        if lab_mod.in_root_netns():
            pytest.skip("not inside a lab namespace: run pytest with --multus-lab (never in the machine's own)")
        lab = lab_mod.Lab()
    return lab


@pytest.fixture
def pod_netns(cni_lab: lab_mod.Lab) -> Iterator[Callable[..., str]]:
    """``pod_netns(name=None)`` creates a pod network namespace in the lab and returns its name
    (its path is ``/run/netns/<name>``); every namespace made is removed after the test."""
    made: list[str] = []

    def make(name: str | None = None) -> str:
        n = cni_lab.pod(name)
        made.append(n)
        return n

    yield make
    for n in made:
        cni_lab.remove_pod(n)


@pytest.fixture
def cni_invoke() -> Callable[..., CniOutcome]:
    """``cni_invoke(executable, command, config, container_id=, netns=, ifname=, args=, path=,
    extra_env=, timeout=)`` runs a CNI executable as a runtime does and returns a
    :class:`~multus.testing.invoke.CniOutcome` (exit code, stdout, stderr, parsed JSON)."""
    def run(executable: str | list[str], command: str, config: Any, container_id: str = "",
            netns: str = "", ifname: str = "eth0", args: str = "", path: str = "/usr/lib/cni",
            extra_env: dict[str, str] | None = None, timeout: float = 120) -> CniOutcome:
        env = cni_env(command, container_id, netns, ifname, args, path, extra_env)
        return invoke(executable, env, config, timeout)
    return run


@pytest.fixture
def delegate_recorder() -> DelegateRecorder:
    """A :class:`~multus.testing.recorder.DelegateRecorder`: register it on a ``Plugins`` and
    ``.calls`` lists every delegate call (command, name, ifname, config, CNI_ARGS, error)."""
    return DelegateRecorder()


@pytest.fixture
def recording_plugin(tmp_path: Any) -> Callable[[str], tuple[str, str]]:
    """``recording_plugin("name")`` -> (bin dir, log path) of a recording CNI plugin."""
    def make(name: str) -> tuple[str, str]:
        d = tmp_path / "rec-bin"
        d.mkdir(exist_ok=True)
        log = str(tmp_path / f"{name}.calls.jsonl")
        write_recording_plugin(str(d), name, log)
        return str(d), log
    return make


@pytest.fixture
def request_context(tmp_path: Any) -> Callable[..., RequestContext]:
    """``request_context(command="ADD", conf=None, plugins=(), pod=None, args=..., env=None,
    enabled=None)`` builds the :class:`~multus.RequestContext` a hook receives, for a unit test
    of the hook: no root, no network namespace, no binary is run.

    ``conf`` is merged into a minimal multus configuration whose directories are under the
    test's ``tmp_path``; ``plugins`` are registered (named after their class or module) on a
    fresh :class:`~multus.Plugins` that loads no entry point (only the core defaults and what is
    given); ``pod`` sets ``ctx.pod``. ``enabled`` (a list of entry-point names, possibly empty)
    makes that ``Plugins`` load the installed backends as the executable does, with those
    third-party plugins enabled: a test that the entry point of an installed plugin is found.
    """
    def make(command: str = "ADD", conf: dict[str, Any] | None = None, plugins: Iterable[object] = (),
             pod: PodInfo | None = None, args: str = DEFAULT_ARGS,
             env: dict[str, str] | None = None, enabled: Iterable[str] | None = None) -> RequestContext:
        return make_context(str(tmp_path), command, conf, plugins, pod, args, env, enabled)
    return make
