"""A parser for LVM2's text configuration syntax, used by its on-disk VG metadata.

Owns the grammar (as LVM2 writes it in metadata areas and `vgcfgbackup` files):

    file    := item*
    item    := NAME '=' value | NAME '{' item* '}'
    value   := STRING | INT | FLOAT | '[' (value (',' value)*)? ']'

with `#` comments to the end of a line, strings in double quotes with backslash
escapes, names made of letters, digits and ``_ . + -``. The result is a nested
dict (`Section`); arrays become lists. Errors name the line and what was expected.
"""

from __future__ import annotations

import re
from typing import TypeAlias

from sgguard.errors import InputError

__all__ = ["Scalar", "Section", "Value", "parse_config"]

Scalar: TypeAlias = str | int | float
Value: TypeAlias = Scalar | list[Scalar]
Section: TypeAlias = dict[str, "Value | Section"]

_TOKEN = re.compile(
    r"""
    (?P<ws>[ \t\r\n]+|\#[^\n]*)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<number>[-+]?\d+(?:\.\d+)?(?![A-Za-z_]))
  | (?P<name>[A-Za-z0-9_.+\-/]+)
  | (?P<punct>[=\[\]{},])
    """,
    re.VERBOSE | re.DOTALL,
)
MAX_DEPTH = 32


def _tokens(text: str, where: str) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    pos = 0
    line = 1
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise InputError(f"line {line}: unexpected character {text[pos]!r}", where=where)
        kind = m.lastgroup or ""
        tok = m.group()
        if kind != "ws":
            out.append((kind, tok, line))
        line += tok.count("\n")
        pos = m.end()
    return out


def _unquote(tok: str) -> str:
    return re.sub(r"\\(.)", r"\1", tok[1:-1], flags=re.DOTALL)


def parse_config(text: str, where: str = "LVM2 metadata") -> Section:
    """Parse LVM2 config text into nested dicts; InputError on any syntax error."""
    toks = _tokens(text, where)
    pos = 0

    def peek() -> tuple[str, str, int]:
        return toks[pos] if pos < len(toks) else ("eof", "end of text", toks[-1][2] if toks else 1)

    def fail(expected: str) -> InputError:
        _kind, tok, line = peek()
        return InputError(f"line {line}: expected {expected}, found {tok!r}", where=where)

    def scalar() -> Scalar:
        nonlocal pos
        kind, tok, _line = peek()
        if kind == "string":
            pos += 1
            return _unquote(tok)
        if kind == "number":
            pos += 1
            return float(tok) if "." in tok else int(tok)
        raise fail("a string or a number")

    def value() -> Value:
        nonlocal pos
        _kind, tok, _line = peek()
        if tok != "[":
            return scalar()
        pos += 1
        items: list[Scalar] = []
        if peek()[1] == "]":
            pos += 1
            return items
        while True:
            items.append(scalar())
            sep = peek()[1]
            pos += 1
            if sep == "]":
                return items
            if sep != ",":
                pos -= 1
                raise fail("',' or ']'")

    def section(depth: int, closing: bool) -> Section:
        nonlocal pos
        if depth > MAX_DEPTH:
            raise fail(f"at most {MAX_DEPTH} nested sections")
        out: Section = {}
        while True:
            kind, tok, line = peek()
            if kind == "eof":
                if closing:
                    raise fail("'}'")
                return out
            if tok == "}" and closing:
                pos += 1
                return out
            if kind not in ("name", "number"):
                raise fail("a name")
            pos += 1
            op = peek()[1]
            if op == "=":
                pos += 1
                item: Value | Section = value()
            elif op == "{":
                pos += 1
                item = section(depth + 1, True)
            else:
                raise fail(f"'=' or '{{' after {tok!r}")
            if tok in out:
                raise InputError(f"line {line}: {tok!r} is defined twice", where=where)
            out[tok] = item

    return section(0, False)
