"""Independent CDB vectors: what sg3_utils, libiscsi and the Linux sd driver send."""

from __future__ import annotations

import pytest

from sgguard.scsi import cdb
from sgguard.scsi.cdb import CdbError, LbaRange, decode, encode, lba_ranges
from sgguard.scsi.model import DeviceType


def h(s: str) -> bytes:
    return bytes.fromhex(s.replace(" ", ""))


def test_inquiry_sg_inq_standard() -> None:
    # sg_inq /dev/sdX sends a 36-byte standard INQUIRY
    o = decode(h("12 00 00 00 24 00"))
    assert isinstance(o, cdb.Inquiry)
    assert o.evpd is False and o.page_code == 0 and o.allocation_length == 36


def test_inquiry_vpd_page_83() -> None:
    o = decode(h("12 01 83 00 fc 00"))
    assert isinstance(o, cdb.Inquiry)
    assert o.evpd and o.page_code == 0x83 and o.allocation_length == 0xFC


def test_read_capacity_16_sg_readcap_long() -> None:
    # sg_readcap -l: SERVICE ACTION IN (16) / READ CAPACITY (16), allocation length 32
    o = decode(h("9e 10 00 00 00 00 00 00 00 00 00 00 00 20 00 00"))
    assert isinstance(o, cdb.ReadCapacity16)
    assert o.allocation_length == 32 and o.service_action == 0x10


def test_read_10_linux_sd() -> None:
    o = decode(h("28 00 00 00 08 00 00 00 08 00"))
    assert isinstance(o, cdb.Read10)
    assert (o.lba, o.transfer_length, o.fua) == (2048, 8, False)
    assert lba_ranges(o) == (LbaRange(2048, 8),)


def test_write_16_fua_libiscsi() -> None:
    o = decode(h("8a 08 00 00 00 01 00 00 00 00 00 00 00 10 00 00"))
    assert isinstance(o, cdb.Write16)
    assert o.fua and o.lba == 1 << 32 and o.transfer_length == 16


def test_write_same_16_unmap_zero_blocks_runs_to_end() -> None:
    o = decode(h("93 08 00 00 00 00 00 00 10 00 00 00 00 00 00 00"))
    assert isinstance(o, cdb.WriteSame16)
    assert o.unmap and o.number_of_logical_blocks == 0
    assert lba_ranges(o) == (LbaRange(0x1000, 0, True),)


def test_unmap_parameter_list_ranges() -> None:
    o = decode(h("42 00 00 00 00 00 00 00 28 00"))
    data = (
        h("0026 0020 00000000")
        + h("0000000000000010 00000008 00000000")
        + h("0000000000001000 00000100 00000000")
    )
    assert lba_ranges(o, data) == (LbaRange(0x10, 8), LbaRange(0x1000, 0x100))
    assert lba_ranges(o) == (LbaRange(0, 0, True),)


def test_compare_and_write_range() -> None:
    o = decode(h("89 00 00 00 00 00 00 00 00 40 00 00 00 01 00 00"))
    assert isinstance(o, cdb.CompareAndWrite)
    assert lba_ranges(o) == (LbaRange(0x40, 1),)


def test_read_6_zero_means_256() -> None:
    o = decode(h("08 00 00 10 00 00"))
    assert lba_ranges(o) == (LbaRange(0x10, 256),)


def test_read_32_variable_length() -> None:
    raw = (
        h("7f 00 00 00 00 00 00 18 00 09 00 00") + (5).to_bytes(8, "big") + bytes(8) + h("00000004")
    )
    o = decode(raw)
    assert isinstance(o, cdb.Read32)
    assert (o.lba, o.transfer_length) == (5, 4)
    assert encode(o) == raw


def test_read_10_reserved_bit_is_field_error() -> None:
    with pytest.raises(CdbError) as ei:
        decode(h("28 00 00 00 00 00 80 00 01 00"))
    assert (ei.value.byte, ei.value.bit) == (6, 7)


def test_read_10_truncated() -> None:
    with pytest.raises(CdbError) as ei:
        decode(h("28 00 00 00"))
    assert "truncated" in str(ei.value)


def test_encode_refuses_oversized_lba() -> None:
    with pytest.raises(CdbError) as ei:
        encode(cdb.Read10(lba=1 << 32, transfer_length=1))
    assert ei.value.field == "lba" and ei.value.byte == 2


def test_mmc_read_sub_channel_is_not_unmap() -> None:
    o = decode(h("42 00 00 00 00 00 00 00 18 00"), DeviceType.SBC)
    assert isinstance(o, cdb.Unmap)


def test_get_lba_status_returned_descriptors() -> None:
    # sg_get_lba_status: 9Eh/12h with starting LBA 0, allocation length 1024
    o = decode(h("9e 12 00 00 00 00 00 00 00 00 00 00 04 00 00 00"))
    assert isinstance(o, cdb.GetLbaStatus16) and o.allocation_length == 1024
    assert lba_ranges(o) == (LbaRange(0, 0, True),)
    data = h("00 00 00 24 00 00 00 00")
    data += h("0000000000000000 00000100 00 00 0000")
    data += h("0000000000000100 00000f00 01 00 0000")
    st = cdb.lba_status_descriptors(data)
    assert [(s.lba, s.blocks, s.provisioning_status) for s in st] == [(0, 256, 0), (256, 0xF00, 1)]


def test_orwrite_16_fua_nv_libiscsi() -> None:
    o = decode(h("8b 0a 00 00 00 00 00 00 00 10 00 00 00 08 00 00"))
    assert isinstance(o, cdb.OrWrite16) and o.fua and o.fua_nv
    assert lba_ranges(o) == (LbaRange(0x10, 8),)


def test_sanitize_overwrite_sg_sanitize_immed_ause() -> None:
    o = decode(h("48 a1 00 00 00 00 00 00 0c 00"))
    assert isinstance(o, cdb.Sanitize)
    assert o.immed and o.ause and not o.znr and o.service_action == 1
    assert lba_ranges(o) == (LbaRange(0, 0, True),)


def test_sync_cache_10_sg_sync_whole_medium() -> None:
    o = decode(h("35 00 00 00 00 00 00 00 00 00"))
    assert lba_ranges(o) == (LbaRange(0, 0, True),)


def test_report_zones_partial_and_options() -> None:
    o = decode(h("95 00 00 00 00 00 00 00 00 00 00 00 10 00 81 00"))
    assert isinstance(o, cdb.ZbcIn) and o.partial and o.reporting_options == 1
