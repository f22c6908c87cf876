"""Mode pages of one logical unit: MODE SENSE (6)/(10) and MODE SELECT (6)/(10).

Owns the per-LU mode parameter store (SPC-5 6.11 MODE SELECT (6), 6.12 MODE SELECT (10),
6.13 MODE SENSE (6), 6.14 MODE SENSE (10), 7.5 mode parameters; SBC-4 6.5 mode
parameters for direct-access block devices): the pages, their default, current and
changeable values, the mode parameter header with the WP and DPOFUA bits of the
device-specific parameter, and the short and long LBA block descriptors.

Pages (one table row each, `PAGES`):
    0x01      Read-Write Error Recovery   (SBC-4 6.5.10)  nothing changeable
    0x08      Caching                     (SBC-4 6.5.5)   WCE, RCD changeable
    0x0A      Control                     (SPC-5 7.5.9)   D_SENSE, SWP changeable
    0x0A/0x01 Control Extension           (SPC-5 7.5.10)  nothing changeable
    0x1C      Informational Exceptions    (SPC-5 7.5.14)  DEXCPT, MRIE, INTERVAL
                                                          TIMER, REPORT COUNT changeable
Saved values exist only when the LU gives a store (`ModePages.open(path)` or
`store=`): then every page has PS=1, MODE SENSE with PC=11b returns the saved values,
MODE SELECT with SP=1 saves every page's current value (the result's `persist` bytes,
written atomically by the same shell as APTPL state) and a reset reverts to them.
Without a store: PC=11b gives SAVING PARAMETERS NOT SUPPORTED, SP=1 gives INVALID
FIELD IN CDB, PS is 0. A corrupt saved-pages file is refused (InputError naming it).

API summary for `sgguard.target.lu` (one `ModePages` per logical unit)
---------------------------------------------------------------------
    modes = ModePages(write_cache=True, dpofua=True)        # no saved values
    modes = ModePages.open(path)      # saved values in `path` (InputError if corrupt)
    r = modes.mode_sense(cdb, num_blocks=n, block_size=bs, read_only=ro)   # 0x1A / 0x5A
    r = modes.mode_select(cdb, data_out, num_blocks=n, block_size=bs)      # 0x15 / 0x55
    r.response(descriptor_sense=modes.d_sense) -> sgguard.target.api.Response
    r.parameters_changed: establish MODE PARAMETERS CHANGED (2Ah/01h) on every OTHER
        I_T nexus (`MODE_PARAMETERS_CHANGED`); d_sense may have changed too
    modes.expected_data_out(cdb) -> int       # parameter list length of a MODE SELECT
    modes.wce / .rcd / .d_sense / .swp / .dexcpt / .mrie   # what the LU obeys
    modes.write_protected(read_only) -> bool  # WP: read-only slice or SWP=1
    modes.reset()                     # power on / hard reset: back to saved or defaults
    modes.execute(lu, cdb, data_out, nexus)   # adapter for LogicalUnit's delegate call
        # (writes r.persist through modes.store, sets lu.descriptor_sense, and calls
        #  lu.establish_unit_attention(MODE_PARAMETERS_CHANGED, except_nexus=nexus))

The LU obeys: WCE=0 means every write is durable before GOOD (as with FUA); D_SENSE=1
means descriptor-format sense data; SWP=1 means media writes fail with DATA PROTECT,
WRITE PROTECTED (27h/00h) while reads work (libiscsi test_modesense6_control_swp).
`ModeResult.data_in` is already clipped to the ALLOCATION LENGTH and `data_length`
equals its length (a short ALLOCATION LENGTH is no overflow: libiscsi
test_modesense6_residuals).

Leniency: MODE SELECT ignores the reserved MODE DATA LENGTH, the WP/DPOFUA bits of the
device-specific parameter and the PS bit of each page, because sdparm and libiscsi echo
what MODE SENSE returned; everything else is checked against the changeable mask.
"""

