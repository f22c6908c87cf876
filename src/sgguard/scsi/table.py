"""The SCSI command table: one row per (operation code, service action), the single source of truth.

Owns every fact sgguard knows about an opcode: its name per device type (SBC-4
direct access, MMC-6 CD/DVD, SSC tape, SMC medium changer; SPC-5 commands for
all), CDB length (the group rule of SPC-5 unless `length_note` says
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
    "rows_for",
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
    """CDB length by the group code (SPC-5); 0 where the group does not fix it.

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
# types (SPC-5; byte 1 bits 4-0, or bytes 8-9 of a variable-length CDB).
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
    0xAB: ALL,  # SERVICE ACTION IN (12)
}

_VAR = "variable-length CDB (SPC-5): 8 bytes + ADDITIONAL CDB LENGTH"

# =========================================================================== SPC-5 / SBC-4
# Step 1: the SBC-4 data path and the SPC-5 commands every target sees.

_spc(0x00, None, "TEST UNIT READY", NO, E0, L0, "TestUnitReady", std="SPC-5")
_spc(0x03, None, "REQUEST SENSE", IN, E0, L0, "RequestSense", std="SPC-5")
_row(
    0x04,
    None,
    _v(SBC_MMC, "FORMAT UNIT", OUT, WM | ER, LWM, "FormatUnit"),
    _v(SSC, "FORMAT MEDIUM", OUT, WM | ER, LWM, "FormatMedium"),
    std=("SBC-4", "MMC-6", "SSC-5"),
)
_row(
    0x08,
    None,
    _v(SBC, "READ (6)", IN, RM, LC, "Read6"),
    _v(SSC, "READ (6)", IN, RM, L0, "TapeRead6"),
    std=("SBC-3", "SSC-5"),
)
_row(
    0x0A,
    None,
    _v(SBC, "WRITE (6)", OUT, WM, LC, "Write6"),
    _v(SSC, "WRITE (6)", OUT, WM, L0, "TapeWrite6"),
    std=("SBC-3", "SSC-5"),
)
_spc(0x12, None, "INQUIRY", IN, E0, L0, "Inquiry", std="SPC-5")
_spc(0x15, None, "MODE SELECT (6)", OUT, DS, L0, "ModeSelect6", std="SPC-5")
_row(
    0x16,
    None,
    _v(ALL - SMC, "RESERVE (6)", NO, RS, L0, "Reserve6"),
    _v(SMC, "RESERVE ELEMENT (6)", NO, RS, L0, "Reserve6"),
    std=("SPC-2",),
)
_row(
    0x17,
    None,
    _v(ALL - SMC, "RELEASE (6)", NO, RS, L0, "Release6"),
    _v(SMC, "RELEASE ELEMENT (6)", NO, RS, L0, "Release6"),
    std=("SPC-2",),
)
_spc(0x1A, None, "MODE SENSE (6)", IN, E0, L0, "ModeSense6", std="SPC-5")
_row(
    0x1B,
    None,
    _v(SBC_MMC, "START STOP UNIT", NO, DS, L0, "StartStopUnit"),
    _v(SSC, "LOAD UNLOAD", NO, DS, L0, "LoadUnload"),
    std=("SBC-4", "MMC-6", "SSC-5"),
)
_spc(
    0x1E,
    None,
    "PREVENT ALLOW MEDIUM REMOVAL",
    NO,
    DS,
    L0,
    "PreventAllowMediumRemoval",
    std="SPC-5",
)
_row(
    0x25,
    None,
    _v(SBC, "READ CAPACITY (10)", IN, E0, L0, "ReadCapacity10"),
    _v(MMC, "READ CAPACITY", IN, E0, L0, "ReadCapacity10"),
    std=("SBC-4", "MMC-6"),
)
_row(0x28, None, _v(SBC_MMC, "READ (10)", IN, RM, LC, "Read10"), std=("SBC-4",))
_row(0x2A, None, _v(SBC_MMC, "WRITE (10)", OUT, WM, LC, "Write10"), std=("SBC-4",))
_row(
    0x2E,
    None,
    _v(SBC_MMC, "WRITE AND VERIFY (10)", OUT, WM | RM, LC, "WriteAndVerify10"),
    std=("SBC-4",),
)
_row(0x2F, None, _v(SBC_MMC, "VERIFY (10)", OUT, RM, LC, "Verify10"), std=("SBC-4",))
_row(
    0x34,
    None,
    _v(SBC, "PRE-FETCH (10)", NO, E0, LZE, "PreFetch10"),
    _v(SSC, "READ POSITION", IN, E0, L0, "ReadPosition"),
    std=("SBC-4", "SSC-5"),
)
_row(
    0x35,
    None,
    _v(SBC_MMC, "SYNCHRONIZE CACHE (10)", NO, E0, LZE, "SynchronizeCache10"),
    std=("SBC-4",),
)
_spc(0x3B, None, "WRITE BUFFER", OUT, FW | DS, L0, "WriteBuffer", std="SPC-5")
_spc(0x3C, None, "READ BUFFER (10)", IN, E0, L0, "ReadBuffer10", std="SPC-5")
_row(0x3F, None, _v(SBC, "WRITE LONG (10)", OUT, WM, LC, "WriteLong10"), std=("SBC-4",))
_row(
    0x41,
    None,
    _v(SBC, "WRITE SAME (10)", OUT, WM | ER, LWS, "WriteSame10"),
    std=("SBC-4",),
)
_row(
    0x42,
    None,
    _v(SBC, "UNMAP", OUT, ER, LUN, "Unmap"),
    _v(MMC, "READ SUB-CHANNEL", IN, E0, L0, "ReadSubChannel"),
    std=("SBC-4", "MMC-6 (MMC-3)"),
)
for _sa, _name in ((0x01, "OVERWRITE"), (0x02, "BLOCK ERASE"), (0x03, "CRYPTOGRAPHIC ERASE")):
    _row(
        0x48,
        _sa,
        _v(SBC, f"SANITIZE ({_name})", OUT, WM | ER, LWM, "Sanitize"),
        std=("SBC-4",),
    )
