"""Go's standard library, as far as multus' answers must match upstream's texts and rules.

Upstream Multus and libcni are Go programs; operators and tests compare our messages and our
decisions with theirs. Every emulation of Go's behaviour lives here, once:

* ``encoding/json``: the syntax errors of the scanner (:func:`check_syntax`, ``invalid character
  'x' looking for beginning of value``), decoding into a tree that keeps numbers as literals and
  objects as ordered pairs (:func:`decode`), the type errors (:func:`type_error`, ``json: cannot
  unmarshal string into Go struct field ...``), field matching (the exact key, else a
  case-insensitive simple-fold match: :func:`match_field`, :func:`fold`), typed field decoders
  (``dec_*``) and :func:`loads`, the strict decoder (no ``NaN``/``Infinity``) for everything
  else multus reads as Go would;
* ``strconv.Quote`` (``%q``): :func:`quote`;
* ``strings.TrimSpace`` / ``unicode.IsSpace``: :func:`trim_space`, :data:`SPACE`;
* ``net.ParseIP``, ``net.ParseCIDR``, ``net.ParseMAC``, ``net.IP.String()``: :func:`parse_ip`,
  :func:`parse_cidr`, :func:`parse_mac`, :func:`canonical_ip`, :func:`canonical_cidr`.

It imports nothing of multus: every layer may use it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ipaddress

__all__ = [
    "KEEP",
    "SPACE",
    "Decoder",
    "JSONFailure",
    "Number",
    "Object",
    "byte_len",
    "canonical_cidr",
    "canonical_ip",
    "check_syntax",
    "dec_int",
    "dec_ip_list",
    "dec_map",
    "dec_string",
    "dec_string_list",
    "dec_struct",
    "decode",
    "fold",
    "kind",
    "loads",
    "match_field",
    "parse_cidr",
    "parse_ip",
    "parse_mac",
    "plain",
    "quote",
    "quote_char",
    "scrub",
    "trim_space",
    "type_error",
]

SPACE = ("\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
         "\u200a\u2028\u2029\u202f\u205f\u3000")
"""Go's ``unicode.IsSpace`` characters (``strings.TrimSpace`` trims these; Python's ``str.strip()``
and ``str.isspace()`` take more, e.g. ``\\x1c``)."""
_HEX = frozenset(b"0123456789abcdefABCDEF")
_SURROGATE = re.compile("[\ud800-\udfff]")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


# --------------------------------------------------------------------------------------------------
# encoding/json

class JSONFailure(Exception):
    """What Go's json.Unmarshal would return (its text), before upstream's prefix is added."""


class Number:
    """A JSON number, kept as its literal (Go's errors quote it: ``number 1.5``)."""

    __slots__ = ("literal",)

    def __init__(self, literal: str) -> None:
        self.literal = literal


class Object:
    """A JSON object as its key/value pairs in document order (keys may repeat)."""

    __slots__ = ("pairs",)

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        self.pairs = pairs


def _reject_constant(name: str) -> Any:
    raise JSONFailure(f"invalid character {quote_char(ord(name[0]))} looking for beginning of value")


def check_syntax(data: bytes) -> str:
    """Go's syntax error text for ``data`` (``checkValid``), "" when it is one valid JSON value."""
    return _Scanner().check(data)


def decode(text: str) -> Any:
    """``text`` decoded as Go's decoder sees it: :class:`Object` for objects (pairs in document
    order, keys may repeat), :class:`Number` for numbers, Python ``str``/``list``/``bool``/``None``
    for the rest. Raises :class:`JSONFailure` with Go's syntax error text (and ``RecursionError``
    for a nesting deeper than Python's stack)."""
    syntax_error = check_syntax(text.encode("utf-8", "surrogatepass"))
    if syntax_error:
        raise JSONFailure(syntax_error)
    return json.loads(text, object_pairs_hook=Object, parse_int=Number, parse_float=Number,
                      parse_constant=_reject_constant)


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads(data: bytes | bytearray | str) -> Any:
    """``json.loads`` without Python's extensions that Go refuses (``NaN``, ``Infinity``,
    ``-Infinity``): ``ValueError`` (or ``UnicodeDecodeError``) for anything Go would not decode."""
    return json.loads(data, parse_constant=_not_json)


def kind(v: Any) -> str:
    """The JSON type as Go's UnmarshalTypeError names it."""
    if isinstance(v, str):
        return "string"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, Number):
        return "number"
    if isinstance(v, list):
        return "array"
    if isinstance(v, Object):
        return "object"
    return "null"


