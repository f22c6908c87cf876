"""CHAP for iSCSI login: MD5 challenge/response, one-way and mutual (RFC 7143 12.1.3, RFC 1994).

Owns the CHAP arithmetic (response = MD5(identifier || secret || challenge)),
the encoding of binary values (`0x` hex or `0b` base64, RFC 7143 6.1) and the
target side of the exchange: pick CHAP_A=5, issue CHAP_I/CHAP_C, verify
CHAP_N/CHAP_R, and answer the initiator's own challenge for mutual CHAP.
Random challenges come from a caller-supplied source so tests are deterministic.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "ChapCredentials",
    "ChapError",
    "ChapTarget",
    "chap_response",
    "decode_binary",
    "encode_binary",
]

CHAP_MD5 = 5


class ChapError(ValueError):
    """Authentication fails; the message says why (for the log, never the wire)."""


@dataclass(frozen=True, slots=True)
class ChapCredentials:
    user: str
    secret: str


def chap_response(identifier: int, secret: bytes, challenge: bytes) -> bytes:
    """RFC 1994 4.1: MD5 over the identifier octet, the secret and the challenge."""
    return hashlib.md5(bytes((identifier & 0xFF,)) + secret + challenge).digest()


def decode_binary(value: str) -> bytes:
    """RFC 7143 6.1 binary-value: `0x` hex or `0b` base64."""
    try:
        if value[:2] in ("0x", "0X"):
            digits = value[2:]
            if len(digits) % 2:
                digits = "0" + digits
            return binascii.unhexlify(digits)
        if value[:2] in ("0b", "0B"):
            return base64.b64decode(value[2:], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ChapError(f"bad binary value {value[:20]!r}") from exc
    raise ChapError(f"binary value {value[:20]!r} lacks 0x or 0b")


def encode_binary(data: bytes) -> str:
    return "0x" + data.hex()


class ChapTarget:
    """The target's half of one CHAP exchange."""

    def __init__(
        self,
        credentials: ChapCredentials,
        mutual: ChapCredentials | None,
        random_bytes: Callable[[int], bytes],
    ) -> None:
        self.credentials = credentials
        self.mutual = mutual
        self.random_bytes = random_bytes
        self.identifier = -1
        self.challenge = b""
        self.done = False

    def select_algorithm(self, offered: str) -> list[tuple[str, str]]:
        """Answer CHAP_A: algorithm 5 (MD5) and our challenge."""
        try:
            algorithms = [int(a) for a in offered.split(",")]
        except ValueError as exc:
            raise ChapError(f"CHAP_A={offered[:40]!r} is not a list of numbers") from exc
        if CHAP_MD5 not in algorithms:
            raise ChapError(f"CHAP_A={offered[:40]} lacks MD5 (5)")
        self.identifier = self.random_bytes(1)[0]
        self.challenge = self.random_bytes(16)
        return [
            ("CHAP_A", str(CHAP_MD5)),
            ("CHAP_I", str(self.identifier)),
            ("CHAP_C", encode_binary(self.challenge)),
        ]

    def verify(self, keys: dict[str, str]) -> list[tuple[str, str]]:
        """Check CHAP_N/CHAP_R; answer CHAP_I/CHAP_C (mutual) with our CHAP_N/CHAP_R."""
        if self.identifier < 0:
            raise ChapError("CHAP_R before CHAP_A")
        name = keys.get("CHAP_N")
        response = keys.get("CHAP_R")
        if name is None or response is None:
            raise ChapError("CHAP_N or CHAP_R missing")
        if name != self.credentials.user:
            raise ChapError(f"CHAP_N {name!r} is not the configured user")
        expected = chap_response(self.identifier, self.credentials.secret.encode(), self.challenge)
        if not hmac.compare_digest(decode_binary(response), expected):
            raise ChapError(f"CHAP_R of user {name!r} does not match the secret")
        out: list[tuple[str, str]] = []
        if "CHAP_I" in keys or "CHAP_C" in keys:
            if self.mutual is None:
                raise ChapError("initiator asks for mutual CHAP, none configured")
            try:
                ident = int(keys["CHAP_I"])
            except (KeyError, ValueError) as exc:
                raise ChapError("mutual CHAP_I missing or not a number") from exc
            if not 0 <= ident <= 255:
                raise ChapError(f"mutual CHAP_I={ident} out of range")
            challenge = decode_binary(keys.get("CHAP_C", ""))
            if challenge == self.challenge:
                raise ChapError("initiator reflected our own challenge")
            if not challenge:
                raise ChapError("empty mutual challenge")
            out = [
                ("CHAP_N", self.mutual.user),
                (
                    "CHAP_R",
                    encode_binary(chap_response(ident, self.mutual.secret.encode(), challenge)),
                ),
            ]
        self.done = True
        return out