_row(
    0x48,
    0x1F,
    _v(SBC, "SANITIZE (EXIT FAILURE MODE)", NO, DS, L0, "Sanitize"),
    std=("SBC-4",),
)
_spc(0x55, None, "MODE SELECT (10)", OUT, DS, L0, "ModeSelect10", std="SPC-5")
_row(
    0x56,
    None,
    _v(ALL - SMC, "RESERVE (10)", OUT, RS, L0, "Reserve10"),
    _v(SMC, "RESERVE ELEMENT (10)", OUT, RS, L0, "Reserve10"),
    std=("SPC-2",),
)
_row(
    0x57,
    None,
    _v(ALL - SMC, "RELEASE (10)", OUT, RS, L0, "Release10"),
    _v(SMC, "RELEASE ELEMENT (10)", OUT, RS, L0, "Release10"),
    std=("SPC-2",),
)
_spc(0x5A, None, "MODE SENSE (10)", IN, E0, L0, "ModeSense10", std="SPC-5")
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
        std="SPC-5",
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
        std="SPC-5",
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
    std="SAT-4",
    length=32,
    note=_VAR,
)

# ---- third-party copy (83h out, 84h in)
_spc(0x83, 0x00, "EXTENDED COPY (LID1)", OUT, RM | WM, LXC, "ExtendedCopy", std="SPC-4")
_spc(0x83, 0x01, "EXTENDED COPY", OUT, RM | WM, LXC, "ExtendedCopy", std="SPC-5")
_row(0x83, 0x10, _v(SBC, "POPULATE TOKEN", OUT, RM, LROD, "PopulateToken"), std=("SBC-4",))
_row(0x83, 0x11, _v(SBC, "WRITE USING TOKEN", OUT, WM, LROD, "WriteUsingToken"), std=("SBC-4",))
_spc(0x83, 0x1C, "COPY OPERATION ABORT", NO, E0, L0, "CopyOperationAbort", std="SPC-5")
_spc(0x84, 0x00, "RECEIVE COPY STATUS (LID1)", IN, E0, L0, "ReceiveCopyLid1", std="SPC-4")
_spc(0x84, 0x01, "RECEIVE COPY DATA (LID1)", IN, E0, L0, "ReceiveCopyLid1", std="SPC-4")
_spc(
    0x84,
    0x03,
    "RECEIVE COPY OPERATING PARAMETERS",
    IN,
    E0,
    L0,
    "ReceiveCopyOperatingParameters",
    std="SPC-5",
)
_spc(
    0x84,
    0x04,
    "RECEIVE COPY FAILURE DETAILS (LID1)",
    IN,
    E0,
    L0,
    "ReceiveCopyLid1",
    std="SPC-4",
)
_spc(0x84, 0x05, "RECEIVE COPY STATUS", IN, E0, L0, "ReceiveCopyLid4", std="SPC-5")
_spc(0x84, 0x06, "RECEIVE COPY DATA", IN, E0, L0, "ReceiveCopyLid4", std="SPC-5")
_spc(0x84, 0x07, "RECEIVE ROD TOKEN INFORMATION", IN, E0, L0, "ReceiveCopyLid4", std="SPC-5")
_spc(
    0x84,
    0x08,
    "REPORT ALL ROD TOKENS",
    IN,
    E0,
    L0,
    "ReceiveCopyOperatingParameters",
    std="SPC-5",
)

