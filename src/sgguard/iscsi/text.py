"""iSCSI text key=value codec (RFC 7143 6.1 Text Format).

Owns the wire form of login and text negotiation data: `key=value` pairs, each
terminated by a NUL byte, keys of at most 63 characters from the RFC 7143 6.1
character set, values of at most 255 bytes unless the key allows more. Order is
kept (a list of pairs, not a dict), because a key sent twice is a protocol error
the negotiation layer must see.
"""

from __future__ import annotations

import re

__all__ = ["TextError", "decode_text", "encode_text"]

_KEY = re.compile(r"[A-Za-z0-9.:\-+@_#]{1,63}\Z")
MAX_VALUE = 255
# Keys whose values may be long (RFC 7143 13.x: SendTargets results, CHAP
# binary values of large challenges).
LONG_VALUES = frozenset({"TargetAddress", "CHAP_C", "CHAP_R", "SendTargets"})


class TextError(ValueError):
    """Malformed key=value data; the message names the offending pair."""


def decode_text(data: bytes | bytearray | memoryview) -> list[tuple[str, str]]:
    """Split NUL-terminated `key=value` pairs; a missing final NUL is tolerated,
    empty strings between NULs (padding some initiators send) are skipped."""
    raw = bytes(data)
    out: list[tuple[str, str]] = []
    for item in raw.split(b"\0"):
        if not item:
            continue
        try:
            text = item.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise TextError(f"pair {item[:40]!r} is not UTF-8") from exc
        key, sep, value = text.partition("=")
        if not sep:
            raise TextError(f"pair {text[:40]!r} has no '='")
        if not _KEY.match(key):
            raise TextError(f"key {key[:70]!r} is not a valid key name")
        if len(value.encode()) > MAX_VALUE and key not in LONG_VALUES:
            raise TextError(f"value of {key} longer than {MAX_VALUE} bytes")
        out.append((key, value))
    return out


def encode_text(pairs: list[tuple[str, str]] | tuple[tuple[str, str], ...]) -> bytes:
    """Join pairs as `key=value\\0...`."""
    return b"".join(f"{k}={v}".encode() + b"\0" for k, v in pairs)
