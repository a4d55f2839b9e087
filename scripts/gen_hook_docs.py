#!/usr/bin/env python3
"""Generate docs/hooks.md, the hook reference, from src/multus/plugin/hookspec.py.

Everything in the reference comes from the specification module itself: the families (its
``FAMILIES`` and the table of its docstring), each hook's exact signature (``inspect``), its call
semantics (the options given to ``HookspecMarker``), its docstring, and the method of the typed
facade :class:`multus.plugin.manager.Plugins` that calls it (found in manager.py's syntax tree).

    python scripts/gen_hook_docs.py            # rewrite docs/hooks.md
    python scripts/gen_hook_docs.py --check    # exit 1 when docs/hooks.md is not up to date
    python scripts/gen_hook_docs.py --stdout   # print the reference
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
OUTPUT = REPO / "docs" / "hooks.md"
SPEC_MODULE = "multus.plugin.hookspec"
MANAGER_MODULE = "multus.plugin.manager"
SINCE_RE = re.compile(r"\bSince (\d+(?:\.\d+)+)")

CALLING = """\
## How hooks are called

Every hook is called with keyword arguments only; an implementation may accept any subset of
them, in any order. The engine never calls `pm.hook` itself: it calls the typed methods of
`multus.Plugins` (`ctx.plugins` in every hook), listed below as *Facade*.

* **first result** (`firstresult=True`): implementations are called one after the other until one
  returns something other than `None`; that value is the answer and the rest are not called.
  Returning `None` means "not mine, ask the next one"; raising `multus.CNIError` rejects
  the request.
* **all implementations**: every implementation is called; return values are ignored. An
  exception stops the call and reaches the engine (the lifecycle hooks say what it then does).
* **historic** (`historic=True`): the call is remembered and replayed for implementations
  registered later.
* **order**: the most recently registered implementation first; `@hookimpl(tryfirst=True)` moves
  an implementation to the front and `@hookimpl(trylast=True)` to the back. The core's own
  implementations (`multus.engine.defaults`) are `trylast`, so that any plugin can override them.
* **wrappers**: an implementation marked `@hookimpl(wrapper=True)` is a generator that runs around
  all the others of that hook: it `yield`s once, receives their result (or their exception) and
  returns the result, changed or not. Any hook can be wrapped: for timing, tracing, retrying.