_spc(
    0x85,
    None,
    "ATA PASS-THROUGH (16)",
    BIDI,
    ATA,
    LATA,
    "AtaPassThrough16",
    std="SAT-4",
)
_row(
    0x88,
    None,
    _v(SBC, "READ (16)", IN, RM, LC, "Read16"),
    _v(SSC, "READ (16)", IN, RM, L0, "TapeRead16"),
    std=("SBC-4", "SSC-5"),
)
_row(
    0x89,
    None,
    _v(SBC, "COMPARE AND WRITE", OUT, RM | WM, LCW, "CompareAndWrite"),
    std=("SBC-4",),
)
_row(
    0x8A,
    None,
    _v(SBC, "WRITE (16)", OUT, WM, LC, "Write16"),
    _v(SSC, "WRITE (16)", OUT, WM, L0, "TapeWrite16"),
    std=("SBC-4", "SSC-5"),
)
_row(0x8B, None, _v(SBC, "ORWRITE (16)", OUT, RM | WM, LC, "OrWrite16"), std=("SBC-4",))
_row(
    0x8E,
    None,
    _v(SBC, "WRITE AND VERIFY (16)", OUT, WM | RM, LC, "WriteAndVerify16"),
    std=("SBC-4",),
)
_row(
    0x8F,
    None,
    _v(SBC, "VERIFY (16)", OUT, RM, LC, "Verify16"),
    _v(SSC, "VERIFY (16)", OUT, RM, L0, "TapeVerify16"),
    std=("SBC-4", "SSC-5"),
)
_row(0x90, None, _v(SBC, "PRE-FETCH (16)", NO, E0, LZE, "PreFetch16"), std=("SBC-4",))
_row(
    0x91,
    None,
    _v(SBC, "SYNCHRONIZE CACHE (16)", NO, E0, LZE, "SynchronizeCache16"),
    _v(SSC, "SPACE (16)", NO, E0, L0, "Space16"),
    std=("SBC-4", "SSC-5"),
)
_row(
    0x93,
    None,
    _v(SBC, "WRITE SAME (16)", OUT, WM | ER, LWS, "WriteSame16"),
    _v(SSC, "ERASE (16)", NO, WM | ER, L0, "Erase16"),
    std=("SBC-4", "SSC-5"),
)
_row(
    0x9E,
    0x10,
    _v(SBC, "READ CAPACITY (16)", IN, E0, L0, "ReadCapacity16"),
    std=("SBC-4",),
)
_row(
    0x9E,
    0x12,
    _v(SBC, "GET LBA STATUS (16)", IN, E0, LGS, "GetLbaStatus16"),
    std=("SBC-4",),
)
_row(0x9F, 0x11, _v(SBC, "WRITE LONG (16)", OUT, WM, LC, "WriteLong16"), std=("SBC-4",))
_spc(0xA0, None, "REPORT LUNS", IN, E0, L0, "ReportLuns", std="SPC-5")
_row(
    0xA1,
    None,
    _v(ALL - MMC, "ATA PASS-THROUGH (12)", BIDI, ATA, LATA, "AtaPassThrough12"),
    _v(MMC, "BLANK", NO, ER | WM, LWM, "Blank"),
    std=("SAT-4", "MMC-6"),
)
_row(
    0xA2,
    None,
    _v(ALL - MMC, "SECURITY PROTOCOL IN", IN, SEC, L0, "SecurityProtocolIn"),
    _v(MMC, "SEND EVENT", OUT, DS, L0, "SendEvent"),
    std=("SPC-5", "MMC-5"),
)
_row(
    0xA3,
    0x0C,
    _v(ALL - MMC, "REPORT SUPPORTED OPERATION CODES", IN, E0, L0, "ReportSupportedOperationCodes"),
    std=("SPC-5",),
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
    std=("SPC-5",),
)
_row(0xA8, None, _v(SBC_MMC, "READ (12)", IN, RM, LC, "Read12"), std=("SBC-4",))
_row(0xAA, None, _v(SBC_MMC, "WRITE (12)", OUT, WM, LC, "Write12"), std=("SBC-4",))
_row(
    0xAE,
    None,
    _v(SBC, "WRITE AND VERIFY (12)", OUT, WM | RM, LC, "WriteAndVerify12"),
    std=("SBC-4",),
)
_row(0xAF, None, _v(SBC, "VERIFY (12)", OUT, RM, LC, "Verify12"), std=("SBC-4",))
_row(
    0xB5,
    None,
    _v(ALL - SMC, "SECURITY PROTOCOL OUT", OUT, SEC, L0, "SecurityProtocolOut"),
    _v(SMC, "REQUEST VOLUME ELEMENT ADDRESS", IN, E0, L0, "RequestVolumeElementAddress"),
    std=("SPC-5", "SMC-3"),
)