from __future__ import annotations

import enum
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sgguard.errors import InputError
from sgguard.scsi.sense import Asc, FieldPointer, SenseKey
from sgguard.target.api import Nexus, Response, Status
from sgguard.target.reservations import AptplFile, AptplStore, CheckCondition

__all__ = [
    "MODE_PARAMETERS_CHANGED",
    "PAGES",
    "ModePages",
    "ModeResult",
    "PageControl",
    "PageDef",
]

OP_MODE_SELECT_6 = 0x15
OP_MODE_SENSE_6 = 0x1A
OP_MODE_SELECT_10 = 0x55
OP_MODE_SENSE_10 = 0x5A

ALL_PAGES = 0x3F
ALL_SUBPAGES = 0xFF

INVALID_FIELD_IN_CDB = Asc.INVALID_FIELD_IN_CDB.value
INVALID_FIELD_IN_PARAMETER_LIST = Asc.INVALID_FIELD_IN_PARAMETER_LIST.value
PARAMETER_LIST_LENGTH_ERROR = Asc.PARAMETER_LIST_LENGTH_ERROR.value
SAVING_PARAMETERS_NOT_SUPPORTED = Asc.SAVING_PARAMETERS_NOT_SUPPORTED.value
MODE_PARAMETERS_CHANGED: tuple[int, int] = Asc.MODE_PARAMETERS_CHANGED.value

SAVED_FORMAT = "sgguard-mode-pages"
SAVED_VERSION = 1

ParameterStore = AptplStore  # load() -> bytes | None, store(bytes): the same atomic file shell

WP = 0x80  # device-specific parameter (SBC-4 6.5.1): write protected
DPOFUA = 0x10  # device-specific parameter: DPO and FUA supported


class PageControl(enum.IntEnum):
    """The PC field of MODE SENSE (SPC-5 6.13.2)."""

    CURRENT = 0
    CHANGEABLE = 1
    DEFAULT = 2
    SAVED = 3


Validator = Callable[[bytes], "tuple[int, int, str] | None"]


@dataclass(frozen=True, slots=True)
class PageDef:
    """One mode page: its default bytes (the whole page, header included) and changeable mask.

    `validate` checks a candidate page's values (only fields that are changeable can
    differ from the current value); it returns (byte, bit, reason) of a bad field.
    """

    page: int
    subpage: int
    name: str
    standard: str
    default: bytes
    changeable: bytes
    validate: Validator | None = None

    @property
    def key(self) -> tuple[int, int]:
        return (self.page, self.subpage)

    @property
    def subpage_format(self) -> bool:
        return self.subpage != 0


def _page0(page: int, params: bytes) -> bytes:
    """A page_0 format page (SPC-5 7.5.7): PAGE CODE, PAGE LENGTH, parameters."""
    return bytes((page, len(params))) + params


def _sub_page(page: int, subpage: int, params: bytes) -> bytes:
    """A sub_page format page: SPF=1, PAGE CODE, SUBPAGE CODE, PAGE LENGTH (2 bytes)."""
    return bytes((0x40 | page, subpage)) + len(params).to_bytes(2, "big") + params


def _mask(length: int, changeable: dict[int, int] | None = None) -> bytes:
    """A changeable mask of `length` bytes: {byte offset: changeable bits}."""
    out = bytearray(length)
    for offset, bits in (changeable or {}).items():
        out[offset] = bits
    return bytes(out)


def _validate_iec(page: bytes) -> tuple[int, int, str] | None:
    mrie = page[3] & 0x0F
    if mrie > 6:
        return (3, 3, f"MRIE {mrie:#x} is reserved or vendor specific")
    return None


