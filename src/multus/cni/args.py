"""CNI_ARGS: ``K=V;K2=V2`` pairs, kept in order (duplicates are meaningful to upstream)."""

from __future__ import annotations

from collections.abc import Iterable

from multus.errors import INVALID_ENV, CNIError

Pairs = tuple[tuple[str, str], ...]


def parse(text: str) -> Pairs:
    """Split ``CNI_ARGS``; a pair without ``=`` is an error, as in libcni's ``types.LoadArgs``."""
    if not text:
        return ()
    out: list[tuple[str, str]] = []
    for item in text.split(";"):
        if item == "":
            continue
        key, sep, value = item.partition("=")
        if not sep:
            raise CNIError(INVALID_ENV, f"CNI_ARGS: invalid pair {item!r} (expected KEY=VALUE)")
        out.append((key, value))
    return tuple(out)


def join(pairs: Iterable[tuple[str, str]]) -> str:
    return ";".join(f"{k}={v}" for k, v in pairs)


def lookup(pairs: Pairs, key: str, default: str = "") -> str:
    """The first value of ``key``."""
    for k, v in pairs:
        if k == key:
            return v
    return default