# =========================================================================== the rest: every opcode
LDL = LbaSource.DEFECT_LIST
_OBS = "obsolete"

# ---- group 0 (6-byte)
_row(
    0x01,
    None,
    _v(SBC, "REZERO UNIT", NO, E0, L0, "RezeroUnit"),
    _v(SSC, "REWIND", NO, DS, L0, "Rewind"),
    std=("SBC-1 (obsolete)", "SSC-5"),
)
_row(0x05, None, _v(SSC, "READ BLOCK LIMITS", IN, E0, L0, "ReadBlockLimits"), std=("SSC-5",))
_row(
    0x07,
    None,
    _v(SBC, "REASSIGN BLOCKS", OUT, WM, LDL, "ReassignBlocks"),
    _v(SMC, "INITIALIZE ELEMENT STATUS", NO, E0, L0, "InitializeElementStatus"),
    std=("SBC-4", "SMC-3"),
)
_row(
    0x0B,
    None,
    _v(SBC, "SEEK (6)", NO, E0, L0, "Seek6"),
    _v(SSC, "SET CAPACITY", NO, DS | ER, L0, "SetCapacity"),
    std=("SBC-1 (obsolete)", "SSC-5"),
)
_row(0x0F, None, _v(SSC, "READ REVERSE (6)", IN, RM, L0, "ReadReverse6"), std=("SSC-3",))
_row(0x10, None, _v(SSC, "WRITE FILEMARKS (6)", NO, WM, L0, "WriteFilemarks6"), std=("SSC-5",))
_row(0x11, None, _v(SSC, "SPACE (6)", NO, E0, L0, "Space6"), std=("SSC-5",))
_row(0x13, None, _v(SSC, "VERIFY (6)", OUT, RM, L0, "TapeVerify6"), std=("SSC-5",))
_row(
    0x14,
    None,
    _v(SSC, "RECOVER BUFFERED DATA", IN, RM, L0, "RecoverBufferedData"),
    std=("SSC-3",),
)
_spc(0x18, None, "COPY", OUT, RM | WM, LWM, "Copy", std="SPC-2 (obsolete)")
_row(0x19, None, _v(SSC, "ERASE (6)", NO, WM | ER, L0, "Erase6"), std=("SSC-5",))
_spc(
    0x1C,
    None,
    "RECEIVE DIAGNOSTIC RESULTS",
    IN,
    E0,
    L0,
    "ReceiveDiagnosticResults",
    std="SPC-5",
)
_spc(0x1D, None, "SEND DIAGNOSTIC", OUT, DS, L0, "SendDiagnostic", std="SPC-5")

# ---- group 1 (10-byte)
_row(
    0x23,
    None,
    _v(MMC, "READ FORMAT CAPACITIES", IN, E0, L0, "ReadFormatCapacities"),
    std=("MMC-6",),
)
_row(
    0x2B,
    None,
    _v(SBC_MMC, "SEEK (10)", NO, E0, L0, "Seek10"),
    _v(SSC, "LOCATE (10)", NO, E0, L0, "Locate10"),
    _v(SMC, "POSITION TO ELEMENT", NO, DS, L0, "PositionToElement"),
    std=("SBC-1 (obsolete)", "MMC-6", "SSC-5", "SMC-3"),
)
for _op, _nm in (
    (0x30, "SEARCH DATA HIGH (10)"),
    (0x31, "SEARCH DATA EQUAL (10)"),
    (0x32, "SEARCH DATA LOW (10)"),
    (0x33, "SET LIMITS (10)"),
):
    _lim = _op == 0x33
    _row(
        _op,
        None,
        _v(SBC, _nm, NO if _lim else OUT, E0 if _lim else RM, LC, "SearchData10"),
        std=("SBC-1 (obsolete)",),
    )
_row(
    0x36,
    None,
    _v(SBC, "LOCK UNLOCK CACHE (10)", NO, E0, LC, "LockUnlockCache10"),
    std=("SBC-3",),
)
_row(
    0x37,
    None,
    _v(SBC, "READ DEFECT DATA (10)", IN, E0, L0, "ReadDefectData10"),
    _v(
        SMC,
        "INITIALIZE ELEMENT STATUS WITH RANGE",
        NO,
        E0,
        L0,
        "InitializeElementStatusWithRange",
    ),
    std=("SBC-4", "SMC-3"),
)
_spc(0x39, None, "COMPARE", OUT, RM, LWM, "Compare", std="SPC-2 (obsolete)")
_spc(0x3A, None, "COPY AND VERIFY", OUT, RM | WM, LWM, "CopyAndVerify", std="SPC-2 (obsolete)")
_row(0x3E, None, _v(SBC, "READ LONG (10)", IN, RM, LC, "ReadLong10"), std=("SBC-3",))

