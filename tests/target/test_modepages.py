"""Mode pages in the style of libiscsi's test tool (test_modesense6_*, set_swp/clear_swp).

Drives `sgguard.target.modepages.ModePages` with raw MODE SENSE / MODE SELECT CDBs and
parameter lists, parsing the answers the way libiscsi's scsi_modesense_datain_unmarshall
does (SPC-5 6.11-6.14, 7.5; SBC-4 6.5).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sgguard.errors import InputError
from sgguard.target.api import Nexus, Status
from sgguard.target.modepages import MODE_PARAMETERS_CHANGED, PAGES, ModePages, ModeResult

NB, BS = 2048, 512
A = Nexus("iqn.2026-11.test:a,i,0x1", "tgt", 0)

EXPECT_INVALID_FIELD_IN_CDB = (0x05, 0x24, 0x00)
EXPECT_INVALID_FIELD_IN_PARAMETER_LIST = (0x05, 0x26, 0x00)
EXPECT_PARAMETER_LIST_LENGTH_ERROR = (0x05, 0x1A, 0x00)
EXPECT_SAVING_PARAMETERS_NOT_SUPPORTED = (0x05, 0x39, 0x00)

CURRENT, CHANGEABLE, DEFAULT, SAVED = range(4)


def sense6(
    modes: ModePages,
    page: int,
    subpage: int = 0,
    *,
    pc: int = CURRENT,
    dbd: bool = False,
    alloc: int = 255,
    num_blocks: int = NB,
    read_only: bool = False,
) -> ModeResult:
    cdb = bytes((0x1A, 0x08 if dbd else 0, (pc << 6) | page, subpage, alloc, 0))
    return modes.mode_sense(cdb, num_blocks=num_blocks, block_size=BS, read_only=read_only)


def sense10(
    modes: ModePages,
    page: int,
    subpage: int = 0,
    *,
    pc: int = CURRENT,
    dbd: bool = False,
    llbaa: bool = False,
    alloc: int = 4096,
    num_blocks: int = NB,
) -> ModeResult:
    b1 = (0x08 if dbd else 0) | (0x10 if llbaa else 0)
    cdb = bytes((0x5A, b1, (pc << 6) | page, subpage, 0, 0, 0)) + alloc.to_bytes(2, "big") + b"\0"
    return modes.mode_sense(cdb, num_blocks=num_blocks, block_size=BS)


def select6(
    modes: ModePages, params: bytes, *, pf: bool = True, sp: bool = False, plen: int | None = None
) -> ModeResult:
    n = len(params) if plen is None else plen
    cdb = bytes((0x15, (0x10 if pf else 0) | (0x01 if sp else 0), 0, 0, n, 0))
    return modes.mode_select(cdb, params, num_blocks=NB, block_size=BS)


def select10(modes: ModePages, params: bytes, *, pf: bool = True) -> ModeResult:
    cdb = bytes((0x55, 0x10 if pf else 0, 0, 0, 0, 0, 0)) + len(params).to_bytes(2, "big") + b"\0"
    return modes.mode_select(cdb, params, num_blocks=NB, block_size=BS)


@dataclass
class Parsed:
    mode_data_length: int
    medium_type: int
    device_specific: int
    longlba: bool
    block_descriptors: bytes
    pages: dict[tuple[int, int], bytes]
    order: list[tuple[int, int]]


def parse(data: bytes, ten: bool, ps: bool = False) -> Parsed:
    """The walk of libiscsi's scsi_modesense_datain_unmarshall, strict about lengths."""
    hlen = 8 if ten else 4
    assert len(data) >= hlen
    if ten:
        mdl, medium, dsp = int.from_bytes(data[0:2], "big"), data[2], data[3]
        longlba, bdl = bool(data[4] & 1), int.from_bytes(data[6:8], "big")
        assert mdl == len(data) - 2
    else:
        mdl, medium, dsp, longlba, bdl = data[0], data[1], data[2], False, data[3]
        assert mdl == len(data) - 1
    pos = hlen + bdl
    pages: dict[tuple[int, int], bytes] = {}
    order = []
    while pos < len(data):
        spf = bool(data[pos] & 0x40)
        assert bool(data[pos] & 0x80) == ps  # PS: savable only with a store
        page = data[pos] & 0x3F
        if spf:
            sub, length, hdr = data[pos + 1], int.from_bytes(data[pos + 2 : pos + 4], "big"), 4
        else:
            sub, length, hdr = 0, data[pos + 1], 2
        body = data[pos : pos + hdr + length]
        assert len(body) == hdr + length
        pages[(page, sub)] = body
        order.append((page, sub))
        pos += hdr + length
    return Parsed(mdl, medium, dsp, longlba, data[hlen : hlen + bdl], pages, order)


