"""PDU codec: RFC vectors, hypothesis round trips for every opcode, garbage in."""

from __future__ import annotations

import random
import struct
from dataclasses import fields
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sgguard.iscsi import pdu as P
from sgguard.iscsi.pdu import (
    ALL_ONES,
    DataIn,
    LoginRequest,
    PduError,
    PduFramer,
    ScsiCommand,
    crc32c,
    decode_lun,
    decode_pdu,
    encode_header,
    encode_lun,
    encode_pdu,
)
from sgguard.iscsi.text import TextError, decode_text, encode_text

U32 = st.integers(0, 0xFFFFFFFF)
U16 = st.integers(0, 0xFFFF)
LUN = st.integers(0, 16383)
DATA = st.binary(max_size=300)


# --- independent vectors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "crc"),
    [
        # RFC 3720 B.4 CRC examples (byte order as transmitted, i.e. little-endian)
        (bytes(32), "aa36918a"),
        (b"\xff" * 32, "43aba862"),
        (bytes(range(32)), "4e79dd46"),
        (bytes(range(31, -1, -1)), "5cdb3f11"),
    ],
)
def test_crc32c_rfc3720_vectors(data: bytes, crc: str) -> None:
    assert crc32c(data).to_bytes(4, "little").hex() == crc


def test_scsi_command_bhs_layout_matches_rfc7143_11_3() -> None:
    cdb = bytes((0x28, 0, 0, 0, 0, 8, 0, 0, 1, 0))
    pdu = ScsiCommand(
        itt=0x11223344, cdb=cdb, lun=3, read=True, expected_length=512, cmdsn=7, exp_statsn=9
    )
    raw = encode_header(pdu)
    assert len(raw) == 48
    assert raw[0] == 0x01 and raw[1] == 0x80 | 0x40 | 0x01
    assert raw[4:8] == bytes(4)
    assert raw[8:16] == bytes((0, 3, 0, 0, 0, 0, 0, 0))
    assert raw[16:20] == bytes.fromhex("11223344")
    assert struct.unpack(">III", raw[20:32]) == (512, 7, 9)
    assert raw[32:48] == cdb + bytes(6)


def test_extended_cdb_ahs_for_32_byte_cdb() -> None:
    cdb = bytes(range(32))
    pdu = ScsiCommand(itt=1, cdb=cdb, read=True, write=True, bidi_read_length=4096)
    raw = encode_header(pdu)
    # 16 extra CDB bytes: AHSLength 17, type 1, reserved, 16 bytes (no pad); bidi AHS (8)
    assert raw[4] == (20 + 8) // 4
    assert raw[48:52] == bytes((0, 17, 1, 0))
    assert raw[52:68] == cdb[16:]
    assert raw[68:72] == bytes((0, 5, 2, 0))
    back = decode_pdu(raw)
    assert isinstance(back, ScsiCommand) and back.cdb == cdb and back.bidi_read_length == 4096


def test_login_request_fields() -> None:
    pdu = LoginRequest(
        itt=5, isid=bytes.fromhex("80123456789a"), transit=True, csg=1, nsg=3, tsih=0x42, cid=9
    )
    raw = encode_header(pdu)
    assert raw[0] == 0x43 and raw[1] == 0x87
    assert raw[8:14] == bytes.fromhex("80123456789a") and raw[14:16] == b"\x00\x42"
    assert raw[20:22] == b"\x00\x09"


@pytest.mark.parametrize("lun", [0, 1, 255, 256, 16383])
def test_lun_roundtrip(lun: int) -> None:
    assert decode_lun(int.from_bytes(encode_lun(lun), "big")) == lun


def test_lun_unknown_addressing_is_minus_one() -> None:
    assert decode_lun(int.from_bytes(bytes((0x80, 1, 0, 0, 0, 0, 0, 0)), "big")) == -1
    assert decode_lun(int.from_bytes(bytes((0, 1, 0, 1, 0, 0, 0, 0)), "big")) == -1


# --- round trips ---------------------------------------------------------------------------------


def _strategy_for(cls: type) -> st.SearchStrategy[Any]:
    kw: dict[str, st.SearchStrategy[Any]] = {}
    for f in fields(cls):
        name = f.name
        if name == "data":
            kw[name] = DATA
        elif name == "isid":
            kw[name] = st.binary(min_size=6, max_size=6)
        elif name == "lun":
            kw[name] = LUN
        elif name in (
            "tsih",
            "cid",
            "time2wait",
            "time2retain",
            "parameter1",
            "parameter2",
            "parameter3",
        ):
            kw[name] = U16
        elif name in ("csg", "nsg"):
            kw[name] = st.integers(0, 3)
        elif name in (
            "version_max",
            "version_min",
            "version_active",
            "status_class",
            "status_detail",
            "status",
            "response",
            "event",
            "vcode",
            "reason",
        ):
            kw[name] = st.integers(0, 127 if cls is P.LogoutRequest else 255)
        elif name == "function":
            kw[name] = st.integers(0, 127)
        elif name == "type":
            kw[name] = st.integers(0, 15)
        elif name == "attribute":
            kw[name] = st.integers(0, 7)
        elif name == "cdb":
            kw[name] = st.binary(min_size=16, max_size=260)
        elif name == "bidi_read_length":
            kw[name] = st.none()
        elif f.type in ("bool",):
            kw[name] = st.booleans()
        else:
            kw[name] = U32
    return st.builds(cls, **kw)