def type_error(v: Any, go_type: str, struct: str = "", field: str = "", value: str = "") -> JSONFailure:
    """Go's ``UnmarshalTypeError`` text for ``v`` decoded into ``go_type`` (at ``struct.field``)."""
    value = value or kind(v)
    if struct or field:
        return JSONFailure(f"json: cannot unmarshal {value} into Go struct field {struct}.{field} "
                            f"of type {go_type}")
    return JSONFailure(f"json: cannot unmarshal {value} into Go value of type {go_type}")


KEEP = object()
"""A decoder's answer for JSON ``null`` into a Go string: the field keeps its value."""

Decoder = Callable[[Any, str, str], Any]
"""A field decoder: ``(value of the tree, Go struct name, field path)`` -> the decoded value,
:data:`KEEP`, or raises :class:`JSONFailure`. The ``dec_*`` functions decode Go's ``string``,
``int``, ``[]string``, ``[]net.IP``, a struct (type-checked, kept raw) and ``map[string]any``."""


def dec_string(v: Any, struct: str, field: str) -> Any:
    if v is None:
        return KEEP
    if not isinstance(v, str):
        raise type_error(v, "string", struct, field)
    return scrub(v)


def dec_int(v: Any, struct: str, field: str) -> Any:
    if v is None:
        return KEEP
    if not isinstance(v, Number):
        raise type_error(v, "int", struct, field)
    lit = v.literal
    if not re.fullmatch(r"-?[0-9]{1,19}", lit) or not _INT64_MIN <= int(lit) <= _INT64_MAX:
        raise type_error(v, "int", struct, field, value=f"number {lit}")
    return int(lit)


def dec_string_list(v: Any, struct: str, field: str) -> Any:
    if v is None:
        return None
    if not isinstance(v, list):
        raise type_error(v, "[]string", struct, field)
    out: list[str] = []
    for item in v:
        s = dec_string(item, struct, field)
        out.append("" if s is KEEP else s)
    return tuple(out)


def dec_ip_list(v: Any, struct: str, field: str) -> Any:
    if v is None:
        return None
    if not isinstance(v, list):
        raise type_error(v, "[]net.IP", struct, field)
    out: list[str] = []
    for item in v:
        if item is None:  # a nil net.IP
            out.append("")
            continue
        if not isinstance(item, str):
            raise type_error(item, "net.IP", struct, field)
        s = scrub(item)
        if s and parse_ip(s) is None:  # net.IP.UnmarshalText; its error has no JSON context
            raise JSONFailure(f"invalid IP address: {s}")
        out.append(s)
    return tuple(out)


def dec_struct(v: Any, go_struct: str, fields: dict[str, Decoder], path: str) -> dict[str, Any]:
    """A Go struct value: type-check the known fields, keep the object raw."""
    for key, item in v.pairs:
        match = match_field(key, fields)
        if match is not None:
            fields[match](item, go_struct, f"{path}.{match}")
    return plain(v, go_struct, path)  # type: ignore[no-any-return]


def dec_map(v: Any, struct: str, field: str) -> Any:
    if v is None:
        return None
    if not isinstance(v, Object):
        raise type_error(v, "map[string]interface {}", struct, field)
    return plain(v, struct, field)


def match_field(key: str, fields: Mapping[str, object]) -> str | None:
    """Go's rule: the exact key, else a case-insensitive (simple-fold) match."""
    if key in fields:
        return key
    folded = fold(key)
    for name in fields:
        if fold(name) == folded:
            return name
    return None