def expect_check(r: ModeResult, expected: tuple[int, int, int]) -> tuple[bool, int, int | None]:
    assert r.status is Status.CHECK_CONDITION, r
    assert r.error is not None
    assert (r.error.sense_key, r.error.asc, r.error.ascq) == expected, r.error
    f = r.error.field
    return (f.c_d, f.field_pointer, f.bit_pointer) if f is not None else (False, -1, None)


def control_fields(page: bytes) -> dict[str, int]:
    """libiscsi scsi_parse_mode_control."""
    p = page[2:]
    return {
        "tst": p[0] >> 5,
        "tmf_only": p[0] >> 4 & 1,
        "d_sense": p[0] >> 2 & 1,
        "gltsd": p[0] >> 1 & 1,
        "rlec": p[0] & 1,
        "qam": p[1] >> 4,
        "qerr": p[1] >> 1 & 3,
        "ua_intlck_ctrl": p[2] >> 4 & 3,
        "swp": p[2] >> 3 & 1,
        "tas": p[3] >> 6 & 1,
        "autoload": p[3] & 7,
        "busy_timeout": int.from_bytes(p[6:8], "big"),
    }


# -- MODE SENSE ------------------------------------------------------------------------------


def test_modesense6_all_pages() -> None:
    r = sense6(ModePages(), 0x3F)
    assert r.status is Status.GOOD
    p = parse(r.data_in, ten=False)
    assert p.mode_data_length >= 3
    assert p.order == [(0x01, 0), (0x08, 0), (0x0A, 0), (0x1C, 0)]
    assert p.medium_type == 0
    assert p.device_specific == 0x10  # DPOFUA, not write protected
    assert p.block_descriptors == NB.to_bytes(4, "big") + b"\0" + BS.to_bytes(3, "big")
    assert r.data_length == len(r.data_in)


def test_modesense6_all_pages_and_subpages() -> None:
    p = parse(sense6(ModePages(), 0x3F, 0xFF).data_in, ten=False)
    assert p.order == [(0x01, 0), (0x08, 0), (0x0A, 0), (0x0A, 1), (0x1C, 0)]
    ext = p.pages[(0x0A, 1)]
    assert ext[0] == 0x4A and ext[1] == 0x01 and int.from_bytes(ext[2:4], "big") == 0x1C


def test_modesense6_control() -> None:
    modes = ModePages()
    all_pages = parse(sense6(modes, 0x3F).data_in, ten=False).pages[(0x0A, 0)]
    direct = parse(sense6(modes, 0x0A).data_in, ten=False)
    assert direct.order == [(0x0A, 0)]
    assert direct.pages[(0x0A, 0)] == all_pages
    f = control_fields(all_pages)
    assert f["tst"] in (0, 1)
    assert f["qam"] in (0, 1) or f["qam"] > 7
    assert f["qerr"] != 2
    assert f["ua_intlck_ctrl"] != 1
    assert f["autoload"] <= 2
    assert f["busy_timeout"] != 0
    assert len(all_pages) == 12 and all_pages[1] == 0x0A


def test_modesense6_control_subpages() -> None:
    modes = ModePages()
    assert parse(sense6(modes, 0x0A, 0xFF).data_in, ten=False).order == [(0x0A, 0), (0x0A, 1)]
    assert parse(sense6(modes, 0x0A, 0x01).data_in, ten=False).order == [(0x0A, 1)]


@pytest.mark.parametrize(
    ("page", "length", "name"),
    [(0x01, 0x0A, "rw"), (0x08, 0x12, "caching"), (0x0A, 0x0A, "control"), (0x1C, 0x0A, "iec")],
)
def test_modesense6_every_page(page: int, length: int, name: str) -> None:
    p = parse(sense6(ModePages(), page, dbd=True).data_in, ten=False)
    assert p.block_descriptors == b""
    assert list(p.pages) == [(page, 0)]
    body = p.pages[(page, 0)]
    assert body[0] == page and body[1] == length


