"""The hook reference can never drift from the hook specification.

docs/hooks.md must be exactly what scripts/gen_hook_docs.py generates from
src/multus/plugin/hookspec.py, and every hook must follow the naming and documentation rules the
generator (and plugin authors) rely on.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from multus.plugin import hookspec
from multus.plugin.manager import Plugins

REPO = Path(__file__).resolve().parents[2]
GENERATOR = REPO / "scripts" / "gen_hook_docs.py"
HOOKS_MD = REPO / "docs" / "hooks.md"


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_hook_docs", GENERATOR)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, mod)
    spec.loader.exec_module(mod)
    return mod


gen = _load_generator()
SPEC_MARK = f"{hookspec.PROJECT}_spec"
HOOKS: dict[str, Any] = {name: fn for name, fn in vars(hookspec).items()
                         if inspect.isfunction(fn) and hasattr(fn, SPEC_MARK)}


def test_there_are_hooks_of_every_family() -> None:
    assert hookspec.FAMILIES == ("source", "delegate", "result", "lifecycle")
    for fam in hookspec.FAMILIES:
        assert any(n.startswith(f"multus_{fam}_") for n in HOOKS), f"no hook in family {fam}"


def test_hooks_md_is_generated_from_hookspec() -> None:
    expected = gen.render()
    actual = HOOKS_MD.read_text() if HOOKS_MD.exists() else ""
    if actual != expected:
        diff = "\n".join(gen.iter_diff(actual, expected))
        pytest.fail(f"docs/hooks.md is out of date: run `python scripts/gen_hook_docs.py`\n{diff}")


def test_the_generator_check_mode_agrees() -> None:
    p = subprocess.run([sys.executable, str(GENERATOR), "--check"], check=False, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr


def test_every_module_level_function_of_hookspec_is_a_hook() -> None:
    """A helper function in the spec module would be mistaken for an undocumented hook."""
    funcs = {n for n, f in vars(hookspec).items() if inspect.isfunction(f) and f.__module__ == hookspec.__name__}
    assert funcs == set(HOOKS)


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_hook_name_is_prefixed_with_its_family(name: str) -> None:
    m = re.fullmatch(r"multus_([a-z]+)_([a-z][a-z0-9_]*)", name)
    assert m, f"{name}: must be multus_<family>_<event>"
    assert m.group(1) in hookspec.FAMILIES, f"{name}: family {m.group(1)!r} is not one of {hookspec.FAMILIES}"


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_hook_docstring_states_semantics_and_since(name: str) -> None:
    fn = HOOKS[name]
    doc = inspect.getdoc(fn) or ""
    opts = getattr(fn, SPEC_MARK)
    m = re.search(r"^Semantics: (.+?)(?:\n\n|\Z)", doc, re.MULTILINE | re.DOTALL)
    assert m, f"{name}: the docstring must have a 'Semantics:' line"
    stated = m.group(1)
    if opts["firstresult"]:
        assert stated.startswith("first result"), f"{name} is firstresult but its docstring says {stated!r}"
    else:
        assert stated.startswith("all implementations"), f"{name} is not firstresult but its docstring says {stated!r}"
    if opts["historic"]:
        assert "historic" in stated, f"{name} is historic but its docstring does not say so"
    assert re.search(r"\bSince \d+\.\d+\b", doc), f"{name}: the docstring must say 'Since <version>'"
    first = doc.splitlines()[0]
    assert first.endswith("."), f"{name}: the docstring must open with a sentence: {first!r}"


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_hook_is_documented_with_its_exact_signature(name: str) -> None:
    """datasette's check, on the committed file: a heading and the signature as inspect sees it."""
    text = HOOKS_MD.read_text()
    assert f"\n### {name}\n" in text
    sig = inspect.signature(HOOKS[name])
    rendered = gen.signature(HOOKS[name])
    assert f"def {rendered}\n" in text
    for p in sig.parameters.values():
        assert f"{p.name}: {p.annotation}" in rendered


def _facade_methods() -> dict[str, tuple[str, Any]]:
    from multus.plugin import manager

    return gen.facades(manager)  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_every_hook_has_a_facade_method_with_its_arguments(name: str) -> None:
    facades = _facade_methods()
    assert name in facades, f"no method of Plugins calls pm.hook.{name}"
    meth, fn = facades[name]
    hook_params = set(inspect.signature(HOOKS[name]).parameters)
    facade_params = set(inspect.signature(fn).parameters) - {"self"}
    assert facade_params == hook_params, f"Plugins.{meth} takes {facade_params}, the hook {hook_params}"
    assert callable(getattr(Plugins, meth))


def test_facade_methods_call_only_known_hooks() -> None:
    assert set(_facade_methods()) <= set(HOOKS)


def test_rst_is_rendered_as_markdown() -> None:
    assert gen.rst_inline(":class:`~multus.engine.models.PodInfo` and ``x``") == "`PodInfo` and `x`"
    assert gen.rst_inline(":func:`multus_source_network`") == "`multus_source_network`"
    md = gen.docstring_markdown("Title.\n\nA block::\n\n    {\"a\": 1}\n\nAfter.\n:return: it.\nSemantics: first result.")
    assert "```\n{\"a\": 1}\n```" in md
    assert "**Returns:** it." in md and "**Semantics:** first result." in md
