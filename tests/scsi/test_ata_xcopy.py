"""ATA PASS-THROUGH taskfiles (LBA28/LBA48, TRIM, erase) and EXTENDED COPY segments."""

from __future__ import annotations

import pytest

from sgguard.scsi import cdb
from sgguard.scsi.ata import AtaAccess, ata_command, ata_effects, taskfile
from sgguard.scsi.cdb import LbaRange, decode, lba_ranges
from sgguard.scsi.model import Effect
from sgguard.scsi.xcopy import XcopyParameterError, parse_xcopy


def h(s: str) -> bytes:
    return bytes.fromhex(s.replace(" ", ""))


def test_ata16_identify_device_hdparm() -> None:
    # hdparm -I: ATA PASS-THROUGH (16), PIO data-in, T_DIR|BYT_BLOK|T_LENGTH=2, IDENTIFY (ECh)
    o = decode(h("85 08 0e 00 00 00 01 00 00 00 00 00 00 40 ec 00"))
    assert isinstance(o, cdb.AtaPassThrough16)
    tf = taskfile(o)
    assert ata_command(tf).name == "IDENTIFY DEVICE"
    assert lba_ranges(o) == ()
    assert ata_effects(o) == Effect.ATA_PASSTHROUGH


def test_ata16_read_dma_ext_lba48() -> None:
    # EXTEND=1: bytes 7-12 are LBA 31:24, 7:0, 39:32, 15:8, 47:40, 23:16; count 0x0010
    o = decode(h("85 0d 0e 00 00 00 10 01 06 02 05 03 04 40 25 00"))
    assert lba_ranges(o) == (LbaRange(0x0302_0104_0506, 0x10),)
    tf = taskfile(o)
    assert tf.lba == (0x01 << 24) | (0x02 << 32) | (0x03 << 40) | (0x06) | (0x05 << 8) | (
        0x04 << 16
    )


def test_ata12_write_sectors_lba28_uses_device_bits() -> None:
    # LBA 27:24 from DEVICE bits 3-0; COUNT 0 means 256 sectors
    o = decode(h("a1 0a 06 00 00 44 33 22 e1 30 00 00"))
    assert lba_ranges(o) == (LbaRange(0x1223344, 256),)
    assert ata_effects(o) & Effect.WRITES_MEDIA


def test_ata16_extend_zero_ignores_high_registers() -> None:
    o = decode(h("85 0c 0e 00 00 ff 02 ff 10 ff 00 ff 00 40 25 00"))
    assert lba_ranges(o) == (LbaRange(0x10, 2),)


def test_ata16_trim_ranges_from_data_out() -> None:
    o = decode(h("85 0d 06 00 01 00 01 00 00 00 00 00 00 40 06 00"))
    entry1 = (8 << 48 | 0x1000).to_bytes(8, "little")
    entry2 = (0x20 << 48 | 0x2000).to_bytes(8, "little")
    data = entry1 + entry2 + bytes(512 - 16)
    assert lba_ranges(o, data) == (LbaRange(0x1000, 8), LbaRange(0x2000, 0x20))
    assert lba_ranges(o) == (LbaRange(0, 0, True),)
    assert ata_command(taskfile(o)).access is AtaAccess.DSM


def test_ata16_security_erase_unit_whole_device() -> None:
    o = decode(h("85 0a 06 00 00 00 01 00 00 00 00 00 00 40 f4 00"))
    assert lba_ranges(o) == (LbaRange(0, 0, True),)
    assert ata_effects(o) & Effect.SECURITY and ata_effects(o) & Effect.ERASES


def test_ata16_download_microcode_is_firmware() -> None:
    o = decode(h("85 0a 06 00 07 00 01 00 00 00 00 00 00 40 92 00"))
    assert ata_effects(o) & Effect.FIRMWARE
    assert "DOWNLOAD MICROCODE" in ata_command(taskfile(o)).name


def test_ata16_smart_read_data_has_no_effect() -> None:
    o = decode(h("85 08 0e 00 d0 00 01 00 00 00 4f 00 c2 00 b0 00"))
    assert ata_command(taskfile(o)).name == "SMART READ DATA"
    assert ata_effects(o) == Effect.ATA_PASSTHROUGH


def test_ata16_ncq_count_in_features() -> None:
    o = decode(h("85 19 0e 00 08 00 00 00 00 00 00 00 00 40 61 00"))
    assert lba_ranges(o) == (LbaRange(0, 8),)


