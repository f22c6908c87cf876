"""The SCSI command table: one row per (operation code, service action), the single source of truth.

Owns every fact sgguard knows about an opcode: its name per device type (SBC-4
direct access, MMC-6 CD/DVD, SSC tape, SMC medium changer; SPC-5 commands for
all), CDB length (the group rule of SPC-5 4.2.5.1 unless `length_note` says
why not), data direction, what it can do (`Effect`), where its LBAs are
(`LbaSource`) and the name of its CDB layout in `sgguard.scsi.cdb`. All 256
operation codes are rows; unassigned ones are "reserved" and groups 6 and 7
(C0h-FFh) are "vendor specific". Opcodes with service actions have one row per
defined service action and keep a row with `service_action=None` when some
device type defines the opcode without one (MMC SEND KEY A3h next to SPC
MAINTENANCE IN A3h/xxh).

Lookup: `lookup(opcode, service_action)`, `for_opcode(opcode)`,
`service_action_of(cdb)`, `command_for_cdb(cdb, device_type)`.
"""

from __future__ import annotations

from collections.abc import Iterable

from sgguard.scsi.model import CommandDef, DeviceType, Direction, Effect, LbaSource, Variant

__all__ = [
    "COMMANDS",
    "SERVICE_ACTION_OPCODES",
    "command_for_cdb",
    "for_opcode",
    "group_length",
    "lookup",
    "service_action_of",
]

_D = DeviceType
ALL = frozenset(DeviceType)
SBC = frozenset({_D.SBC})
MMC = frozenset({_D.MMC})
SSC = frozenset({_D.SSC})
SMC = frozenset({_D.SMC})
SBC_MMC = SBC | MMC

NO = Direction.NONE
IN = Direction.IN
OUT = Direction.OUT
BIDI = Direction.BIDI

E0 = Effect.NONE
RM = Effect.READS_MEDIA
WM = Effect.WRITES_MEDIA
ER = Effect.ERASES
DS = Effect.DEVICE_STATE
FW = Effect.FIRMWARE
RS = Effect.RESERVATIONS
SEC = Effect.SECURITY
ATA = Effect.ATA_PASSTHROUGH
UNK = Effect.UNKNOWN

L0 = LbaSource.NONE
LC = LbaSource.CDB
LWS = LbaSource.CDB_WRITE_SAME
LZE = LbaSource.CDB_ZERO_TO_END
LWM = LbaSource.CDB_WHOLE_MEDIUM
LUN = LbaSource.UNMAP_PARAMETERS
LGS = LbaSource.GET_LBA_STATUS
LCW = LbaSource.COMPARE_AND_WRITE
LXC = LbaSource.XCOPY_SEGMENTS
LATA = LbaSource.ATA_TASKFILE
LROD = LbaSource.ROD_TOKEN_RANGES
LSC = LbaSource.SCATTERED_RANGES


def group_length(opcode: int) -> int:
    """CDB length by the group code (SPC-5 4.2.5.1); 0 where the group does not fix it.

    Group 0 (00h-1Fh) 6 bytes, groups 1-2 (20h-5Fh) 10, group 3 (60h-7Fh)
    reserved except 7Eh/7Fh (variable), group 4 (80h-9Fh) 16, group 5 (A0h-BFh)
    12, groups 6-7 (C0h-FFh) vendor specific.
    """
    group = opcode >> 5
    return (6, 10, 10, 0, 16, 12, 0, 0)[group]


def _v(
    dts: frozenset[DeviceType],
    name: str,
    direction: Direction,
    effects: Effect = E0,
    lba: LbaSource = L0,
    layout: str | None = None,
) -> Variant:
    return Variant(dts, name, direction, effects, lba, layout)


_ROWS: list[CommandDef] = []


def _row(
    opcode: int,
    sa: int | None,
    *variants: Variant,
    length: int | None = None,
    note: str = "",
    std: tuple[str, ...] = (),
) -> None:
    cdb_length = group_length(opcode) if length is None else length
    spc = any(v.device_types == ALL for v in variants)
    _ROWS.append(CommandDef(opcode, sa, cdb_length, tuple(variants), note, spc, std))


def _spc(
    opcode: int,
    sa: int | None,
    name: str,
    direction: Direction,
    effects: Effect = E0,
    lba: LbaSource = L0,
    layout: str | None = None,
    *,
    std: str = "",
    length: int | None = None,
    note: str = "",
) -> None:
    _row(
        opcode,
        sa,
        _v(ALL, name, direction, effects, lba, layout),
        length=length,
        note=note,
        std=(std,) if std else (),
    )