# ---- group 2 (10-byte)
_spc(0x40, None, "CHANGE DEFINITION", OUT, DS, L0, "ChangeDefinition", std="SPC-2 (obsolete)")
_row(0x43, None, _v(MMC, "READ TOC/PMA/ATIP", IN, E0, L0, "ReadTocPmaAtip"), std=("MMC-6",))
_row(
    0x44,
    None,
    _v(SSC, "REPORT DENSITY SUPPORT", IN, E0, L0, "ReportDensitySupport"),
    _v(MMC, "READ HEADER", IN, E0, L0, "ReadHeader"),
    std=("SSC-5", "MMC-3 (obsolete)"),
)
_row(0x45, None, _v(MMC, "PLAY AUDIO (10)", NO, RM, LC, "PlayAudio10"), std=("MMC-6",))
_row(0x46, None, _v(MMC, "GET CONFIGURATION", IN, E0, L0, "GetConfiguration"), std=("MMC-6",))
_row(0x47, None, _v(MMC, "PLAY AUDIO MSF", NO, RM, L0, "PlayAudioMsf"), std=("MMC-6",))
_row(
    0x48,
    None,
    _v(MMC, "PLAY AUDIO TRACK INDEX", NO, RM, L0, "PlayAudioTrackIndex"),
    std=("MMC-1 (obsolete)",),
)
_row(
    0x4A,
    None,
    _v(MMC, "GET EVENT STATUS NOTIFICATION", IN, E0, L0, "GetEventStatusNotification"),
    std=("MMC-6",),
)
_row(0x4B, None, _v(MMC, "PAUSE/RESUME", NO, E0, L0, "PauseResume"), std=("MMC-6",))
_spc(0x4C, None, "LOG SELECT", OUT, DS, L0, "LogSelect", std="SPC-5")
_spc(0x4D, None, "LOG SENSE", IN, E0, L0, "LogSense", std="SPC-5")
_row(0x4E, None, _v(MMC, "STOP PLAY/SCAN", NO, E0, L0, "StopPlayScan"), std=("MMC-6",))
_row(0x50, None, _v(SBC, "XDWRITE (10)", OUT, WM, LC, "XorCommand10"), std=("SBC-2 (obsolete)",))
_row(
    0x51,
    None,
    _v(SBC, "XPWRITE (10)", OUT, WM, LC, "XorCommand10"),
    _v(MMC, "READ DISC INFORMATION", IN, E0, L0, "ReadDiscInformation"),
    std=("SBC-3 (obsolete in SBC-4)", "MMC-6"),
)
_row(
    0x52,
    None,
    _v(SBC, "XDREAD (10)", IN, RM, LC, "XorCommand10"),
    _v(MMC, "READ TRACK INFORMATION", IN, E0, L0, "ReadTrackInformation"),
    std=("SBC-2 (obsolete)", "MMC-6"),
)
_row(
    0x53,
    None,
    _v(SBC, "XDWRITEREAD (10)", BIDI, RM | WM, LC, "XorCommand10"),
    _v(MMC, "RESERVE TRACK", NO, WM, L0, "ReserveTrack"),
    std=("SBC-3 (obsolete in SBC-4)", "MMC-6"),
)
_row(
    0x54,
    None,
    _v(MMC, "SEND OPC INFORMATION", OUT, DS, L0, "SendOpcInformation"),
    std=("MMC-6",),
)
_row(0x58, None, _v(MMC, "REPAIR TRACK", NO, WM, L0, "RepairTrack"), std=("MMC-5 (obsolete)",))
_row(
    0x5B,
    None,
    _v(MMC, "CLOSE TRACK/SESSION", NO, WM, L0, "CloseTrackSession"),
    std=("MMC-6",),
)
_row(
    0x5C,
    None,
    _v(MMC, "READ BUFFER CAPACITY", IN, E0, L0, "ReadBufferCapacity"),
    std=("MMC-6",),
)
_row(0x5D, None, _v(MMC, "SEND CUE SHEET", OUT, WM, L0, "SendCueSheet"), std=("MMC-6",))

# ---- group 3: reserved, 7Eh extended CDB, 7Fh variable length
_spc(
    0x7E,
    None,
    "EXTENDED CDB",
    BIDI,
    UNK,
    L0,
    None,
    std="SPC-4 (XCDB; removed in SPC-5)",
    length=0,
    note="variable length: an extended CDB wraps another CDB with extension descriptors",
)
for _sa, _nm, _dir, _eff in (
    (0x0003, "XDREAD (32)", IN, RM),
    (0x0004, "XDWRITE (32)", OUT, WM),
    (0x0006, "XPWRITE (32)", OUT, WM),
    (0x0007, "XDWRITEREAD (32)", BIDI, RM | WM),
):
    _row(
        0x7F,
        _sa,
        _v(SBC, _nm, _dir, _eff, LC, "XorCommand32"),
        length=32,
        note=_VAR,
        std=("SBC-3 (obsolete in SBC-4)",),
    )