def fold(s: str) -> str:
    """A canonical form under Go's simple case folding: ``fold(a) == fold(b)`` exactly when Go's
    ``strings.EqualFold(a, b)`` (``"ſ"`` and ``"K"`` (Kelvin) fold with ``s`` and ``k``)."""
    if s.isascii():
        return s.upper()
    out: list[str] = []
    for c in s:
        if c < "\x80":
            out.append(c.upper())
            continue
        orbit = {c}
        for _ in range(2):
            orbit |= {y for x in orbit for y in (x.lower(), x.upper()) if len(y) == 1}
        out.append(min(orbit))
    return "".join(out)


def plain(v: Any, struct: str, field: str) -> Any:
    """The decoded tree as plain Python values (numbers as int/float, objects as dicts)."""
    if isinstance(v, Object):
        return {scrub(k): plain(item, struct, field) for k, item in v.pairs}
    if isinstance(v, list):
        return [plain(item, struct, field) for item in v]
    if isinstance(v, Number):
        lit = v.literal
        number: float = float(lit)
        if math.isinf(number):
            raise type_error(v, "float64", struct, field, value=f"number {lit}")
        return int(lit) if re.fullmatch(r"-?[0-9]+", lit) else number
    if isinstance(v, str):
        return scrub(v)
    return v


def scrub(s: str) -> str:
    """Go replaces unpaired surrogates (``"\\ud800"``) by U+FFFD."""
    return _SURROGATE.sub("\ufffd", s)


# Go's encoding/json scanner (checkValid): the syntax errors and their texts.

_PARSE_OBJECT_KEY, _PARSE_OBJECT_VALUE, _PARSE_ARRAY_VALUE = range(3)
_MAX_NESTING_DEPTH = 10000