def test_modesense6_caching_defaults() -> None:
    body = parse(sense6(ModePages(), 0x08).data_in, ten=False).pages[(0x08, 0)]
    assert body[2] & 0x04 and not body[2] & 0x01  # WCE=1, RCD=0
    body = parse(sense6(ModePages(write_cache=False), 0x08).data_in, ten=False).pages[(0x08, 0)]
    assert not body[2] & 0x04


def test_modesense6_residuals() -> None:
    modes = ModePages()
    r = sense6(modes, 0x3F, alloc=4)
    assert r.status is Status.GOOD and len(r.data_in) == 4 and r.data_length == 4
    full = sense6(modes, 0x3F).data_in
    assert r.data_in == full[:4]
    assert r.data_in[0] == len(full) - 1  # MODE DATA LENGTH is not truncated
    assert sense6(modes, 0x3F, alloc=0).data_in == b""


def test_modesense10_header_and_truncation() -> None:
    modes = ModePages()
    r = sense10(modes, 0x3F, 0xFF)
    p = parse(r.data_in, ten=True)
    assert not p.longlba and len(p.block_descriptors) == 8
    assert p.device_specific == 0x10
    assert sense10(modes, 0x3F, 0xFF, alloc=5).data_in == r.data_in[:5]


def test_modesense10_llbaa_long_descriptor() -> None:
    big = (1 << 33) + 5
    r = sense10(ModePages(), 0x08, llbaa=True, num_blocks=big)
    p = parse(r.data_in, ten=True)
    assert p.longlba
    assert p.block_descriptors == big.to_bytes(8, "big") + bytes(4) + BS.to_bytes(4, "big")


def test_modesense_short_descriptor_saturates() -> None:
    big = (1 << 33) + 5
    for r, ten in (
        (sense6(ModePages(), 0x08, num_blocks=big), False),
        (sense10(ModePages(), 0x08, num_blocks=big), True),
    ):
        bd = parse(r.data_in, ten=ten).block_descriptors
        assert bd[0:4] == b"\xff\xff\xff\xff"


def test_modesense_dbd_wins_over_llbaa() -> None:
    p = parse(sense10(ModePages(), 0x08, dbd=True, llbaa=True).data_in, ten=True)
    assert p.block_descriptors == b"" and not p.longlba


def test_modesense_pc_changeable() -> None:
    modes = ModePages()
    p = parse(sense6(modes, 0x3F, 0xFF, pc=CHANGEABLE).data_in, ten=False)
    assert p.block_descriptors == bytes(8)
    assert p.pages[(0x08, 0)][2] == 0x05  # WCE, RCD
    assert p.pages[(0x0A, 0)][2] == 0x04 and p.pages[(0x0A, 0)][4] == 0x08  # D_SENSE, SWP
    assert p.pages[(0x0A, 0)][1] == 0x0A  # page header stays a header
    assert p.pages[(0x01, 0)][2:] == bytes(10)
    assert p.pages[(0x0A, 1)][4:] == bytes(28)
    assert p.pages[(0x1C, 0)][2:4] == b"\x08\x0f"


def test_modesense_pc_default_ignores_select() -> None:
    modes = ModePages()
    modes._current[(0x08, 0)][2] = 0  # as if MODE SELECT cleared WCE
    cur = parse(sense6(modes, 0x08).data_in, ten=False).pages[(0x08, 0)]
    default = parse(sense6(modes, 0x08, pc=DEFAULT).data_in, ten=False).pages[(0x08, 0)]
    assert cur[2] == 0 and default[2] == 0x04


def test_modesense_pc_saved_not_supported() -> None:
    r = sense6(ModePages(), 0x3F, pc=SAVED)
    assert expect_check(r, EXPECT_SAVING_PARAMETERS_NOT_SUPPORTED) == (True, 2, 7)


@pytest.mark.parametrize("page", [0x00, 0x02, 0x03, 0x05, 0x19, 0x1A, 0x3E])
def test_modesense_unsupported_page(page: int) -> None:
    assert expect_check(sense6(ModePages(), page), EXPECT_INVALID_FIELD_IN_CDB) == (True, 2, 5)


@pytest.mark.parametrize(
    ("page", "subpage"), [(0x08, 0x01), (0x0A, 0x02), (0x3F, 0x01), (0x1C, 0xFE)]
)
def test_modesense_unsupported_subpage(page: int, subpage: int) -> None:
    r = sense6(ModePages(), page, subpage)
    assert expect_check(r, EXPECT_INVALID_FIELD_IN_CDB) == (True, 3, 7)