_row(
    0x7F,
    0x000F,
    _v(SBC, "WRITE ATOMIC (32)", OUT, WM, LC, "WriteAtomic32"),
    length=32,
    note=_VAR,
    std=("SBC-4",),
)
_row(
    0x7F,
    0x0010,
    _v(SBC, "WRITE STREAM (32)", OUT, WM, LC, "WriteStream32"),
    length=32,
    note=_VAR,
    std=("SBC-4",),
)
_row(
    0x7F,
    0x0011,
    _v(SBC, "WRITE SCATTERED (32)", OUT, WM, LSC, "WriteScattered32"),
    length=32,
    note=_VAR,
    std=("SBC-4",),
)

# ---- group 4 (16-byte)
_row(
    0x80,
    None,
    _v(SBC, "XDWRITE EXTENDED (16)", OUT, WM, LC, "XdWriteExtended16"),
    _v(SSC, "WRITE FILEMARKS (16)", NO, WM, L0, "WriteFilemarks16"),
    std=("SBC-3 (obsolete)", "SSC-5"),
)
_row(
    0x81,
    None,
    _v(SBC, "REBUILD (16)", OUT, RM | WM, LC, "XdWriteExtended16"),
    _v(SSC, "READ REVERSE (16)", IN, RM, L0, "ReadReverse16"),
    std=("SBC-2 (obsolete)", "SSC-3"),
)
_row(
    0x82,
    None,
    _v(SBC, "REGENERATE (16)", OUT, RM | WM, LC, "XdWriteExtended16"),
    _v(SSC, "ALLOW OVERWRITE", NO, DS, L0, "AllowOverwrite"),
    std=("SBC-2 (obsolete)", "SSC-5"),
)
_spc(0x86, None, "ACCESS CONTROL IN", IN, E0, L0, "AccessControl", std="SPC-3 (removed)")
_spc(0x87, None, "ACCESS CONTROL OUT", OUT, DS | SEC, L0, "AccessControl", std="SPC-3 (removed)")
_spc(0x8C, None, "READ ATTRIBUTE", IN, E0, L0, "ReadAttribute", std="SPC-5")
_spc(0x8D, None, "WRITE ATTRIBUTE", OUT, DS, L0, "WriteAttribute", std="SPC-5")
_row(
    0x92,
    None,
    _v(SBC, "LOCK UNLOCK CACHE (16)", NO, E0, LC, "LockUnlockCache16"),
    _v(SSC, "LOCATE (16)", NO, E0, L0, "Locate16"),
    std=("SBC-3", "SSC-5"),
)
for _sa, _nm, _eff in (
    (0x01, "CLOSE ZONE", DS),
    (0x02, "FINISH ZONE", DS | WM),
    (0x03, "OPEN ZONE", DS),
    (0x04, "RESET WRITE POINTER", ER | WM),
    (0x10, "SEQUENTIALIZE ZONE", DS),
):
    _row(0x94, _sa, _v(SBC, _nm, NO, _eff, LC, "ZbcOut"), std=("ZBC-2.x ZBC OUT",))
for _sa, _nm, _dir, _eff in (
    (0x00, "REPORT ZONES", IN, E0),
    (0x06, "REPORT REALMS", IN, E0),
    (0x07, "REPORT ZONE DOMAINS", IN, E0),
    (0x08, "ZONE ACTIVATE", IN, DS),
    (0x09, "ZONE QUERY", IN, E0),
):
    _row(0x95, _sa, _v(SBC, _nm, _dir, _eff, L0, "ZbcIn"), std=("ZBC-2.x ZBC IN",))