# Opcodes whose service action field selects the command, and for which device
# types (SPC-5 4.2.5.1; byte 1 bits 4-0, or bytes 8-9 of a variable-length CDB).
SERVICE_ACTION_OPCODES: dict[int, frozenset[DeviceType]] = {
    0x48: SBC,  # SANITIZE (MMC: PLAY AUDIO TRACK INDEX, no service action)
    0x5E: ALL,
    0x5F: ALL,
    0x7F: ALL,
    0x83: ALL,
    0x84: ALL,
    0x94: SBC,  # ZBC OUT
    0x95: SBC,  # ZBC IN
    0x9E: ALL,
    0x9F: ALL,
    0xA3: ALL - MMC,  # MMC: SEND KEY
    0xA4: ALL - MMC,  # MMC: REPORT KEY
}

_VAR = "variable-length CDB (SPC-5 4.2.4): 8 bytes + ADDITIONAL CDB LENGTH"

# =========================================================================== SPC-5 / SBC-4
# Step 1: the SBC-4 data path and the SPC-5 commands every target sees.

_spc(0x00, None, "TEST UNIT READY", NO, E0, L0, "TestUnitReady", std="SPC-5 6.47")
_spc(0x03, None, "REQUEST SENSE", IN, E0, L0, "RequestSense", std="SPC-5 6.39")
_row(
    0x04,
    None,
    _v(SBC, "FORMAT UNIT", OUT, WM | ER, LWM, "FormatUnit"),
    std=("SBC-4 5.4",),
)
_row(0x08, None, _v(SBC, "READ (6)", IN, RM, LC, "Read6"), std=("SBC-3 5.8",))
_row(0x0A, None, _v(SBC, "WRITE (6)", OUT, WM, LC, "Write6"), std=("SBC-3 5.32",))
_spc(0x12, None, "INQUIRY", IN, E0, L0, "Inquiry", std="SPC-5 6.7")
_spc(0x15, None, "MODE SELECT (6)", OUT, DS, L0, "ModeSelect6", std="SPC-5 6.11")
_spc(0x16, None, "RESERVE (6)", NO, RS, L0, "Reserve6", std="SPC-2 7.21")
_spc(0x17, None, "RELEASE (6)", NO, RS, L0, "Release6", std="SPC-2 7.17")
_spc(0x1A, None, "MODE SENSE (6)", IN, E0, L0, "ModeSense6", std="SPC-5 6.13")
_row(
    0x1B,
    None,
    _v(SBC | MMC, "START STOP UNIT", NO, DS, L0, "StartStopUnit"),
    std=("SBC-4 5.27",),
)
_spc(
    0x1E,
    None,
    "PREVENT ALLOW MEDIUM REMOVAL",
    NO,
    DS,
    L0,
    "PreventAllowMediumRemoval",
    std="SPC-5 6.15",
)
_row(0x25, None, _v(SBC, "READ CAPACITY (10)", IN, E0, L0, "ReadCapacity10"), std=("SBC-4 5.20",))
_row(0x28, None, _v(SBC_MMC, "READ (10)", IN, RM, LC, "Read10"), std=("SBC-4 5.16",))
_row(0x2A, None, _v(SBC_MMC, "WRITE (10)", OUT, WM, LC, "Write10"), std=("SBC-4 5.40",))
_row(
    0x2E,
    None,
    _v(SBC_MMC, "WRITE AND VERIFY (10)", OUT, WM | RM, LC, "WriteAndVerify10"),
    std=("SBC-4 5.44",),
)
_row(0x2F, None, _v(SBC_MMC, "VERIFY (10)", OUT, RM, LC, "Verify10"), std=("SBC-4 5.34",))
_row(0x34, None, _v(SBC, "PRE-FETCH (10)", NO, E0, LZE, "PreFetch10"), std=("SBC-4 5.11",))
_row(
    0x35,
    None,
    _v(SBC_MMC, "SYNCHRONIZE CACHE (10)", NO, E0, LZE, "SynchronizeCache10"),
    std=("SBC-4 5.30",),
)
_spc(0x3B, None, "WRITE BUFFER", OUT, FW | DS, L0, "WriteBuffer", std="SPC-5 6.49")
_spc(0x3C, None, "READ BUFFER (10)", IN, E0, L0, "ReadBuffer10", std="SPC-5 6.20")
_row(0x3F, None, _v(SBC, "WRITE LONG (10)", OUT, WM, LC, "WriteLong10"), std=("SBC-4 5.51",))
_row(
    0x41,
    None,
    _v(SBC, "WRITE SAME (10)", OUT, WM | ER, LWS, "WriteSame10"),
    std=("SBC-4 5.48",),
)
_row(0x42, None, _v(SBC, "UNMAP", OUT, ER, LUN, "Unmap"), std=("SBC-4 5.32",))
for _sa, _name in ((0x01, "OVERWRITE"), (0x02, "BLOCK ERASE"), (0x03, "CRYPTOGRAPHIC ERASE")):
    _row(
        0x48,
        _sa,
        _v(SBC, f"SANITIZE ({_name})", OUT, WM | ER, LWM, "Sanitize"),
        std=("SBC-4 5.26",),
    )