def test_modesense_reserved_cdb_bits() -> None:
    modes = ModePages()
    r = modes.mode_sense(bytes((0x1A, 0x10, 0x3F, 0, 255, 0)), num_blocks=NB, block_size=BS)
    assert expect_check(r, EXPECT_INVALID_FIELD_IN_CDB) == (True, 1, 4)  # LLBAA is (10) only
    r = modes.mode_sense(
        bytes((0x5A, 0x01, 0x3F, 0, 0, 0, 0, 0, 255, 0)), num_blocks=NB, block_size=BS
    )
    assert expect_check(r, EXPECT_INVALID_FIELD_IN_CDB) == (True, 1, 0)


def test_modesense_wp_bit() -> None:
    modes = ModePages()
    assert parse(sense6(modes, 0x3F, read_only=True).data_in, ten=False).device_specific & 0x80
    assert not parse(sense6(modes, 0x3F).data_in, ten=False).device_specific & 0x80
    no_fua = ModePages(dpofua=False)
    assert parse(sense6(no_fua, 0x3F).data_in, ten=False).device_specific == 0


# -- MODE SELECT ------------------------------------------------------------------------------


def current_page(modes: ModePages, page: int, subpage: int = 0) -> bytearray:
    """What libiscsi's set_swp does: read the current page with DBD=1."""
    p = parse(sense6(modes, page, subpage, dbd=True).data_in, ten=False)
    return bytearray(p.pages[(page, subpage)])


def test_modeselect6_set_and_clear_swp() -> None:
    """libiscsi set_swp / clear_swp and test_modesense6_control_swp."""
    modes = ModePages()
    changeable = parse(sense6(modes, 0x0A, pc=CHANGEABLE, dbd=True).data_in, ten=False)
    assert control_fields(changeable.pages[(0x0A, 0)])["swp"] == 1
    page = current_page(modes, 0x0A)
    page[4] |= 0x08
    r = select6(modes, bytes(4) + page)
    assert r.status is Status.GOOD and r.parameters_changed and r.data_length == 16
    assert modes.swp and modes.write_protected()
    after = current_page(modes, 0x0A)
    assert control_fields(after)["swp"] == 1
    assert parse(sense6(modes, 0x3F).data_in, ten=False).device_specific & 0x80  # WP follows SWP
    after[4] &= ~0x08
    assert select6(modes, bytes(4) + after).parameters_changed
    assert not modes.swp and not modes.write_protected()


def test_modeselect6_caching_wce_rcd() -> None:
    modes = ModePages()
    page = current_page(modes, 0x08)
    page[2] = 0x01  # WCE=0, RCD=1
    assert select6(modes, bytes(4) + page).status is Status.GOOD
    assert not modes.wce and modes.rcd
    assert current_page(modes, 0x08)[2] == 0x01


def test_modeselect_d_sense_and_iec() -> None:
    modes = ModePages()
    control = current_page(modes, 0x0A)
    control[2] |= 0x04
    iec = current_page(modes, 0x1C)
    iec[2] &= ~0x08  # DEXCPT=0
    iec[3] = 0x04  # MRIE: generate unit attention
    iec[4:12] = (100).to_bytes(4, "big") + (3).to_bytes(4, "big")
    r = select10(modes, bytes(8) + control + iec)
    assert r.status is Status.GOOD and r.parameters_changed
    assert modes.d_sense and not modes.dexcpt and modes.mrie == 4
    assert modes.current(0x1C)[4:12] == iec[4:12]


def test_modeselect_same_values_change_nothing() -> None:
    modes = ModePages()
    r = select6(modes, bytes(4) + current_page(modes, 0x0A) + current_page(modes, 0x08))
    assert r.status is Status.GOOD and not r.parameters_changed


def test_modeselect_echo_of_mode_sense_is_accepted() -> None:
    """sdparm and libiscsi send back what MODE SENSE returned (PS cleared or not)."""
    modes = ModePages()
    data = bytearray(sense6(modes, 0x3F).data_in)
    data[0] = 0  # MODE DATA LENGTH is reserved in MODE SELECT
    r = select6(modes, bytes(data))
    assert r.status is Status.GOOD and not r.parameters_changed
    data10 = bytearray(sense10(modes, 0x3F, 0xFF, llbaa=True).data_in)
    data10[0:2] = b"\0\0"
    assert select10(modes, bytes(data10)).status is Status.GOOD


