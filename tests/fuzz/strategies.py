"""Inputs for the fuzzers: odd-but-structured JSON from each format's grammar, and random bytes."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

ODD_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", "..", "../../etc", "/abs/path", "a/b", "eth0", "net1", "x" * 16, "é", "\x00",
                     "a\nb", "ns/name@if1", "@", "/", "{}", "[]", "null", "0.4.0", "1.1.0", "0.2.0",
                     "10.0.0.1/24", "fe80::1/64", "10.0.0.1", "de:ad:be:ef:00:01", "NaN", "1e400"]),
)
ODD_NUMBER = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 1, 65535, 65536, 2**31, 2**63, 2**64, 1e308]),
)
SCALAR = st.one_of(st.none(), st.booleans(), ODD_NUMBER, ODD_TEXT)


def json_values(keys: list[str] | None = None, max_leaves: int = 12) -> st.SearchStrategy[Any]:
    """Nested JSON values whose object keys come (mostly) from ``keys``."""
    key = ODD_TEXT if not keys else st.one_of(st.sampled_from(keys), ODD_TEXT)
    return st.recursive(SCALAR, lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(key, inner, max_size=6)), max_leaves=max_leaves)


def objects(fields: dict[str, st.SearchStrategy[Any]], keys: list[str] | None = None) -> st.SearchStrategy[Any]:
    """A JSON object with some of ``fields`` (right or wrong types) and some odd extra keys."""
    names = list(fields)
    any_value = json_values(keys or names)

    def build(draw: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in draw(st.lists(st.sampled_from(names), unique=True, max_size=len(names))):
            out[name] = draw(st.one_of(fields[name], fields[name], any_value))
        out.update(draw(st.dictionaries(ODD_TEXT, any_value, max_size=2)))
        return out

    return st.composite(lambda draw: build(draw))()


def encoded(values: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    """``values`` as JSON bytes (NaN/Infinity as Python writes them), truncated now and then, or random
    bytes."""
    def dump(v: Any) -> bytes:
        return json.dumps(v).encode()

    text = values.map(dump)
    cut = st.tuples(text, st.integers(min_value=0, max_value=200)).map(lambda t: t[0][: t[1]])
    return st.one_of(text, text, cut, st.binary(max_size=200))


IFNAMES = st.one_of(ODD_TEXT, st.sampled_from(["eth0", "net1", "a" * 15, "a" * 16, "a/b", "..", ".", "a\tb"]))