_row(0x9A, None, _v(SBC, "WRITE STREAM (16)", OUT, WM, LC, "WriteStream16"), std=("SBC-4",))
_spc(0x9B, None, "READ BUFFER (16)", IN, E0, L0, "ReadBuffer16", std="SPC-5")
_row(0x9C, None, _v(SBC, "WRITE ATOMIC (16)", OUT, WM, LC, "WriteAtomic16"), std=("SBC-4",))
_spc(
    0x9D,
    None,
    "SERVICE ACTION BIDIRECTIONAL",
    BIDI,
    UNK,
    L0,
    "ServiceAction16",
    std="SPC-5 (no service actions defined)",
)
for _sa, _nm, _dir, _eff, _lba, _lay in (
    (0x11, "READ LONG (16)", IN, RM, LC, "ReadLong16"),
    (0x13, "REPORT REFERRALS", IN, E0, L0, "ReportReferrals"),
    (0x14, "STREAM CONTROL", IN, DS, L0, "StreamControl"),
    (0x15, "BACKGROUND CONTROL", NO, DS, L0, "BackgroundControl"),
    (0x16, "GET STREAM STATUS", IN, E0, L0, "GetStreamStatus"),
    (0x17, "GET PHYSICAL ELEMENT STATUS", IN, E0, L0, "GetPhysicalElementStatus"),
    (0x18, "REMOVE ELEMENT AND TRUNCATE", NO, DS | ER, L0, "RemoveElementAndTruncate"),
    (0x19, "RESTORE ELEMENTS AND REBUILD", NO, DS, L0, "RestoreElementsAndRebuild"),
    (0x1A, "REMOVE ELEMENT AND MODIFY ZONES", NO, DS | ER, L0, "RemoveElementAndModifyZones"),
):
    _row(0x9E, _sa, _v(SBC, _nm, _dir, _eff, _lba, _lay), std=("SBC-4 SERVICE ACTION IN (16)",))
_row(
    0x9F,
    0x12,
    _v(SBC, "WRITE SCATTERED (16)", OUT, WM, LSC, "WriteScattered16"),
    std=("SBC-4",),
)

# ---- group 5 (12-byte)
_NOT_MMC = ALL - MMC
for _sa, _nm, _eff, _lay in (
    (0x05, "REPORT IDENTIFYING INFORMATION", E0, "ReportIdentifyingInformation"),
    (0x0A, "REPORT TARGET PORT GROUPS", E0, "ReportTargetPortGroups"),
    (0x0B, "REPORT ALIASES", E0, "MaintenanceIn"),
    (0x0E, "REPORT PRIORITY", E0, "ReportPriority"),
    (0x0F, "REPORT TIMESTAMP", E0, "MaintenanceIn"),
    (0x10, "MANAGEMENT PROTOCOL IN", E0, "ManagementProtocolIn"),
    (0x1F, "MAINTENANCE IN (vendor specific)", UNK, "MaintenanceInSpecific"),
):
    _row(0xA3, _sa, _v(_NOT_MMC, _nm, IN, _eff, L0, _lay), std=("SPC-5 MAINTENANCE IN",))
_row(
    0xA3,
    0x1D,
    _v(SBC, "REPORT PROVISIONING INITIALIZATION PATTERN", IN, E0, L0, "MaintenanceInSpecific"),
    _v(SSC, "RECEIVE RECOMMENDED ACCESS ORDER", IN, E0, L0, "MaintenanceInSpecific"),
    std=("SBC-4", "SSC-5"),
)
_row(
    0xA3,
    0x1E,
    _v(SSC, "READ DYNAMIC RUNTIME ATTRIBUTE", IN, E0, L0, "MaintenanceInSpecific"),
    std=("SSC-5",),
)
_row(0xA3, None, _v(MMC, "SEND KEY", OUT, SEC, L0, "SendKey"), std=("MMC-6",))
for _sa, _nm, _eff, _lay in (
    (0x06, "SET IDENTIFYING INFORMATION", DS, "SetIdentifyingInformation"),
    (0x0A, "SET TARGET PORT GROUPS", DS, "MaintenanceOut"),
    (0x0B, "CHANGE ALIASES", DS, "MaintenanceOut"),
    (0x0C, "REMOVE I_T NEXUS", DS, "MaintenanceOut"),
    (0x0E, "SET PRIORITY", DS, "SetPriority"),
    (0x0F, "SET TIMESTAMP", DS, "MaintenanceOut"),
    (0x10, "MANAGEMENT PROTOCOL OUT", DS | SEC, "ManagementProtocolOut"),
    (0x1F, "MAINTENANCE OUT (vendor specific)", UNK, "MaintenanceOutSpecific"),
):
    _row(0xA4, _sa, _v(_NOT_MMC, _nm, OUT, _eff, L0, _lay), std=("SPC-5 MAINTENANCE OUT",))