"""


@dataclass(frozen=True)
class Hook:
    name: str
    family: str
    function: Callable[..., Any]
    options: dict[str, Any]

    @property
    def doc(self) -> str:
        return inspect.getdoc(self.function) or ""

    @property
    def since(self) -> str:
        m = SINCE_RE.search(self.doc)
        return m.group(1) if m else ""

    @property
    def firstresult(self) -> bool:
        return bool(self.options.get("firstresult"))

    @property
    def historic(self) -> bool:
        return bool(self.options.get("historic"))


def load_modules() -> tuple[ModuleType, ModuleType]:
    return importlib.import_module(SPEC_MODULE), importlib.import_module(MANAGER_MODULE)


def hooks(spec: ModuleType) -> list[Hook]:
    """Every hook specification of the module, in definition order."""
    marker = f"{spec.PROJECT}_spec"
    out = []
    for name, obj in vars(spec).items():
        options = getattr(obj, marker, None)
        if options is None or not inspect.isfunction(obj):
            continue
        family = family_of(name, spec.FAMILIES, spec.PROJECT)
        if family is None:
            raise ValueError(f"hook {name}: its name must be {spec.PROJECT}_<family>_<event>, "
                             f"with a family of {spec.FAMILIES}")
        out.append(Hook(name, family, obj, dict(options)))
    return out


def family_of(name: str, families: tuple[str, ...], project: str = "multus") -> str | None:
    for fam in families:
        if name.startswith(f"{project}_{fam}_") and len(name) > len(f"{project}_{fam}_"):
            return fam
    return None


# --- rendering ------------------------------------------------------------------------------

def _annotation(a: Any) -> str:
    if isinstance(a, str):
        return a
    return inspect.formatannotation(a)


def signature(fn: Callable[..., Any], name: str | None = None, skip_self: bool = False) -> str:
    """``name(params) -> ret`` as written in the source (string annotations unquoted)."""
    sig = inspect.signature(fn)
    params = [p for p in sig.parameters.values() if not (skip_self and p.name == "self")]
    parts: list[str] = []
    for i, p in enumerate(params):
        if p.kind is p.KEYWORD_ONLY and (i == 0 or params[i - 1].kind not in (p.KEYWORD_ONLY, p.VAR_POSITIONAL)):
            parts.append("*")
        stars = "*" if p.kind is p.VAR_POSITIONAL else "**" if p.kind is p.VAR_KEYWORD else ""
        text = stars + p.name
        if p.annotation is not p.empty:
            text += f": {_annotation(p.annotation)}"
        if p.default is not p.empty:
            text += f" = {p.default!r}" if p.annotation is not p.empty else f"={p.default!r}"
        parts.append(text)
        if p.kind is p.POSITIONAL_ONLY and (i + 1 == len(params) or params[i + 1].kind is not p.POSITIONAL_ONLY):
            parts.append("/")
    ret = "" if sig.return_annotation is sig.empty else f" -> {_annotation(sig.return_annotation)}"
    return f"{name or fn.__name__}({', '.join(parts)}){ret}"


def decorator(hook: Hook) -> str:
    opts = [f"{k}={v!r}" for k, v in hook.options.items() if v not in (None, False)]
    return f"@hookspec({', '.join(opts)})" if opts else "@hookspec"


def semantics(hook: Hook) -> str:
    text = "first result" if hook.firstresult else "all implementations"
    if hook.historic:
        text += ", historic"
    return text


_ROLE_RE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|exc|obj):`(~?)([^`]+)`")


def rst_inline(text: str) -> str:
    """reST inline markup used in docstrings, as Markdown."""
    def role(m: re.Match[str]) -> str:
        target = m.group(2)
        return f"`{target.rsplit('.', 1)[-1]}`" if m.group(1) else f"`{target}`"

    text = _ROLE_RE.sub(role, text)
    return re.sub(r"``([^`]+)``", r"`\1`", text)


def docstring_markdown(doc: str) -> str:
    """A hook docstring as Markdown: paragraphs kept, fields and ``Semantics:`` on lines of their own."""
    out: list[str] = []
    lines = doc.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.endswith("::") and not stripped.startswith(".."):
            # a literal block follows: fence it
            out.append(rst_inline(stripped[:-1] if not stripped.endswith(" ::") else stripped[:-3]))
            i += 1
            block: list[str] = []
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith((" ", "\t"))):
                block.append(lines[i])
                i += 1
            while block and not block[-1].strip():
                block.pop()
            out += ["", "```", *inspect.cleandoc("\n".join(block)).splitlines(), "```", ""]
            continue
        m = re.match(r":(returns?|raises?\s+[\w.]+|param\s+\w+):\s*(.*)", stripped)
        if m:
            field = m.group(1)
            label = ("Returns" if field.startswith("return") else
                     f"Raises `{field.split()[1]}`" if field.startswith("raise") else f"`{field.split()[1]}`")
            if out and out[-1]:
                out.append("")
            out.append(f"**{label}:** {rst_inline(m.group(2))}")
        elif stripped.startswith("Semantics:"):
            if out and out[-1]:
                out.append("")
            out.append(f"**Semantics:** {rst_inline(stripped[len('Semantics:'):].strip())}")
        else:
            out.append(rst_inline(stripped))
        i += 1
    text = "\n".join(out)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def facades(manager: ModuleType) -> dict[str, tuple[str, Callable[..., Any]]]:
    """hook name -> (method name, method) of the ``Plugins`` methods that call ``pm.hook.<hook>``."""
    tree = ast.parse(inspect.getsource(manager))
    out: dict[str, tuple[str, Callable[..., Any]]] = {}
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Plugins"):
        for fn in (n for n in cls.body if isinstance(n, ast.FunctionDef)):
            for node in ast.walk(fn):
                if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)
                        and node.value.attr == "hook"):
                    out.setdefault(node.attr, (fn.name, getattr(manager.Plugins, fn.name)))
    return out


def family_rows(spec: ModuleType) -> dict[str, str]:
    """family -> "what its hooks decide", from the table of the module docstring."""
    rows: dict[str, str] = {}
    for line in (spec.__doc__ or "").splitlines():
        m = re.match(r"^(\w+)\s+``([\w.]+)``\s+(.+?)\s*$", line)
        if m and m.group(1) in spec.FAMILIES:
            rows[m.group(1)] = m.group(3)
    return rows


def module_intro(spec: ModuleType) -> str:
    """The module docstring after its first line, without its family table (rendered as Markdown)."""
    lines = inspect.cleandoc(spec.__doc__ or "").splitlines()[1:]
    rules = [i for i, line in enumerate(lines) if re.fullmatch(r"=+(\s+=+)*\s*", line)]
    if len(rules) >= 2:
        before = "\n".join(lines[:rules[0]]).rstrip()
        if before.endswith(":"):
            before = before[:-1] + " (see [Families](#families))."
        lines = [*before.splitlines(), "", *lines[rules[-1] + 1:]]
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", "\n".join(lines)) if p.strip()]
    return "\n\n".join(rst_inline(" ".join(line.strip() for line in p.splitlines())) for p in paragraphs)


def render() -> str:
    spec, manager = load_modules()
    all_hooks = hooks(spec)
    callers = facades(manager)
    rows = family_rows(spec)
    group_of: Callable[[str], str] = manager.group_of
    out: list[str] = [
        "# Hook reference",
        "",
        ("<!-- Generated by scripts/gen_hook_docs.py from src/multus/plugin/hookspec.py: edit those, "
         "then run `python scripts/gen_hook_docs.py`. -->"),
        "",
        f"{rst_inline(inspect.cleandoc(spec.__doc__ or '').splitlines()[0])}",
        "",
        module_intro(spec),
        "",
        "How to write and enable a plugin: [plugins.md](plugins.md).",
        "",
        "## Families",
        "",
        "| family | entry-point group | what its hooks decide | hooks |",
        "|---|---|---|---|",
    ]
    for fam in spec.FAMILIES:
        names = ", ".join(f"[`{h.name}`](#{h.name})" for h in all_hooks if h.family == fam)
        out.append(f"| {fam} | `{group_of(fam)}` | {rst_inline(rows.get(fam, ''))} | {names} |")
    out += ["", CALLING.rstrip(), "", "## Summary", "",
            "| hook | calls | facade | since |", "|---|---|---|---|"]
    for h in all_hooks:
        facade = f"`ctx.plugins.{callers[h.name][0]}`" if h.name in callers else "—"
        out.append(f"| [`{h.name}`](#{h.name}) | {semantics(h)} | {facade} | {h.since or '—'} |")
    for fam in spec.FAMILIES:
        fam_hooks = [h for h in all_hooks if h.family == fam]
        out += ["", f"## {fam}", "",
                f"Entry-point group `{group_of(fam)}`: {rst_inline(rows.get(fam, ''))}."]
        for h in fam_hooks:
            out += ["", f"### {h.name}", "", "```python", decorator(h), f"def {signature(h.function)}", "```", ""]
            out.append(f"* **Calls:** {semantics(h)}")
            if h.name in callers:
                meth, fn = callers[h.name]
                out.append(f"* **Facade:** `ctx.plugins.{signature(fn, meth, skip_self=True)}`")
            if h.options.get("warn_on_impl") is not None:
                out.append(f"* **Deprecated:** {h.options['warn_on_impl']}")
            out.append(f"* **Since:** {h.since or '—'}")
            out += ["", docstring_markdown(h.doc)]
    return "\n".join(out).rstrip() + "\n"


def iter_diff(old: str, new: str) -> Iterator[str]:
    import difflib

    yield from difflib.unified_diff(old.splitlines(), new.splitlines(), "docs/hooks.md", "generated", lineterm="")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = parser.add_mutually_exclusive_group()
    g.add_argument("--check", action="store_true", help="exit 1 when the file is not up to date")
    g.add_argument("--stdout", action="store_true", help="print instead of writing")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    text = render()
    if args.stdout:
        sys.stdout.write(text)
        return 0
    current = args.output.read_text() if args.output.exists() else ""
    if args.check:
        if current != text:
            print("\n".join(iter_diff(current, text)), file=sys.stderr)
            print(f"{args.output} is out of date: run python scripts/gen_hook_docs.py", file=sys.stderr)
            return 1
        return 0
    if current != text:
        args.output.write_text(text)
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    if str(SRC) not in sys.path:
        sys.path.insert(0, str(SRC))  # document this checkout's hooks, not an installed copy's
    sys.exit(main())