def _build_pages(write_cache: bool) -> tuple[PageDef, ...]:
    rw_error_recovery = _page0(0x01, bytes(10))
    caching = bytearray(_page0(0x08, bytes(18)))
    caching[2] = 0x04 if write_cache else 0x00  # WCE
    control = bytearray(_page0(0x0A, bytes(10)))
    control[2] = 0x02  # TST=000b (one task set), GLTSD=1 (no log parameters are saved)
    control[3] = 0x10  # QUEUE ALGORITHM MODIFIER=1 (unrestricted reordering), QERR=00b
    control[8:10] = (0xFFFF).to_bytes(2, "big")  # BUSY TIMEOUT PERIOD: unlimited
    control_ext = _sub_page(0x0A, 0x01, bytes(28))
    iec = bytearray(_page0(0x1C, bytes(10)))
    iec[2] = 0x08  # DEXCPT=1: informational exception operations disabled
    iec_changeable = {2: 0x08, 3: 0x0F} | {i: 0xFF for i in range(4, 12)}
    return (
        PageDef(
            0x01, 0x00, "Read-Write Error Recovery", "SBC-4 6.5.10", rw_error_recovery, _mask(12)
        ),
        PageDef(0x08, 0x00, "Caching", "SBC-4 6.5.5", bytes(caching), _mask(20, {2: 0x05})),
        PageDef(
            0x0A, 0x00, "Control", "SPC-5 7.5.9", bytes(control), _mask(12, {2: 0x04, 4: 0x08})
        ),
        PageDef(0x0A, 0x01, "Control Extension", "SPC-5 7.5.10", control_ext, _mask(32)),
        PageDef(
            0x1C,
            0x00,
            "Informational Exceptions Control",
            "SPC-5 7.5.14",
            bytes(iec),
            _mask(12, iec_changeable),
            _validate_iec,
        ),
    )


PAGES: tuple[PageDef, ...] = _build_pages(write_cache=True)


@dataclass(frozen=True, slots=True)
class ModeResult:
    """The outcome of MODE SENSE or MODE SELECT, for the LU to turn into a `Response`."""

    status: Status = Status.GOOD
    data_in: bytes = b""
    data_length: int = 0
    error: CheckCondition | None = None
    parameters_changed: bool = False
    persist: bytes | None = None  # SP=1: the new saved values, for `ParameterStore.store`

    def response(self, descriptor_sense: bool = False) -> Response:
        sense = self.error.sense(descriptor_sense) if self.error is not None else b""
        return Response(self.status, self.data_in, sense, self.data_length)


def _illegal(
    asc_ascq: tuple[int, int], reason: str, *, cdb: bool, byte: int, bit: int | None
) -> ModeResult:
    return ModeResult(
        Status.CHECK_CONDITION,
        error=CheckCondition(
            SenseKey.ILLEGAL_REQUEST, asc_ascq[0], asc_ascq[1], FieldPointer(cdb, byte, bit), reason
        ),
    )


def _top_bit(value: int) -> int:
    return value.bit_length() - 1


class LogicalUnitHooks(Protocol):
    """What `ModePages.execute` needs of the logical unit (sgguard.target.lu.LogicalUnit)."""

    read_only: bool
    descriptor_sense: bool

    @property
    def backend(self) -> _BackendFacts: ...

    def establish_unit_attention(
        self, asc: tuple[int, int], *, except_nexus: Nexus | None = None
    ) -> None: ...


class _BackendFacts(Protocol):
    @property
    def block_size(self) -> int: ...

    @property
    def num_blocks(self) -> int: ...


