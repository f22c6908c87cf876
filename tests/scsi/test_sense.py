"""Sense data codec: fixed and descriptor formats, field pointers, ASC/ASCQ names."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sgguard.scsi.cdb import CdbError, decode
from sgguard.scsi.sense import (
    Asc,
    FieldPointer,
    SenseError,
    SenseKey,
    asc_name,
    build_descriptor,
    build_fixed,
    decode_sense,
    sense_for_cdb_error,
)


def test_sense_fixed_invalid_field_in_cdb_with_field_pointer() -> None:
    raw = build_fixed(
        SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_CDB, field_pointer=FieldPointer(True, 1, 4)
    )
    # SPC-5 4.4.3: 70h, key 5, additional length 10, ASC 24h, SKSV|C/D|BPV|bit 4, pointer 0001h
    assert raw == bytes.fromhex("70 00 05 00000000 0a 00000000 24 00 00 cc 00 01")
    s = decode_sense(raw)
    assert s.key is SenseKey.ILLEGAL_REQUEST and (s.asc, s.ascq) == (0x24, 0)
    assert s.field_pointer == FieldPointer(True, 1, 4)


def test_sense_fixed_information_lba_out_of_range() -> None:
    raw = build_fixed(
        SenseKey.ILLEGAL_REQUEST, Asc.LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE, information=0x1000
    )
    assert raw[0] == 0xF0  # VALID set
    s = decode_sense(raw)
    assert s.information == 0x1000 and s.asc_text == "LOGICAL BLOCK ADDRESS OUT OF RANGE"


def test_sense_fixed_information_too_wide_is_refused() -> None:
    with pytest.raises(ValueError):
        build_fixed(SenseKey.MEDIUM_ERROR, 0x11, 0, information=1 << 32)


def test_sense_descriptor_64bit_information_and_sks() -> None:
    raw = build_descriptor(
        SenseKey.ILLEGAL_REQUEST,
        Asc.INVALID_FIELD_IN_PARAMETER_LIST,
        information=1 << 40,
        field_pointer=FieldPointer(False, 9, None),
    )
    assert raw[:4] == bytes.fromhex("72 05 26 00") and raw[7] == len(raw) - 8
    s = decode_sense(raw)
    assert s.descriptor_format and s.information == 1 << 40
    assert s.field_pointer == FieldPointer(False, 9, None)


def test_sense_linux_kernel_unit_attention_fixed() -> None:
    # a typical capture: UNIT ATTENTION, POWER ON, RESET, OR BUS DEVICE RESET OCCURRED
    s = decode_sense(bytes.fromhex("70 00 06 00 00 00 00 0a 00 00 00 00 29 00 00 00 00 00"))
    assert s.key is SenseKey.UNIT_ATTENTION
    assert s.asc_text == "POWER ON, RESET, OR BUS DEVICE RESET OCCURRED"


def test_sense_ata_status_return_descriptor() -> None:
    # SAT-4 12.2.7: descriptor 09h, 12 bytes; LBA 0x112233445566 split over the registers
    desc = bytes.fromhex("09 0c 01 00 00 01 22 66 33 55 44 44 a0 50")
    raw = bytes.fromhex("72 00 00 1d 00 00 00 0e") + desc
    s = decode_sense(raw)
    assert s.ata_status is not None
    assert s.ata_status.status == 0x50 and s.ata_status.count == 1


def test_sense_asc_ranges_name_the_component() -> None:
    assert asc_name(0x40, 0x85) == "DIAGNOSTIC FAILURE ON COMPONENT 85h"
    assert asc_name(0x24, 0x00) == "INVALID FIELD IN CDB"
    assert asc_name(0x20, 0x00) == Asc.INVALID_COMMAND_OPERATION_CODE.text
    assert "VENDOR SPECIFIC" in asc_name(0x80, 0x01)


def test_sense_table_is_large() -> None:
    assert len(Asc) > 500


def test_sense_for_cdb_error_points_at_the_field() -> None:
    with pytest.raises(CdbError) as ei:
        decode(bytes.fromhex("28 00 00 00 00 00 40 00 01 00"))
    s = decode_sense(sense_for_cdb_error(ei.value))
    assert s.key is SenseKey.ILLEGAL_REQUEST and s.asc == 0x24
    assert s.field_pointer == FieldPointer(True, 6, 6)


def test_sense_bad_response_code() -> None:
    with pytest.raises(SenseError):
        decode_sense(bytes.fromhex("7f 00 00"))


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(list(SenseKey)),
    st.integers(0, 255),
    st.integers(0, 255),
    st.none() | st.integers(0, 0xFFFFFFFF),
    st.none() | st.tuples(st.booleans(), st.integers(0, 0xFFFF), st.none() | st.integers(0, 7)),
    st.booleans(),
)
def test_sense_roundtrip_both_formats(
    key: SenseKey,
    asc: int,
    ascq: int,
    info: int | None,
    fp: tuple[bool, int, int | None] | None,
    deferred: bool,
) -> None:
    pointer = FieldPointer(*fp) if fp else None
    for build in (build_fixed, build_descriptor):
        s = decode_sense(
            build(key, asc, ascq, information=info, field_pointer=pointer, deferred=deferred)
        )
        assert (s.key, s.asc, s.ascq, s.information, s.deferred) == (key, asc, ascq, info, deferred)
        if pointer is not None and key is SenseKey.ILLEGAL_REQUEST:
            assert s.field_pointer == pointer


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_sense_garbage_decodes_or_raises_sense_error(raw: bytes) -> None:
    try:
        s = decode_sense(raw)
    except SenseError:
        return
    assert s.describe()


def test_sense_cdb_error_helper_parameter_list() -> None:
    from sgguard.scsi import cdb

    o = cdb.decode(bytes.fromhex("42 00 00 00 00 00 00 00 28 00"))
    with pytest.raises(cdb.ParameterListError) as ei:
        cdb.lba_ranges(o, bytes.fromhex("0026 0021 00000000"))
    s = decode_sense(ei.value.sense(descriptor=True))
    assert s.asc == 0x26 and s.field_pointer == FieldPointer(False, 2, 7)


def test_sense_report_luns_reserved_select_report_is_invalid_field() -> None:
    with pytest.raises(CdbError) as ei:
        decode(bytes.fromhex("a0 00 05 00 00 00 00 00 10 00 00 00"))
    assert ei.value.field == "select_report" and ei.value.byte == 2
    assert decode_sense(ei.value.sense()).field_pointer == FieldPointer(True, 2, 7)