_row(
    0xA4,
    0x1D,
    _v(SSC, "GENERATE RECOMMENDED ACCESS ORDER", OUT, DS, L0, "MaintenanceOutSpecific"),
    std=("SSC-5",),
)
_row(
    0xA4,
    0x1E,
    _v(SSC, "WRITE DYNAMIC RUNTIME ATTRIBUTE", OUT, DS, L0, "MaintenanceOutSpecific"),
    std=("SSC-5",),
)
_row(0xA4, None, _v(MMC, "REPORT KEY", IN, SEC, L0, "ReportKey"), std=("MMC-6",))
_row(
    0xA5,
    None,
    _v(MMC, "PLAY AUDIO (12)", NO, RM, LC, "PlayAudio12"),
    _v(SMC, "MOVE MEDIUM", NO, DS, L0, "MoveMedium"),
    std=("MMC-6", "SMC-3"),
)
_row(
    0xA6,
    None,
    _v(MMC, "LOAD/UNLOAD MEDIUM", NO, DS, L0, "LoadUnloadMedium"),
    _v(SMC, "EXCHANGE MEDIUM", NO, DS, L0, "ExchangeMedium"),
    std=("MMC-6", "SMC-3"),
)
_row(0xA7, None, _v(MMC, "SET READ AHEAD", NO, E0, L0, "SetReadAhead"), std=("MMC-6",))
_spc(
    0xA9,
    None,
    "SERVICE ACTION OUT (12)",
    OUT,
    UNK,
    L0,
    None,
    std="SPC-5 (no service action defined for SBC, MMC, SSC, SMC)",
)
_spc(0xAB, 0x01, "READ MEDIA SERIAL NUMBER", IN, E0, L0, "ReadMediaSerialNumber", std="SPC-5")
_row(0xAC, None, _v(MMC, "GET PERFORMANCE", IN, E0, L0, "GetPerformance"), std=("MMC-6",))
_row(0xAD, None, _v(MMC, "READ DISC STRUCTURE", IN, E0, L0, "ReadDiscStructure"), std=("MMC-6",))
_row(
    0xB0,
    None,
    _v(SBC, "SEARCH DATA HIGH (12)", OUT, RM, LC, "SearchData12"),
    std=("SBC-1 (obsolete)",),
)
_row(
    0xB1,
    None,
    _v(SBC, "SEARCH DATA EQUAL (12)", OUT, RM, LC, "SearchData12"),
    _v(SMC, "OPEN/CLOSE IMPORT/EXPORT ELEMENT", NO, DS, L0, "OpenCloseImportExportElement"),
    std=("SBC-1 (obsolete)", "SMC-3"),
)
_row(
    0xB2,
    None,
    _v(SBC, "SEARCH DATA LOW (12)", OUT, RM, LC, "SearchData12"),
    std=("SBC-1 (obsolete)",),
)
_row(0xB3, None, _v(SBC, "SET LIMITS (12)", NO, E0, LC, "SearchData12"), std=("SBC-1 (obsolete)",))
_row(
    0xB6,
    None,
    _v(MMC, "SET STREAMING", OUT, DS, L0, "SetStreaming"),
    _v(SMC, "SEND VOLUME TAG", OUT, DS, L0, "SendVolumeTag"),
    std=("MMC-6", "SMC-3"),
)
_row(
    0xB7,
    None,
    _v(SBC, "READ DEFECT DATA (12)", IN, E0, L0, "ReadDefectData12"),
    std=("SBC-4",),
)
_row(0xB8, None, _v(SMC, "READ ELEMENT STATUS", IN, E0, L0, "ReadElementStatus"), std=("SMC-3",))
_row(0xB9, None, _v(MMC, "READ CD MSF", IN, RM, L0, "ReadCdMsf"), std=("MMC-6",))
_row(0xBA, None, _v(MMC, "SCAN", NO, RM, L0, "Scan"), std=("MMC-6 (obsolete)",))
_row(0xBB, None, _v(MMC, "SET CD SPEED", NO, DS, L0, "SetCdSpeed"), std=("MMC-6",))
_row(0xBC, None, _v(MMC, "PLAY CD", NO, RM, LC, "PlayCd"), std=("MMC-2 (obsolete)",))
_row(0xBD, None, _v(MMC, "MECHANISM STATUS", IN, E0, L0, "MechanismStatus"), std=("MMC-6",))
_row(0xBE, None, _v(MMC, "READ CD", IN, RM, LC, "ReadCd"), std=("MMC-6",))
_row(
    0xBF,
    None,
    _v(MMC, "SEND DISC STRUCTURE", OUT, DS | SEC, L0, "SendDiscStructure"),
    std=("MMC-6",),
)

# ---- every opcode without a row: reserved (groups 0-5) or vendor specific (groups 6-7)
_DEFINED = {r.opcode for r in _ROWS}
for _op in range(256):
    if _op in _DEFINED:
        continue
    if _op >= 0xC0:
        _spc(
            _op,
            None,
            "VENDOR SPECIFIC",
            BIDI,
            UNK,
            L0,
            None,
            std="SPC-5 (groups 6 and 7)",
            note="vendor specific: the vendor sets the CDB length (Linux assumes 10 bytes)",
        )
    else:
        _spc(
            _op,
            None,
            "RESERVED",
            BIDI,
            UNK,
            L0,
            None,
            std="SPC-5",
            note="reserved: no CDB length defined" if (_op >> 5) == 3 else "",
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