@pytest.mark.parametrize(
    ("page", "byte", "bit", "value"),
    [
        (0x0A, 2, 5, 0x20),  # TST=001b
        (0x0A, 3, 1, 0x02),  # QERR=01b
        (0x0A, 5, 6, 0x40),  # TAS
        (0x08, 2, 3, 0x08),  # SIZE
        (0x01, 2, 7, 0x80),  # AWRE
        (0x1C, 2, 2, 0x04),  # TEST
    ],
)
def test_modeselect_not_changeable_bit(page: int, byte: int, bit: int, value: int) -> None:
    modes = ModePages()
    body = current_page(modes, page)
    before = bytes(body)
    body[byte] |= value
    r = select6(modes, bytes(4) + body)
    assert expect_check(r, EXPECT_INVALID_FIELD_IN_PARAMETER_LIST) == (False, 4 + byte, bit)
    assert modes.current(page) == before


def test_modeselect_field_pointer_counts_block_descriptor() -> None:
    modes = ModePages()
    bd = NB.to_bytes(4, "big") + b"\0" + BS.to_bytes(3, "big")
    body = current_page(modes, 0x0A)
    body[5] |= 0x80  # ATO
    r = select6(modes, bytes((0, 0, 0, 8)) + bd + body)
    assert expect_check(r, EXPECT_INVALID_FIELD_IN_PARAMETER_LIST) == (False, 4 + 8 + 5, 7)


def test_modeselect_is_all_or_nothing() -> None:
    modes = ModePages()
    caching = current_page(modes, 0x08)
    caching[2] = 0x00
    control = current_page(modes, 0x0A)
    control[3] = 0x00  # QAM is not changeable
    r = select6(modes, bytes(4) + caching + control)
    assert expect_check(r, EXPECT_INVALID_FIELD_IN_PARAMETER_LIST)[1] == 4 + 20 + 3
    assert modes.wce  # the valid caching page was not applied either


def test_modeselect_page_length_mismatch() -> None:
    modes = ModePages()
    body = current_page(modes, 0x0A)
    body[1] = 0x08
    r = select6(modes, bytes(4) + body[:10])
    assert expect_check(r, EXPECT_INVALID_FIELD_IN_PARAMETER_LIST) == (False, 5, 7)


def test_modeselect_unsupported_page() -> None:
    modes = ModePages()
    r = select6(modes, bytes(4) + bytes((0x02, 0x0E)) + bytes(14))
    assert expect_check(r, EXPECT_INVALID_FIELD_IN_PARAMETER_LIST) == (False, 4, 5)
    r = select6(modes, bytes(4) + bytes((0x48, 0x00, 0x00, 0x12)) + bytes(18))  # SPF with subpage 0
    assert expect_check(r, EXPECT_INVALID_FIELD_IN_PARAMETER_LIST) == (False, 4, 5)


def test_modeselect_subpage_format_page() -> None:
    modes = ModePages()
    ext = current_page(modes, 0x0A, 0x01)
    assert select6(modes, bytes(4) + ext).status is Status.GOOD
    ext[4] = 0x01  # IALUAE is not changeable
    assert expect_check(select6(modes, bytes(4) + ext), EXPECT_INVALID_FIELD_IN_PARAMETER_LIST) == (
        False,
        8,
        0,
    )


def test_modeselect_page_sent_twice() -> None:
    modes = ModePages()
    body = current_page(modes, 0x08)
    r = select6(modes, bytes(4) + body + body)
    assert expect_check(r, EXPECT_INVALID_FIELD_IN_PARAMETER_LIST) == (False, 24, 5)


def test_modeselect_truncated_page() -> None:
    modes = ModePages()
    body = current_page(modes, 0x08)
    r = select6(modes, bytes(4) + body[:12])
    expect_check(r, EXPECT_PARAMETER_LIST_LENGTH_ERROR)
    r = select6(modes, bytes(4) + bytes((0x4A,)))  # sub_page header cut short
    expect_check(r, EXPECT_PARAMETER_LIST_LENGTH_ERROR)


def test_modeselect_lengths() -> None:
    modes = ModePages()
    r = select6(modes, b"", plen=0)
    assert r.status is Status.GOOD and not r.parameters_changed
    expect_check(select6(modes, bytes(3)), EXPECT_PARAMETER_LIST_LENGTH_ERROR)
    r = select6(modes, bytes(4), plen=12)  # fewer bytes arrived than announced
    expect_check(r, EXPECT_PARAMETER_LIST_LENGTH_ERROR)
    assert r.data_length == 12
    assert select6(modes, bytes(4)).status is Status.GOOD  # header only