class _Scanner:
    def __init__(self) -> None:
        self.step: Callable[[int], None] = self._begin_value
        self.parse_state: list[int] = []
        self.end_top = False
        self.err = ""

    def check(self, data: bytes) -> str:
        """Go's syntax error text for ``data``, "" when it is one valid JSON value."""
        for c in data:
            self.step(c)
            if self.err:
                return self.err
        if self.end_top:
            return ""
        self.step(0x20)
        if self.end_top:
            return ""
        return self.err or "unexpected end of JSON input"

    def _error(self, c: int, context: str) -> None:
        self.step = self._state_error
        self.err = f"invalid character {quote_char(c)} {context}"

    def _state_error(self, c: int) -> None:
        pass

    def _push(self, c: int, state: int) -> None:
        self.parse_state.append(state)
        if len(self.parse_state) > _MAX_NESTING_DEPTH:
            self._error(c, "exceeded max depth")

    def _pop(self) -> None:
        self.parse_state.pop()
        if not self.parse_state:
            self.step = self._end_top
            self.end_top = True
        else:
            self.step = self._end_value

    def _begin_value_or_empty(self, c: int) -> None:
        if _is_space(c):
            return
        if c == 0x5D:  # ]
            self._end_value(c)
            return
        self._begin_value(c)

    def _begin_value(self, c: int) -> None:
        if _is_space(c):
            return
        ch = chr(c)
        if ch == "{":
            self.step = self._begin_string_or_empty
            self._push(c, _PARSE_OBJECT_KEY)
        elif ch == "[":
            self.step = self._begin_value_or_empty
            self._push(c, _PARSE_ARRAY_VALUE)
        elif ch == '"':
            self.step = self._in_string
        elif ch == "-":
            self.step = self._neg
        elif ch == "0":
            self.step = self._zero
        elif "1" <= ch <= "9":
            self.step = self._digits
        elif ch in "tfn":
            self.step = self._literal_step({"t": "true", "f": "false", "n": "null"}[ch], 1)
        else:
            self._error(c, "looking for beginning of value")

    def _literal_step(self, word: str, pos: int) -> Callable[[int], None]:
        def step(c: int) -> None:
            if c == ord(word[pos]):
                self.step = self._end_value if pos + 1 == len(word) else self._literal_step(word, pos + 1)
            else:
                self._error(c, f"in literal {word} (expecting {quote_char(ord(word[pos]))})")
        return step

    def _begin_string_or_empty(self, c: int) -> None:
        if _is_space(c):
            return
        if c == 0x7D:  # }
            self.parse_state[-1] = _PARSE_OBJECT_VALUE
            self._end_value(c)
            return
        self._begin_string(c)

    def _begin_string(self, c: int) -> None:
        if _is_space(c):
            return
        if c == 0x22:
            self.step = self._in_string
            return
        self._error(c, "looking for beginning of object key string")

    def _end_value(self, c: int) -> None:
        if not self.parse_state:
            self.step = self._end_top
            self.end_top = True
            self._end_top(c)
            return
        if _is_space(c):
            self.step = self._end_value
            return
        ps = self.parse_state[-1]
        ch = chr(c)
        if ps == _PARSE_OBJECT_KEY:
            if ch == ":":
                self.parse_state[-1] = _PARSE_OBJECT_VALUE
                self.step = self._begin_value
                return
            self._error(c, "after object key")
        elif ps == _PARSE_OBJECT_VALUE:
            if ch == ",":
                self.parse_state[-1] = _PARSE_OBJECT_KEY
                self.step = self._begin_string
                return
            if ch == "}":
                self._pop()
                return
            self._error(c, "after object key:value pair")
        else:
            if ch == ",":
                self.step = self._begin_value
                return
            if ch == "]":
                self._pop()
                return
            self._error(c, "after array element")

    def _end_top(self, c: int) -> None:
        if not _is_space(c):
            self._error(c, "after top-level value")

    def _in_string(self, c: int) -> None:
        if c == 0x22:
            self.step = self._end_value
        elif c == 0x5C:
            self.step = self._in_string_esc
        elif c < 0x20:
            self._error(c, "in string literal")

    def _in_string_esc(self, c: int) -> None:
        if chr(c) in 'bfnrt\\/"':
            self.step = self._in_string
        elif c == ord("u"):
            self.step = self._esc_u(4)
        else:
            self._error(c, "in string escape code")

    def _esc_u(self, left: int) -> Callable[[int], None]:
        def step(c: int) -> None:
            if c in _HEX:
                self.step = self._in_string if left == 1 else self._esc_u(left - 1)
            else:
                self._error(c, "in \\u hexadecimal character escape")
        return step

    def _neg(self, c: int) -> None:
        if c == 0x30:
            self.step = self._zero
        elif 0x31 <= c <= 0x39:
            self.step = self._digits
        else:
            self._error(c, "in numeric literal")

    def _digits(self, c: int) -> None:
        if 0x30 <= c <= 0x39:
            return
        self._zero(c)

    def _zero(self, c: int) -> None:
        if c == 0x2E:
            self.step = self._dot
        elif c in (0x65, 0x45):
            self.step = self._exp
        else:
            self._end_value(c)

    def _dot(self, c: int) -> None:
        if 0x30 <= c <= 0x39:
            self.step = self._dot_digits
        else:
            self._error(c, "after decimal point in numeric literal")

    def _dot_digits(self, c: int) -> None:
        if 0x30 <= c <= 0x39:
            return
        if c in (0x65, 0x45):
            self.step = self._exp
        else:
            self._end_value(c)

    def _exp(self, c: int) -> None:
        if c in (0x2B, 0x2D):
            self.step = self._exp_sign
        else:
            self._exp_sign(c)

    def _exp_sign(self, c: int) -> None:
        if 0x30 <= c <= 0x39:
            self.step = self._exp_digits
        else:
            self._error(c, "in exponent of numeric literal")

    def _exp_digits(self, c: int) -> None:
        if 0x30 <= c <= 0x39:
            return
        self._end_value(c)


def _is_space(c: int) -> bool:
    return c in (0x20, 0x09, 0x0D, 0x0A)


def quote_char(c: int) -> str:
    """Go's quoteChar: how a byte is shown in a JSON syntax error."""
    if c == 0x27:
        return "'\\''"
    if c == 0x22:
        return "'\"'"
    return "'" + quote(chr(c))[1:-1] + "'"


# --------------------------------------------------------------------------------------------------
# strconv, strings, net