_row(
    0x48,
    0x1F,
    _v(SBC, "SANITIZE (EXIT FAILURE MODE)", NO, DS, L0, "Sanitize"),
    std=("SBC-4 5.26",),
)
_spc(0x55, None, "MODE SELECT (10)", OUT, DS, L0, "ModeSelect10", std="SPC-5 6.12")
_spc(0x56, None, "RESERVE (10)", OUT, RS, L0, "Reserve10", std="SPC-2 7.22")
_spc(0x57, None, "RELEASE (10)", OUT, RS, L0, "Release10", std="SPC-2 7.18")
_spc(0x5A, None, "MODE SENSE (10)", IN, E0, L0, "ModeSense10", std="SPC-5 6.14")
for _sa, _name in (
    (0x00, "READ KEYS"),
    (0x01, "READ RESERVATION"),
    (0x02, "REPORT CAPABILITIES"),
    (0x03, "READ FULL STATUS"),
):
    _spc(
        0x5E,
        _sa,
        f"PERSISTENT RESERVE IN ({_name})",
        IN,
        E0,
        L0,
        "PersistentReserveIn",
        std="SPC-5 6.16",
    )
for _sa, _name in (
    (0x00, "REGISTER"),
    (0x01, "RESERVE"),
    (0x02, "RELEASE"),
    (0x03, "CLEAR"),
    (0x04, "PREEMPT"),
    (0x05, "PREEMPT AND ABORT"),
    (0x06, "REGISTER AND IGNORE EXISTING KEY"),
    (0x07, "REGISTER AND MOVE"),
    (0x08, "REPLACE LOST RESERVATION"),
):
    _spc(
        0x5F,
        _sa,
        f"PERSISTENT RESERVE OUT ({_name})",
        OUT,
        RS,
        L0,
        "PersistentReserveOut",
        std="SPC-5 6.17",
    )

# ---- variable length (7Fh)
_row(0x7F, 0x0009, _v(SBC, "READ (32)", IN, RM, LC, "Read32"), length=32, note=_VAR)
_row(0x7F, 0x000A, _v(SBC, "VERIFY (32)", OUT, RM, LC, "Verify32"), length=32, note=_VAR)
_row(0x7F, 0x000B, _v(SBC, "WRITE (32)", OUT, WM, LC, "Write32"), length=32, note=_VAR)
_row(
    0x7F,
    0x000C,
    _v(SBC, "WRITE AND VERIFY (32)", OUT, WM | RM, LC, "WriteAndVerify32"),
    length=32,
    note=_VAR,
)
_row(
    0x7F,
    0x000D,
    _v(SBC, "WRITE SAME (32)", OUT, WM | ER, LWS, "WriteSame32"),
    length=32,
    note=_VAR,
)
_row(0x7F, 0x000E, _v(SBC, "ORWRITE (32)", OUT, RM | WM, LC, "OrWrite32"), length=32, note=_VAR)
_row(
    0x7F,
    0x0012,
    _v(SBC, "GET LBA STATUS (32)", IN, E0, LGS, "GetLbaStatus32"),
    length=32,
    note=_VAR,
)
_spc(
    0x7F,
    0x1FF0,
    "ATA PASS-THROUGH (32)",
    BIDI,
    ATA,
    LATA,
    "AtaPassThrough32",
    std="SAT-4 12.2.2",
    length=32,
    note=_VAR,
)