def test_modeselect_sp_and_pf() -> None:
    modes = ModePages()
    body = bytes(4) + current_page(modes, 0x08)
    assert expect_check(select6(modes, body, sp=True), EXPECT_INVALID_FIELD_IN_CDB) == (True, 1, 0)
    assert expect_check(select6(modes, body, pf=False), EXPECT_INVALID_FIELD_IN_CDB) == (True, 1, 4)
    assert select6(modes, bytes(4), pf=False).status is Status.GOOD
    r = modes.mode_select(bytes((0x15, 0x12, 0, 0, 4, 0)), bytes(4), num_blocks=NB, block_size=BS)
    assert expect_check(r, EXPECT_INVALID_FIELD_IN_CDB) == (True, 1, 1)


def test_modeselect_block_descriptor() -> None:
    modes = ModePages()
    body = current_page(modes, 0x08)
    good = NB.to_bytes(4, "big") + b"\0" + BS.to_bytes(3, "big")
    assert select6(modes, bytes((0, 0, 0, 8)) + good + body).status is Status.GOOD
    zero_nb = bytes(4) + b"\0" + BS.to_bytes(3, "big")
    assert select6(modes, bytes((0, 0, 0, 8)) + zero_nb).status is Status.GOOD
    bad_nb = (NB + 1).to_bytes(4, "big") + b"\0" + BS.to_bytes(3, "big")
    r = select6(modes, bytes((0, 0, 0, 8)) + bad_nb)
    assert expect_check(r, EXPECT_INVALID_FIELD_IN_PARAMETER_LIST) == (False, 4, 7)
    bad_bs = NB.to_bytes(4, "big") + b"\0" + (4096).to_bytes(3, "big")
    r = select6(modes, bytes((0, 0, 0, 8)) + bad_bs)
    assert expect_check(r, EXPECT_INVALID_FIELD_IN_PARAMETER_LIST) == (False, 9, 7)
    r = select6(modes, bytes((0, 0, 0, 4)) + good[:4])
    assert expect_check(r, EXPECT_INVALID_FIELD_IN_PARAMETER_LIST) == (False, 3, 7)
    r = select6(modes, bytes((0, 0, 0, 8)) + good[:6], plen=10)
    expect_check(r, EXPECT_PARAMETER_LIST_LENGTH_ERROR)
    r = select6(modes, bytes((0, 5, 0, 0)))
    assert expect_check(r, EXPECT_INVALID_FIELD_IN_PARAMETER_LIST) == (False, 1, 7)


def test_modeselect10_long_descriptor() -> None:
    modes = ModePages()
    long_bd = NB.to_bytes(8, "big") + bytes(4) + BS.to_bytes(4, "big")
    header = bytes((0, 0, 0, 0, 0x01, 0, 0, 16))
    assert select10(modes, header + long_bd).status is Status.GOOD
    bad = (NB * 2).to_bytes(8, "big") + bytes(4) + BS.to_bytes(4, "big")
    r = select10(modes, header + bad)
    assert expect_check(r, EXPECT_INVALID_FIELD_IN_PARAMETER_LIST) == (False, 8, 7)
    r = select10(modes, bytes((0, 0, 0, 0, 0, 0, 0, 16)) + long_bd)  # LONGLBA=0: 8 bytes
    assert expect_check(r, EXPECT_INVALID_FIELD_IN_PARAMETER_LIST) == (False, 6, 7)


def test_modeselect_mrie_reserved_value() -> None:
    modes = ModePages()
    iec = current_page(modes, 0x1C)
    iec[3] = 0x07
    r = select6(modes, bytes(4) + iec)
    assert expect_check(r, EXPECT_INVALID_FIELD_IN_PARAMETER_LIST) == (False, 7, 3)
    assert modes.mrie == 0


def test_modeselect_ps_bit_ignored() -> None:
    modes = ModePages()
    body = current_page(modes, 0x08)
    body[0] |= 0x80
    body[2] = 0x00
    assert select6(modes, bytes(4) + body).status is Status.GOOD
    assert not current_page(modes, 0x08)[0] & 0x80