def test_ata32_lba48() -> None:
    raw = h("7f 00 00 00 00 00 00 18 1f f0 0d 0e 00 00") + (0x123456).to_bytes(6, "big")
    raw += h("00 00 00 04 40 25 00 00 00 00 00 00")
    o = decode(raw)
    assert isinstance(o, cdb.AtaPassThrough32)
    assert lba_ranges(o) == (LbaRange(0x123456, 4),)
    assert cdb.encode(o) == raw


def _cscd(block_len: int, ident: bytes) -> bytes:
    d = bytearray(32)
    d[0] = 0xE4
    d[1] = 0x00  # peripheral device type 0 (block)
    d[4] = 0x01  # code set binary
    d[5] = 0x03  # NAA
    d[7] = len(ident)
    d[8 : 8 + len(ident)] = ident
    d[29:32] = block_len.to_bytes(3, "big")
    return bytes(d)


def _b2b(src: int, dst: int, n: int, s_lba: int, d_lba: int) -> bytes:
    return (
        bytes([0x02, 0x00])
        + (0x18).to_bytes(2, "big")
        + src.to_bytes(2, "big")
        + dst.to_bytes(2, "big")
        + bytes(2)
        + n.to_bytes(2, "big")
        + s_lba.to_bytes(8, "big")
        + d_lba.to_bytes(8, "big")
    )


def test_xcopy_block_to_block_segment() -> None:
    cscds = _cscd(512, bytes(range(16))) + _cscd(512, bytes(range(1, 17)))
    seg = _b2b(0, 1, 16, 100, 5000)
    header = bytes([7, 0]) + len(cscds).to_bytes(2, "big") + bytes(4)
    header += len(seg).to_bytes(4, "big") + bytes(4)
    data = header + cscds + seg
    lst = parse_xcopy(data)
    assert [c.block_length for c in lst.cscds] == [512, 512]
    o = decode(h("83 00 00 00 00 00 00 00 00 00") + len(data).to_bytes(4, "big") + h("00 00"))
    assert lba_ranges(o, data) == (LbaRange(100, 16), LbaRange(5000, 16))
    assert lba_ranges(o) == (LbaRange(0, 0, True),)


def test_xcopy_block_sizes_differ() -> None:
    cscds = _cscd(512, b"a" * 8) + _cscd(4096, b"b" * 8)
    seg = _b2b(0, 1, 16, 0, 0)
    header = bytes([1, 0]) + len(cscds).to_bytes(2, "big") + bytes(4)
    header += len(seg).to_bytes(4, "big") + bytes(4)
    lst = parse_xcopy(header + cscds + seg)
    (s,) = lst.segments
    assert s.source_range == LbaRange(0, 16) and s.destination_range == LbaRange(0, 2)


def test_xcopy_truncated_list_is_parameter_error() -> None:
    with pytest.raises(XcopyParameterError):
        parse_xcopy(bytes([1, 0, 0, 32]) + bytes(12))


def test_xcopy_lid4_block_to_block() -> None:
    cscds = _cscd(512, b"a" * 8) + _cscd(512, b"b" * 8)
    seg = _b2b(0, 1, 4, 7, 9)
    header = bytearray(48)
    header[0] = 0x01
    header[2:4] = (0x20).to_bytes(2, "big")
    header[16] = 0xFF
    header[20:24] = (0x1234).to_bytes(4, "big")
    header[42:44] = len(cscds).to_bytes(2, "big")
    header[44:46] = len(seg).to_bytes(2, "big")
    data = bytes(header) + cscds + seg
    lst = parse_xcopy(data, lid4=True)
    assert lst.list_identifier == 0x1234
    o = decode(h("83 01 00 00 00 00 00 00 00 00") + len(data).to_bytes(4, "big") + h("00 00"))
    assert lba_ranges(o, data) == (LbaRange(7, 4), LbaRange(9, 4))


def test_ata_transfer_fields_identify() -> None:
    from sgguard.scsi.ata import transfer

    o = decode(h("85 08 0e 00 00 00 01 00 00 00 00 00 00 40 ec 00"))
    x = transfer(taskfile(o))
    assert (x.direction, x.length_field, x.length, x.unit) == ("in", "count", 1, "512-byte blocks")