# ---- third-party copy (83h out, 84h in)
_spc(0x83, 0x00, "EXTENDED COPY (LID1)", OUT, RM | WM, LXC, "ExtendedCopy", std="SPC-4 6.4")
_spc(0x83, 0x01, "EXTENDED COPY", OUT, RM | WM, LXC, "ExtendedCopy", std="SPC-5 6.6")
_row(0x83, 0x10, _v(SBC, "POPULATE TOKEN", OUT, RM, LROD, "PopulateToken"), std=("SBC-4 5.9",))
_row(
    0x83, 0x11, _v(SBC, "WRITE USING TOKEN", OUT, WM, LROD, "WriteUsingToken"), std=("SBC-4 5.53",)
)
_spc(0x83, 0x1C, "COPY OPERATION ABORT", NO, E0, L0, "CopyOperationAbort", std="SPC-5 6.3")
_spc(0x84, 0x00, "RECEIVE COPY STATUS (LID1)", IN, E0, L0, "ReceiveCopyLid1", std="SPC-4 6.20")
_spc(0x84, 0x01, "RECEIVE COPY DATA (LID1)", IN, E0, L0, "ReceiveCopyLid1", std="SPC-4 6.19")
_spc(
    0x84,
    0x03,
    "RECEIVE COPY OPERATING PARAMETERS",
    IN,
    E0,
    L0,
    "ReceiveCopyOperatingParameters",
    std="SPC-5 6.27",
)
_spc(
    0x84,
    0x04,
    "RECEIVE COPY FAILURE DETAILS (LID1)",
    IN,
    E0,
    L0,
    "ReceiveCopyLid1",
    std="SPC-4 6.18",
)
_spc(0x84, 0x05, "RECEIVE COPY STATUS", IN, E0, L0, "ReceiveCopyLid4", std="SPC-5 6.28")
_spc(0x84, 0x06, "RECEIVE COPY DATA", IN, E0, L0, "ReceiveCopyLid4", std="SPC-5 6.26")
_spc(0x84, 0x07, "RECEIVE ROD TOKEN INFORMATION", IN, E0, L0, "ReceiveCopyLid4", std="SPC-5 6.29")
_spc(
    0x84,
    0x08,
    "REPORT ALL ROD TOKENS",
    IN,
    E0,
    L0,
    "ReceiveCopyOperatingParameters",
    std="SPC-5 6.31",
)

_spc(
    0x85,
    None,
    "ATA PASS-THROUGH (16)",
    BIDI,
    ATA,
    LATA,
    "AtaPassThrough16",
    std="SAT-4 12.2.4",
)
_row(0x88, None, _v(SBC, "READ (16)", IN, RM, LC, "Read16"), std=("SBC-4 5.18",))
_row(
    0x89,
    None,
    _v(SBC, "COMPARE AND WRITE", OUT, RM | WM, LCW, "CompareAndWrite"),
    std=("SBC-4 5.3",),
)
_row(0x8A, None, _v(SBC, "WRITE (16)", OUT, WM, LC, "Write16"), std=("SBC-4 5.42",))
_row(0x8B, None, _v(SBC, "ORWRITE (16)", OUT, RM | WM, LC, "OrWrite16"), std=("SBC-4 5.9",))
_row(
    0x8E,
    None,
    _v(SBC, "WRITE AND VERIFY (16)", OUT, WM | RM, LC, "WriteAndVerify16"),
    std=("SBC-4 5.46",),
)
_row(0x8F, None, _v(SBC, "VERIFY (16)", OUT, RM, LC, "Verify16"), std=("SBC-4 5.36",))
_row(0x90, None, _v(SBC, "PRE-FETCH (16)", NO, E0, LZE, "PreFetch16"), std=("SBC-4 5.12",))
_row(
    0x91,
    None,
    _v(SBC, "SYNCHRONIZE CACHE (16)", NO, E0, LZE, "SynchronizeCache16"),
    std=("SBC-4 5.31",),
)
_row(
    0x93,
    None,
    _v(SBC, "WRITE SAME (16)", OUT, WM | ER, LWS, "WriteSame16"),
    std=("SBC-4 5.49",),
)
_row(
    0x9E,
    0x10,
    _v(SBC, "READ CAPACITY (16)", IN, E0, L0, "ReadCapacity16"),
    std=("SBC-4 5.21",),
)
_row(
    0x9E,
    0x12,
    _v(SBC, "GET LBA STATUS (16)", IN, E0, LGS, "GetLbaStatus16"),
    std=("SBC-4 5.7",),
)
_row(0x9F, 0x11, _v(SBC, "WRITE LONG (16)", OUT, WM, LC, "WriteLong16"), std=("SBC-4 5.52",))
_spc(0xA0, None, "REPORT LUNS", IN, E0, L0, "ReportLuns", std="SPC-5 6.33")
_row(
    0xA1,
    None,
    _v(ALL - MMC, "ATA PASS-THROUGH (12)", BIDI, ATA, LATA, "AtaPassThrough12"),
    std=("SAT-4 12.2.3",),
)
_row(
    0xA2,
    None,
    _v(ALL - MMC, "SECURITY PROTOCOL IN", IN, SEC, L0, "SecurityProtocolIn"),
    std=("SPC-5 6.40",),
)
_row(
    0xA3,
    0x0C,
    _v(ALL - MMC, "REPORT SUPPORTED OPERATION CODES", IN, E0, L0, "ReportSupportedOperationCodes"),
    std=("SPC-5 6.35",),
)
_row(
    0xA3,
    0x0D,
    _v(
        ALL - MMC,
        "REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS",
        IN,
        E0,
        L0,
        "ReportSupportedTaskManagementFunctions",
    ),
    std=("SPC-5 6.36",),
)
_row(0xA8, None, _v(SBC_MMC, "READ (12)", IN, RM, LC, "Read12"), std=("SBC-4 5.17",))
_row(0xAA, None, _v(SBC_MMC, "WRITE (12)", OUT, WM, LC, "Write12"), std=("SBC-4 5.41",))
_row(
    0xAE,
    None,
    _v(SBC, "WRITE AND VERIFY (12)", OUT, WM | RM, LC, "WriteAndVerify12"),
    std=("SBC-4 5.45",),
)
_row(0xAF, None, _v(SBC, "VERIFY (12)", OUT, RM, LC, "Verify12"), std=("SBC-4 5.35",))
_row(
    0xB5,
    None,
    _v(ALL - SMC, "SECURITY PROTOCOL OUT", OUT, SEC, L0, "SecurityProtocolOut"),
    std=("SPC-5 6.41",),
)