def test_modepages_reset() -> None:
    modes = ModePages()
    body = current_page(modes, 0x0A)
    body[4] |= 0x08
    select6(modes, bytes(4) + body)
    assert modes.swp
    modes.reset()
    assert not modes.swp and modes.wce


def test_expected_data_out() -> None:
    assert ModePages.expected_data_out(bytes((0x15, 0x10, 0, 0, 28, 0))) == 28
    assert ModePages.expected_data_out(bytes((0x55, 0x10, 0, 0, 0, 0, 0, 1, 4, 0))) == 260
    assert ModePages.expected_data_out(bytes((0x1A, 0, 0x3F, 0, 255, 0))) == 0


def test_page_table_consistent() -> None:
    for p in PAGES:
        hdr = 4 if p.subpage_format else 2
        assert len(p.default) == len(p.changeable)
        assert p.changeable[:hdr] == bytes(hdr)
        length = int.from_bytes(p.default[2:4], "big") if p.subpage_format else p.default[1]
        assert hdr + length == len(p.default)
        assert p.default[0] & 0x3F == p.page and bool(p.default[0] & 0x40) == p.subpage_format
        assert p.standard.startswith(("SPC-5", "SBC-4"))


# -- the LU adapter ---------------------------------------------------------------------------


class FakeBackend:
    block_size = BS
    num_blocks = NB


class FakeLU:
    def __init__(self) -> None:
        self.read_only = False
        self.descriptor_sense = False
        self.backend = FakeBackend()
        self.uas: list[tuple[tuple[int, int], Nexus | None]] = []

    def establish_unit_attention(
        self, asc: tuple[int, int], *, except_nexus: Nexus | None = None
    ) -> None:
        self.uas.append((asc, except_nexus))


def test_execute_adapter_d_sense_and_unit_attention() -> None:
    modes = ModePages()
    lu = FakeLU()
    resp = modes.execute(lu, bytes((0x1A, 0x08, 0x0A, 0, 255, 0)), b"", A)
    assert resp.status is Status.GOOD
    page = bytearray(resp.data_in[4:])
    page[2] |= 0x04
    params = bytes(4) + page
    resp = modes.execute(lu, bytes((0x15, 0x10, 0, 0, len(params), 0)), params, A)
    assert resp.status is Status.GOOD and resp.data_length == len(params)
    assert lu.descriptor_sense and lu.uas == [(MODE_PARAMETERS_CHANGED, A)]
    resp = modes.execute(lu, bytes((0x1A, 0, 0x3F, 0, 255, 0)), b"", A)
    lu.read_only = True
    assert modes.execute(lu, bytes((0x1A, 0, 0x3F, 0, 255, 0)), b"", A).data_in[2] & 0x80
    bad = modes.execute(lu, bytes((0x1A, 0, 0xC0 | 0x3F, 0, 255, 0)), b"", A)
    assert bad.status is Status.CHECK_CONDITION and bad.sense[0] == 0x72  # descriptor format
    assert bad.sense[1:4] == bytes((0x05, 0x39, 0x00))


# -- garbage in ------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=0, max_size=120), st.booleans(), st.booleans())
def test_modeselect_garbage_never_raises(data: bytes, ten: bool, pf: bool) -> None:
    modes = ModePages()
    before = {p.key: modes.current(p.page, p.subpage) for p in PAGES}
    r = select10(modes, data, pf=pf) if ten else select6(modes, data[:255], pf=pf)
    assert r.status in (Status.GOOD, Status.CHECK_CONDITION)
    if r.status is Status.CHECK_CONDITION:
        assert r.error is not None and not r.parameters_changed
        assert {p.key: modes.current(p.page, p.subpage) for p in PAGES} == before
    for p in PAGES:  # whatever was accepted only touched changeable bits
        cur = modes.current(p.page, p.subpage)
        for a, b, m in zip(cur, p.default, p.changeable, strict=True):
            assert (a ^ b) & ~m == 0


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([0x1A, 0x5A]), st.binary(min_size=9, max_size=9))
def test_modesense_random_cdbs_never_raise(op: int, rest: bytes) -> None:
    cdb = bytes((op,)) + rest
    r = ModePages().mode_sense(cdb, num_blocks=NB, block_size=BS)
    assert r.status in (Status.GOOD, Status.CHECK_CONDITION)
    if r.status is Status.GOOD:
        ten = op == 0x5A
        alloc = int.from_bytes(cdb[7:9], "big") if ten else cdb[4]
        assert len(r.data_in) <= alloc
        full = ModePages().mode_sense(
            cdb[:7] + b"\xff\xff" + cdb[9:] if ten else cdb[:4] + b"\xff" + cdb[5:],
            num_blocks=NB,
            block_size=BS,
        )
        parse(full.data_in, ten=ten)