_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def quote(s: str | bytes) -> str:
    """Go's ``strconv.Quote`` (``%q``) of a string, or of bytes as Go's ``string(b)``.

    Invalid UTF-8 (and, in a ``str``, lone surrogates, which are invalid UTF-8 to Go) is shown
    byte by byte as ``\\xNN``; non-printable characters as ``\\a``..``\\v``, ``\\xNN``,
    ``\\uNNNN`` or ``\\UNNNNNNNN``; everything printable (non-ASCII letters included) as is.
    """
    data = s.encode("utf-8", "surrogatepass") if isinstance(s, str) else bytes(s)
    out = ['"']
    for ch in data.decode("utf-8", "surrogateescape"):
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0xDC80 <= o <= 0xDCFF:  # a byte that is not UTF-8 (surrogateescape)
            out.append(f"\\x{o - 0xDC00:02x}")
        elif ch.isprintable():
            out.append(ch)
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append('"')
    return "".join(out)


def trim_space(s: str) -> str:
    """Go's ``strings.TrimSpace``."""
    return s.strip(SPACE)


def byte_len(s: str) -> int:
    """Go's ``len(s)``: the length in UTF-8 bytes (a lone surrogate counts as its 3 bytes)."""
    return len(s.encode("utf-8", "surrogatepass"))


def parse_ip(s: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Go's ``net.ParseIP``: dotted IPv4 (no leading zeros) or IPv6, ASCII only, no zone."""
    if "%" in s or not s.isascii():
        return None
    import ipaddress  # here: a request that reads no address does not pay for the module

    try:
        return ipaddress.ip_address(s)
    except ValueError:
        return None


def parse_cidr(s: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int] | None:
    """Go's ``net.ParseCIDR``: ``<ip>/<decimal prefix length>`` (leading zeros allowed in the
    length, which is at most the address' bit length: 128 for an IPv4-mapped IPv6 address); the
    address (host bits kept) and the length, or ``None``."""
    addr, slash, mask = s.partition("/")
    ip = parse_ip(addr)
    if ip is None or not slash or not mask or not (mask.isascii() and mask.isdigit()):
        return None
    significant = mask.lstrip("0") or "0"
    if len(significant) > 3 or int(significant) > ip.max_prefixlen:
        return None
    return ip, int(significant)


def canonical_ip(text: str) -> str | None:
    """``text`` as Go's ``net.IP.String()`` prints it after parsing, or ``None`` if invalid."""
    addr = parse_ip(text)
    if addr is None:
        return None
    mapped = getattr(addr, "ipv4_mapped", None)
    if mapped is not None:
        return str(mapped)
    return str(addr)


def canonical_cidr(text: str) -> str | None:
    """``text`` as libcni's ``types.IPNet`` prints it after parsing, or ``None`` if invalid.

    libcni's ``ParseCIDR`` keeps the host bits; Go's ``IPNet.String()`` prints an IPv4-mapped
    address as IPv4 with the prefix counted in its last 32 bits.
    """
    parsed = parse_cidr(text)
    if parsed is None:
        return None
    addr, prefix = parsed
    mapped = getattr(addr, "ipv4_mapped", None)
    if mapped is not None:
        return f"{mapped}/{max(0, prefix - 96)}"
    return f"{addr}/{prefix}"


def parse_mac(s: str) -> bool:
    """Go's net.ParseMAC: 6, 8 or 20 bytes as ``xx:xx:..``, ``xx-xx-..`` or ``xxxx.xxxx.xxxx``."""
    b = s.encode("utf-8", "surrogatepass")
    if len(b) < 14:
        return False
    if b[2] in b":-":
        if (len(b) + 1) % 3:
            return False
        n = (len(b) + 1) // 3
        if n not in (6, 8, 20):
            return False
        return all(_xtoi2(b[3 * i:], b[2]) for i in range(n))
    if b[4] == ord("."):
        if (len(b) + 1) % 5:
            return False
        n = 2 * (len(b) + 1) // 5
        if n not in (6, 8, 20):
            return False
        return all(_xtoi2(b[x:x + 2], 0) and _xtoi2(b[x + 2:], b[4]) for x in range(0, 5 * (n // 2), 5))
    return False


def _xtoi2(s: bytes, sep: int) -> bool:
    """Two hex digits, followed by ``sep`` if anything follows."""
    if len(s) > 2 and s[2] != sep:
        return False
    return len(s) >= 2 and s[0] in _HEX and s[1] in _HEX