class ModePages:
    """The mode parameters of one logical unit (current values; defaults; changeable masks).

    Not thread-safe: the LU serializes MODE SELECT against everything that reads
    the parameters (or accepts a momentarily stale value; every field is a byte).
    """

    def __init__(
        self,
        *,
        write_cache: bool = True,
        dpofua: bool = True,
        store: ParameterStore | None = None,
        saved: bytes | None = None,
        where: str = "saved mode pages",
    ) -> None:
        pages = _build_pages(write_cache)
        self.pages: dict[tuple[int, int], PageDef] = {p.key: p for p in pages}
        self.dpofua = dpofua
        self.store = store
        self._saved: dict[tuple[int, int], bytes] | None = None
        if store is not None or saved is not None:
            self._saved = {k: p.default for k, p in self.pages.items()}
            if saved is not None:
                self._saved.update(self._parse_saved(saved, where))
        self._current: dict[tuple[int, int], bytearray] = {}
        self.reset()

    @classmethod
    def open(
        cls, path: str | os.PathLike[str], *, write_cache: bool = True, dpofua: bool = True
    ) -> ModePages:
        """Mode pages whose saved values live in `path` (created on the first SP=1 save).

        Raises `InputError` naming the file when it is unreadable or corrupt.
        """
        store = AptplFile(path)
        return cls(
            write_cache=write_cache,
            dpofua=dpofua,
            store=store,
            saved=store.load(),
            where=str(store.path),
        )

    @property
    def saving_supported(self) -> bool:
        """Saved values exist (a store was given): PS=1, PC=11b and SP=1 work."""
        return self._saved is not None

    def reset(self) -> None:
        """Power on or hard reset: current values revert to the saved (else default) values."""
        base = self._saved or {k: p.default for k, p in self.pages.items()}
        self._current = {k: bytearray(base[k]) for k in self.pages}

    def serialize_saved(self) -> bytes:
        """The saved values as JSON bytes (what SP=1 hands to the store)."""
        saved = self._saved or {}
        doc = {
            "format": SAVED_FORMAT,
            "version": SAVED_VERSION,
            "pages": {f"{k[0]:02x}/{k[1]:02x}": v.hex() for k, v in sorted(saved.items())},
        }
        return (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()

    def _parse_saved(self, data: bytes, where: str) -> dict[tuple[int, int], bytes]:
        def bad(what: str) -> InputError:
            return InputError(f"corrupt saved mode pages: {what}", where=where)

        try:
            doc = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise bad(f"not JSON ({exc})") from exc
        if not isinstance(doc, dict) or doc.get("format") != SAVED_FORMAT:
            raise bad(f"format is not {SAVED_FORMAT!r}")
        if doc.get("version") != SAVED_VERSION:
            raise bad(f"version {doc.get('version')!r} is not {SAVED_VERSION}")
        pages = doc.get("pages")
        if not isinstance(pages, dict):
            raise bad("pages is not an object")
        out: dict[tuple[int, int], bytes] = {}
        for name, text in pages.items():
            m = re.fullmatch(r"([0-9a-f]{2})/([0-9a-f]{2})", name)
            key = (int(m.group(1), 16), int(m.group(2), 16)) if m else None
            pdef = self.pages.get(key) if key is not None else None
            if pdef is None or key is None:
                raise bad(f"page {name!r} is not a supported mode page")
            try:
                value = bytes.fromhex(text) if isinstance(text, str) else b""
            except ValueError:
                value = b""
            if len(value) != len(pdef.default) or value[:2] != pdef.default[:2]:
                raise bad(f"page {name}: not a {len(pdef.default)}-byte {pdef.name} page")
            for i, (a, b, m_) in enumerate(zip(value, pdef.default, pdef.changeable, strict=True)):
                if (a ^ b) & ~m_:
                    raise bad(f"page {name}: byte {i} changes bits that are not changeable")
            if pdef.validate is not None and (problem := pdef.validate(value)) is not None:
                raise bad(f"page {name}: {problem[2]}")
            out[key] = value
        return out

    # -- the parameters the LU obeys ---------------------------------------------------

    def current(self, page: int, subpage: int = 0) -> bytes:
        return bytes(self._current[(page, subpage)])

    @property
    def wce(self) -> bool:
        """Caching page WCE: write-back caching allowed (SBC-4 6.5.5)."""
        return bool(self._current[(0x08, 0)][2] & 0x04)

    @property
    def rcd(self) -> bool:
        """Caching page RCD: read cache disabled."""
        return bool(self._current[(0x08, 0)][2] & 0x01)

    @property
    def d_sense(self) -> bool:
        """Control page D_SENSE: descriptor-format sense data (SPC-5 7.5.9)."""
        return bool(self._current[(0x0A, 0)][2] & 0x04)

    @property
    def swp(self) -> bool:
        """Control page SWP: software write protect (SPC-5 7.5.9)."""
        return bool(self._current[(0x0A, 0)][4] & 0x08)

    @property
    def dexcpt(self) -> bool:
        return bool(self._current[(0x1C, 0)][2] & 0x08)

    @property
    def mrie(self) -> int:
        return self._current[(0x1C, 0)][3] & 0x0F

    def write_protected(self, read_only: bool = False) -> bool:
        """The WP bit: the slice is read-only or SWP is set."""
        return read_only or self.swp

    # -- MODE SENSE -------------------------------------------------------------------------

    def mode_sense(
        self, cdb: bytes, *, num_blocks: int, block_size: int, read_only: bool = False
    ) -> ModeResult:
        """MODE SENSE (6) / (10) (SPC-5 6.13, 6.14); data-in clipped to the allocation length."""
        op = cdb[0]
        ten = op == OP_MODE_SENSE_10
        if len(cdb) < (10 if ten else 6):
            return _illegal(INVALID_FIELD_IN_CDB, "short CDB", cdb=True, byte=0, bit=None)
        allowed = 0x18 if ten else 0x08  # LLBAA (10 only), DBD
        if cdb[1] & ~allowed:
            bad = cdb[1] & ~allowed & 0xFF
            return _illegal(
                INVALID_FIELD_IN_CDB, "reserved bits set", cdb=True, byte=1, bit=_top_bit(bad)
            )
        dbd = bool(cdb[1] & 0x08)
        llbaa = ten and bool(cdb[1] & 0x10)
        pc = PageControl(cdb[2] >> 6)
        page = cdb[2] & 0x3F
        subpage = cdb[3]
        alloc = int.from_bytes(cdb[7:9], "big") if ten else cdb[4]
        if pc is PageControl.SAVED and self._saved is None:
            return _illegal(
                SAVING_PARAMETERS_NOT_SUPPORTED,
                "saved values are not implemented",
                cdb=True,
                byte=2,
                bit=7,
            )
        selected = self._select(page, subpage)
        if isinstance(selected, ModeResult):
            return selected
        body = bytearray()
        ps = 0x80 if self._saved is not None else 0x00
        for p in selected:
            start = len(body)
            if pc is PageControl.CURRENT:
                body += self._current[p.key]
            elif pc is PageControl.DEFAULT:
                body += p.default
            elif pc is PageControl.SAVED:
                assert self._saved is not None
                body += self._saved[p.key]
            else:
                hdr = 4 if p.subpage_format else 2
                body += p.default[:hdr] + p.changeable[hdr:]
            body[start] |= ps  # PS: the page can be saved
        bd = b""
        if not dbd:
            if pc is PageControl.CHANGEABLE:
                bd = bytes(16 if llbaa else 8)  # nothing in the block descriptor is changeable
            elif llbaa:
                bd = num_blocks.to_bytes(8, "big") + bytes(4) + block_size.to_bytes(4, "big")
            else:
                nb = min(num_blocks, 0xFFFFFFFF)
                bd = nb.to_bytes(4, "big") + b"\x00" + block_size.to_bytes(3, "big")
        dsp = (WP if self.write_protected(read_only) else 0) | (DPOFUA if self.dpofua else 0)
        if ten:
            total = 8 + len(bd) + len(body)
            header = (
                (total - 2).to_bytes(2, "big")
                + bytes((0, dsp, 0x01 if llbaa and bd else 0x00, 0))
                + len(bd).to_bytes(2, "big")
            )
        else:
            total = 4 + len(bd) + len(body)
            header = bytes((min(total - 1, 0xFF), 0, dsp, len(bd)))
        data = (header + bd + bytes(body))[:alloc]
        return ModeResult(data_in=data, data_length=len(data))

    def _select(self, page: int, subpage: int) -> list[PageDef] | ModeResult:
        if page == ALL_PAGES:
            if subpage == 0x00:
                return [p for p in self.pages.values() if p.subpage == 0]
            if subpage == ALL_SUBPAGES:
                return list(self.pages.values())
            return _illegal(
                INVALID_FIELD_IN_CDB,
                f"subpage {subpage:#04x} with page 3Fh",
                cdb=True,
                byte=3,
                bit=7,
            )
        of_page = [p for p in self.pages.values() if p.page == page]
        if not of_page:
            return _illegal(
                INVALID_FIELD_IN_CDB,
                f"mode page {page:#04x} is not supported",
                cdb=True,
                byte=2,
                bit=5,
            )
        if subpage == ALL_SUBPAGES:
            return of_page
        chosen = [p for p in of_page if p.subpage == subpage]
        if not chosen:
            return _illegal(
                INVALID_FIELD_IN_CDB,
                f"mode page {page:#04x} has no subpage {subpage:#04x}",
                cdb=True,
                byte=3,
                bit=7,
            )
        return chosen

    # -- MODE SELECT -------------------------------------------------------------------------

    @staticmethod
    def expected_data_out(cdb: bytes) -> int:
        """The PARAMETER LIST LENGTH of a MODE SELECT (6)/(10) CDB (0 for anything else)."""
        if cdb and cdb[0] == OP_MODE_SELECT_6 and len(cdb) >= 6:
            return cdb[4]
        if cdb and cdb[0] == OP_MODE_SELECT_10 and len(cdb) >= 10:
            return int.from_bytes(cdb[7:9], "big")
        return 0

    def mode_select(
        self,
        cdb: bytes,
        data_out: bytes | bytearray | memoryview,
        *,
        num_blocks: int,
        block_size: int,
    ) -> ModeResult:
        """MODE SELECT (6) / (10) (SPC-5 6.11, 6.12): validate every page, then apply all."""
        ten = cdb[0] == OP_MODE_SELECT_10
        if len(cdb) < (10 if ten else 6):
            return _illegal(INVALID_FIELD_IN_CDB, "short CDB", cdb=True, byte=0, bit=None)
        plen = self.expected_data_out(cdb)
        if cdb[1] & ~0x11 & 0xFF:
            return _illegal(
                INVALID_FIELD_IN_CDB,
                "reserved bits set",
                cdb=True,
                byte=1,
                bit=_top_bit(cdb[1] & ~0x11 & 0xFF),
            )
        pf, sp = bool(cdb[1] & 0x10), bool(cdb[1] & 0x01)
        if sp and self._saved is None:
            return self._len(
                _illegal(
                    INVALID_FIELD_IN_CDB,
                    "SP=1 but saved pages are not implemented",
                    cdb=True,
                    byte=1,
                    bit=0,
                ),
                plen,
            )
        if plen == 0:
            return self._save(ModeResult()) if sp else ModeResult()  # SPC-5 6.11: no error
        data = bytes(data_out[:plen])
        hlen = 8 if ten else 4
        if len(data) < plen or plen < hlen:
            return self._len(
                ModeResult(
                    Status.CHECK_CONDITION,
                    error=CheckCondition(
                        SenseKey.ILLEGAL_REQUEST,
                        *PARAMETER_LIST_LENGTH_ERROR,
                        reason=f"parameter list length {plen} (received {len(data)})",
                    ),
                ),
                plen,
            )
        medium_type = data[2] if ten else data[1]
        if medium_type != 0:
            return self._len(
                _illegal(
                    INVALID_FIELD_IN_PARAMETER_LIST,
                    f"MEDIUM TYPE {medium_type:#04x}",
                    cdb=False,
                    byte=2 if ten else 1,
                    bit=7,
                ),
                plen,
            )
        if ten:
            longlba = bool(data[4] & 0x01)
            bdl = int.from_bytes(data[6:8], "big")
            bdl_byte = 6
        else:
            longlba = False
            bdl = data[3]
            bdl_byte = 3
        one_bd = 16 if longlba else 8
        if bdl not in (0, one_bd):
            return self._len(
                _illegal(
                    INVALID_FIELD_IN_PARAMETER_LIST,
                    f"BLOCK DESCRIPTOR LENGTH {bdl}: one {one_bd}-byte descriptor or none",
                    cdb=False,
                    byte=bdl_byte,
                    bit=7,
                ),
                plen,
            )
        if hlen + bdl > plen:
            return self._len(
                ModeResult(
                    Status.CHECK_CONDITION,
                    error=CheckCondition(
                        SenseKey.ILLEGAL_REQUEST,
                        *PARAMETER_LIST_LENGTH_ERROR,
                        reason="block descriptor runs past the parameter list",
                    ),
                ),
                plen,
            )
        if bdl:
            bad = self._check_block_descriptor(data, hlen, longlba, num_blocks, block_size)
            if bad is not None:
                return self._len(bad, plen)
        pos = hlen + bdl
        if pos < plen and not pf:
            return self._len(
                _illegal(
                    INVALID_FIELD_IN_CDB,
                    "PF=0: vendor-specific page format is not supported",
                    cdb=True,
                    byte=1,
                    bit=4,
                ),
                plen,
            )
        updates: dict[tuple[int, int], bytearray] = {}
        while pos < plen:
            got = self._parse_page(data, pos, plen, updates)
            if isinstance(got, ModeResult):
                return self._len(got, plen)
            pos = got
        changed = False
        for key, new in updates.items():
            if self._current[key] != new:
                self._current[key] = new
                changed = True
        result = ModeResult(data_length=plen, parameters_changed=changed)
        return self._save(result) if sp else result

    def _save(self, result: ModeResult) -> ModeResult:
        """SP=1: every savable page's current value becomes its saved value (SPC-5 6.11)."""
        self._saved = {k: bytes(v) for k, v in self._current.items()}
        return ModeResult(
            result.status,
            result.data_in,
            result.data_length,
            result.error,
            result.parameters_changed,
            self.serialize_saved(),
        )

    @staticmethod
    def _len(result: ModeResult, plen: int) -> ModeResult:
        return ModeResult(result.status, result.data_in, plen, result.error, False, None)

    @staticmethod
    def _check_block_descriptor(
        data: bytes, at: int, longlba: bool, num_blocks: int, block_size: int
    ) -> ModeResult | None:
        if longlba:
            nb = int.from_bytes(data[at : at + 8], "big")
            bl = int.from_bytes(data[at + 12 : at + 16], "big")
            nb_ok = nb in (0, num_blocks)
            bl_at = at + 12
        else:
            nb = int.from_bytes(data[at : at + 4], "big")
            bl = int.from_bytes(data[at + 5 : at + 8], "big")
            nb_ok = nb in (0, min(num_blocks, 0xFFFFFFFF))
            bl_at = at + 5
        if not nb_ok:
            return _illegal(
                INVALID_FIELD_IN_PARAMETER_LIST,
                f"NUMBER OF LOGICAL BLOCKS {nb}: the capacity cannot be changed",
                cdb=False,
                byte=at,
                bit=7,
            )
        if bl != block_size:
            return _illegal(
                INVALID_FIELD_IN_PARAMETER_LIST,
                f"LOGICAL BLOCK LENGTH {bl}: the block size cannot be changed",
                cdb=False,
                byte=bl_at,
                bit=7,
            )
        return None

    def _parse_page(
        self, data: bytes, pos: int, plen: int, updates: dict[tuple[int, int], bytearray]
    ) -> int | ModeResult:
        """Validate one page at `pos`; stage it in `updates`; return the next position."""
        spf = bool(data[pos] & 0x40)
        page = data[pos] & 0x3F
        hdr = 4 if spf else 2
        if pos + hdr > plen:
            return ModeResult(
                Status.CHECK_CONDITION,
                error=CheckCondition(
                    SenseKey.ILLEGAL_REQUEST,
                    *PARAMETER_LIST_LENGTH_ERROR,
                    reason="mode page header runs past the parameter list",
                ),
            )
        subpage = data[pos + 1] if spf else 0
        length = int.from_bytes(data[pos + 2 : pos + 4], "big") if spf else data[pos + 1]
        pdef = self.pages.get((page, subpage))
        if pdef is None or (spf and subpage == 0):
            return _illegal(
                INVALID_FIELD_IN_PARAMETER_LIST,
                f"mode page {page:#04x}/{subpage:#04x} is not supported",
                cdb=False,
                byte=pos,
                bit=5,
            )
        if hdr + length != len(pdef.default):
            return _illegal(
                INVALID_FIELD_IN_PARAMETER_LIST,
                f"{pdef.name} page length {length}, expected {len(pdef.default) - hdr}",
                cdb=False,
                byte=pos + (2 if spf else 1),
                bit=7,
            )
        if pos + hdr + length > plen:
            return ModeResult(
                Status.CHECK_CONDITION,
                error=CheckCondition(
                    SenseKey.ILLEGAL_REQUEST,
                    *PARAMETER_LIST_LENGTH_ERROR,
                    reason=f"{pdef.name} page runs past the parameter list",
                ),
            )
        if pdef.key in updates:
            return _illegal(
                INVALID_FIELD_IN_PARAMETER_LIST,
                f"{pdef.name} page sent twice",
                cdb=False,
                byte=pos,
                bit=5,
            )
        new = bytearray(data[pos : pos + hdr + length])
        new[0] &= 0x7F  # PS is reserved in MODE SELECT: ignore what an echo carried
        cur = self._current[pdef.key]
        for i in range(hdr, len(new)):
            diff = (new[i] ^ cur[i]) & ~pdef.changeable[i] & 0xFF
            if diff:
                return _illegal(
                    INVALID_FIELD_IN_PARAMETER_LIST,
                    f"{pdef.name} byte {i} bit {_top_bit(diff)} is not changeable",
                    cdb=False,
                    byte=pos + i,
                    bit=_top_bit(diff),
                )
        if pdef.validate is not None:
            bad = pdef.validate(bytes(new))
            if bad is not None:
                byte, bit, reason = bad
                return _illegal(
                    INVALID_FIELD_IN_PARAMETER_LIST,
                    f"{pdef.name}: {reason}",
                    cdb=False,
                    byte=pos + byte,
                    bit=bit,
                )
        updates[pdef.key] = new
        return pos + hdr + length

    # -- adapter for sgguard.target.lu.LogicalUnit ------------------------------------------

    def execute(
        self,
        lu: LogicalUnitHooks,
        cdb: bytes,
        data_out: bytes | bytearray | memoryview,
        nexus: Nexus,
    ) -> Response:
        """Run MODE SENSE/SELECT for `lu`: reads its capacity, raises the unit attention."""
        nb, bs = lu.backend.num_blocks, lu.backend.block_size
        if cdb[0] in (OP_MODE_SENSE_6, OP_MODE_SENSE_10):
            result = self.mode_sense(cdb, num_blocks=nb, block_size=bs, read_only=lu.read_only)
        else:
            result = self.mode_select(cdb, data_out, num_blocks=nb, block_size=bs)
            if result.persist is not None and self.store is not None:
                self.store.store(result.persist)
            if result.parameters_changed:
                lu.descriptor_sense = self.d_sense
                lu.establish_unit_attention(MODE_PARAMETERS_CHANGED, except_nexus=nexus)
        return result.response(lu.descriptor_sense)