PDU_CLASSES = [
    P.NopOut,
    P.ScsiCommand,
    P.TaskManagementRequest,
    P.LoginRequest,
    P.TextRequest,
    P.DataOut,
    P.LogoutRequest,
    P.Snack,
    P.NopIn,
    P.ScsiResponse,
    P.TaskManagementResponse,
    P.LoginResponse,
    P.TextResponse,
    P.R2T,
    P.AsyncMessage,
    P.Reject,
]


def _normalize(pdu: Any) -> Any:
    d = {f.name: getattr(pdu, f.name) for f in fields(pdu)}
    if "data" in d:
        d["data"] = bytes(d["data"])
    return d


@pytest.mark.parametrize("cls", PDU_CLASSES, ids=lambda c: c.__name__)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_pdu_roundtrip(cls: type, data: st.DataObject) -> None:
    pdu = data.draw(_strategy_for(cls))
    digests = data.draw(st.tuples(st.booleans(), st.booleans()))
    wire = b"".join(
        bytes(b) for b in encode_pdu(pdu, header_digest=digests[0], data_digest=digests[1])
    )
    framer = PduFramer(max_data_segment=1 << 24, header_digest=digests[0], data_digest=digests[1])
    framer.feed(wire)
    frame = framer.next_frame()
    assert frame is not None and frame.data_digest_ok and framer.buffered == 0
    back = decode_pdu(frame.header, frame.data)
    assert _normalize(back) == _normalize(pdu)


@settings(max_examples=100, deadline=None)
@given(
    st.builds(
        DataIn,
        itt=U32,
        final=st.booleans(),
        status_present=st.booleans(),
        status=st.integers(0, 255),
        ttt=U32,
        statsn=U32,
        exp_cmdsn=U32,
        max_cmdsn=U32,
        datasn=U32,
        buffer_offset=U32,
        residual=U32,
        overflow=st.booleans(),
        underflow=st.booleans(),
        data=DATA,
    )
)
def test_data_in_roundtrip_status_only_when_s_bit(pdu: DataIn) -> None:
    back = decode_pdu(encode_header(pdu), bytes(pdu.data))
    assert isinstance(back, DataIn)
    assert back.status_present == pdu.status_present
    assert back.status == (pdu.status if pdu.status_present else 0)
    assert back.statsn == (pdu.statsn if pdu.status_present else 0)
    assert bytes(back.data) == bytes(pdu.data) and back.residual == pdu.residual


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.from_regex(r"[A-Za-z][A-Za-z0-9.:\-]{0,40}", fullmatch=True),
            st.text(
                st.characters(min_codepoint=32, max_codepoint=126, exclude_characters="\0"),
                max_size=100,
            ),
        ),
        max_size=10,
    )
)
def test_text_roundtrip(pairs: list[tuple[str, str]]) -> None:
    assert decode_text(encode_text(pairs)) == pairs


# --- garbage in -------------------------------------------------------------------------------------


def test_garbage_headers_decode_or_raise_pdu_error() -> None:
    rng = random.Random(7143)
    ok = 0
    for _ in range(20000):
        raw = bytearray(rng.randbytes(48))
        raw[4] = rng.choice((0, 0, 1, 5))
        raw[5:8] = bytes(3)
        header = bytes(raw) + rng.randbytes(raw[4] * 4)
        try:
            decode_pdu(header)
            ok += 1
        except PduError:
            pass
    assert ok > 1000


def test_text_garbage_raises_text_error() -> None:
    for bad in (
        b"novalue\0",
        b"=x\0",
        b"\xff\xfe=1\0",
        b"K" * 70 + b"=1\0",
        b"Key=" + b"v" * 300 + b"\0",
    ):
        with pytest.raises(TextError):
            decode_text(bad)


def test_framer_refuses_oversized_segment_before_buffering() -> None:
    framer = PduFramer(max_data_segment=8192)
    header = bytearray(encode_header(P.NopOut(itt=1)))
    header[5:8] = (1 << 24 - 1).to_bytes(3, "big")
    framer.feed(bytes(header))
    with pytest.raises(PduError):
        framer.next_frame()


def test_framer_reports_data_digest_mismatch() -> None:
    wire = bytearray(
        b"".join(bytes(b) for b in encode_pdu(P.NopOut(itt=1, data=b"abcd"), data_digest=True))
    )
    wire[-1] ^= 0xFF
    framer = PduFramer(data_digest=True)
    framer.feed(bytes(wire))
    frame = framer.next_frame()
    assert frame is not None and not frame.data_digest_ok


def test_framer_needs_the_whole_pdu() -> None:
    wire = b"".join(bytes(b) for b in encode_pdu(P.NopOut(itt=ALL_ONES, data=b"x" * 10)))
    framer = PduFramer()
    for i in range(len(wire) - 1):
        framer.feed(wire[i : i + 1])
        assert framer.next_frame() is None
    framer.feed(wire[-1:])
    assert framer.next_frame() is not None