# =========================================================================== indexes

COMMANDS: tuple[CommandDef, ...] = tuple(
    sorted(_ROWS, key=lambda r: (r.opcode, -1 if r.service_action is None else r.service_action))
)

_BY_KEY: dict[tuple[int, int | None], CommandDef] = {}
for _r in COMMANDS:
    if (_r.opcode, _r.service_action) in _BY_KEY:
        raise RuntimeError(f"duplicate row {_r.opcode:02x}/{_r.service_action}")
    _BY_KEY[(_r.opcode, _r.service_action)] = _r

_BY_OPCODE: dict[int, tuple[CommandDef, ...]] = {}
for _r in COMMANDS:
    _BY_OPCODE[_r.opcode] = (*_BY_OPCODE.get(_r.opcode, ()), _r)


def lookup(opcode: int, service_action: int | None = None) -> CommandDef | None:
    """The row for (opcode, service action); None when the table has no such row."""
    return _BY_KEY.get((opcode, service_action))


def for_opcode(opcode: int) -> tuple[CommandDef, ...]:
    """Every row of an opcode: the plain row and one per service action."""
    return _BY_OPCODE.get(opcode, ())


def service_action_of(cdb: bytes, device_type: DeviceType | None = None) -> int | None:
    """The service action a CDB carries, or None when its opcode has none.

    Byte 1 bits 4-0 for 48h (SBC), 5Eh, 5Fh, 83h, 84h, 94h, 95h, 9Eh, 9Fh, A3h,
    A4h (not MMC); bytes 8-9 for variable-length 7Fh. With `device_type`,
    opcodes whose service action field that device type does not define give None.
    """
    if not cdb:
        return None
    op = cdb[0]
    dts = SERVICE_ACTION_OPCODES.get(op)
    if dts is None or (device_type is not None and device_type not in dts):
        return None
    if op == 0x7F:
        if len(cdb) < 10:
            return None
        return (cdb[8] << 8) | cdb[9]
    if len(cdb) < 2:
        return None
    return cdb[1] & 0x1F


def command_for_cdb(cdb: bytes, device_type: DeviceType = DeviceType.SBC) -> CommandDef | None:
    """The row a CDB selects for a device type (service action included)."""
    if not cdb:
        return None
    sa = service_action_of(cdb, device_type)
    row = _BY_KEY.get((cdb[0], sa))
    if row is None and sa is None:
        return None
    return row


def rows_for(device_type: DeviceType) -> Iterable[CommandDef]:
    """Rows that define a command for `device_type`."""
    return (r for r in COMMANDS if r.variant(device_type) is not None)