# -- saved values (SP=1, PC=11b) with a store ------------------------------------------------


class MemoryStore:
    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def load(self) -> bytes | None:
        return self.writes[-1] if self.writes else None

    def store(self, data: bytes) -> None:
        self.writes.append(data)


def test_modeselect_sp_saves_and_restores() -> None:
    store = MemoryStore()
    modes = ModePages(store=store)
    assert modes.saving_supported
    saved = parse(sense6(modes, 0x3F, 0xFF, pc=SAVED).data_in, ten=False, ps=True)
    assert saved.pages[(0x08, 0)][2] & 0x04  # saved = defaults before any save
    page = bytearray(parse(sense6(modes, 0x08, dbd=True).data_in, ten=False, ps=True).pages[(8, 0)])
    page[2] = 0x00  # WCE=0
    r = select6(modes, bytes(4) + page)  # SP=0: current only
    assert r.persist is None and not modes.wce
    assert parse(sense6(modes, 0x08, pc=SAVED).data_in, ten=False, ps=True).pages[(8, 0)][2] == 4
    modes.reset()
    assert modes.wce  # back to the saved value
    r = select6(modes, bytes(4) + page, sp=True)
    assert r.status is Status.GOOD and r.persist is not None and not modes.wce
    assert parse(sense6(modes, 0x08, pc=SAVED).data_in, ten=False, ps=True).pages[(8, 0)][2] == 0
    modes.reset()
    assert not modes.wce  # the saved value survives a reset
    # "restart": a new instance from the stored bytes
    again = ModePages(saved=r.persist, where="mem")
    assert not again.wce and again.saving_supported
    assert again.current(0x0A) == ModePages().current(0x0A)


def test_modeselect_sp_with_zero_length_saves_current() -> None:
    modes = ModePages(store=MemoryStore())
    body = bytearray(modes.current(0x0A))
    body[4] |= 0x08
    select6(modes, bytes(4) + body)  # SWP=1, not saved
    r = select6(modes, b"", sp=True, plen=0)
    assert r.status is Status.GOOD and r.persist is not None
    assert json.loads(r.persist)["pages"]["0a/00"][8:10] == "08"


def test_modepages_open_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "lun0.modes.json"
    modes = ModePages.open(path)
    lu = FakeLU()
    page = bytearray(modes.current(0x08))
    page[2] = 0x01  # WCE=0, RCD=1
    params = bytes(4) + page
    resp = modes.execute(lu, bytes((0x15, 0x11, 0, 0, len(params), 0)), params, A)
    assert resp.status is Status.GOOD and path.exists()
    again = ModePages.open(path)
    assert not again.wce and again.rcd


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not JSON"),
        ('{"format": "x", "version": 1, "pages": {}}', "format"),
        ('{"format": "sgguard-mode-pages", "version": 2, "pages": {}}', "version"),
        ('{"format": "sgguard-mode-pages", "version": 1, "pages": []}', "pages"),
        ('{"format": "sgguard-mode-pages", "version": 1, "pages": {"02/00": ""}}', "02/00"),
        ('{"format": "sgguard-mode-pages", "version": 1, "pages": {"08/00": "0812"}}', "08/00"),
        ('{"format": "sgguard-mode-pages", "version": 1, "pages": {"08/00": "zz"}}', "08/00"),
    ],
)
def test_modepages_corrupt_saved_file_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "modes.json"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        ModePages.open(path)
    assert str(path) in str(info.value) and message in str(info.value)


def test_modepages_saved_file_with_unchangeable_bits_refused(tmp_path: Path) -> None:
    path = tmp_path / "modes.json"
    control = bytearray(ModePages().current(0x0A))
    control[3] = 0x00  # QAM is not changeable
    doc = {"format": "sgguard-mode-pages", "version": 1, "pages": {"0a/00": control.hex()}}
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match="not changeable"):
        ModePages.open(path)
    iec = bytearray(ModePages().current(0x1C))
    iec[3] = 0x09  # MRIE reserved
    doc["pages"] = {"1c/00": iec.hex()}
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match="MRIE"):
        ModePages.open(path)
