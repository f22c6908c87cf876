"""ATA PASS-THROUGH (12/16/32): the taskfile, the ATA command it carries, its LBAs and effects.

Owns the SAT-4 view of an ATA PASS-THROUGH CDB as an ATA taskfile
(`taskfile(obj)`: FEATURES, COUNT, LBA, DEVICE, COMMAND, with EXTEND choosing
the 48-bit registers and DEVICE bits 3-0 giving LBA 27:24 of 28-bit commands),
a table of ATA commands (ACS-4 names, what they can do, how they address
LBAs: LBA28, LBA48, NCQ with the count in FEATURES, DATA SET MANAGEMENT ranges
in the data-out, whole device for SECURITY ERASE UNIT and SANITIZE), and
`ata_lba_ranges(obj, data_out)`. T_DIR/BYT_BLOK/T_LENGTH say how SCSI moves the
data (SAT-4); `transfer_blocks` reports the length they name.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sgguard.scsi.cdb_layouts import AtaPassThrough12, AtaPassThrough16, AtaPassThrough32
from sgguard.scsi.model import Effect, LbaRange

__all__ = [
    "ATA_COMMANDS",
    "PROTOCOLS",
    "AtaAccess",
    "AtaCommandDef",
    "AtaTaskfile",
    "AtaTransfer",
    "ata_command",
    "ata_effects",
    "ata_lba_ranges",
    "taskfile",
    "transfer",
]

AtaCdb = AtaPassThrough12 | AtaPassThrough16 | AtaPassThrough32


class AtaAccess(enum.Enum):
    """How an ATA command addresses the medium."""

    NONE = "none"
    LBA28 = "lba28"  # LBA 27:0, COUNT 7:0 (0 = 256 sectors)
    LBA48 = "lba48"  # LBA 47:0, COUNT 15:0 (0 = 65536 sectors)
    NCQ = "ncq"  # LBA 47:0, sector count in FEATURES 15:0 (0 = 65536)
    DSM = "dsm"  # DATA SET MANAGEMENT: 8-byte LBA range entries in the data-out
    WHOLE = "whole"  # the whole device (erase, sanitize, format)


@dataclass(frozen=True, slots=True)
class AtaCommandDef:
    code: int
    name: str
    effects: Effect
    access: AtaAccess = AtaAccess.NONE


@dataclass(frozen=True, slots=True)
class AtaTaskfile:
    """The ATA registers an ATA PASS-THROUGH CDB loads (SAT-4)."""

    command: int
    features: int
    count: int
    lba: int
    device: int
    extend: bool  # 48-bit registers valid
    protocol: int
    t_dir: bool  # True: from the device (data-in)
    byt_blok: bool
    t_length: int
    t_type: bool
    ck_cond: bool
    auxiliary: int = 0
    icc: int = 0


# SAT-4 PROTOCOL field values.
PROTOCOLS: dict[int, str] = {
    0: "ATA hardware reset",
    1: "software reset",
    3: "non-data",
    4: "PIO data-in",
    5: "PIO data-out",
    6: "DMA",
    8: "execute device diagnostic",
    9: "non-data reset",
    10: "UDMA data-in",
    11: "UDMA data-out",
    12: "NCQ (FPDMA)",
    15: "return response information",
}


@dataclass(frozen=True, slots=True)
class AtaTransfer:
    """How SCSI moves the ATA command's data (SAT-4: T_DIR, BYT_BLOK, T_TYPE, T_LENGTH)."""

    direction: str  # "none", "in" (from the device), "out" (to the device)
    length_field: str  # "none", "features", "count", "tpsiu"
    length: int | None  # the value of that field (None for none/tpsiu)
    unit: str  # "bytes", "512-byte blocks", "logical sectors"


def transfer(tf: AtaTaskfile) -> AtaTransfer:
    """The data transfer an ATA PASS-THROUGH CDB announces."""
    where = ("none", "features", "count", "tpsiu")[tf.t_length & 3]
    length = {"features": tf.features, "count": tf.count}.get(where)
    if not tf.byt_blok:
        unit = "bytes"
    else:
        unit = "logical sectors" if tf.t_type else "512-byte blocks"
    direction = "none" if where == "none" else ("in" if tf.t_dir else "out")
    return AtaTransfer(direction, where, length, unit)


_E0 = Effect.NONE
_RM = Effect.READS_MEDIA
_WM = Effect.WRITES_MEDIA
_ER = Effect.ERASES
_DS = Effect.DEVICE_STATE
_FW = Effect.FIRMWARE
_SEC = Effect.SECURITY
_A = AtaAccess


def _c(code: int, name: str, eff: Effect, access: AtaAccess = AtaAccess.NONE) -> AtaCommandDef:
    return AtaCommandDef(code, name, eff, access)


# ACS-4 (T13) command codes.
ATA_COMMANDS: dict[int, AtaCommandDef] = {
    c.code: c
    for c in (
        _c(0x00, "NOP", _E0),
        _c(0x03, "CFA REQUEST EXTENDED ERROR", _E0),
        _c(0x06, "DATA SET MANAGEMENT", _ER, _A.DSM),
        _c(0x07, "DATA SET MANAGEMENT XL", _ER, _A.DSM),
        _c(0x08, "DEVICE RESET", _DS),
        _c(0x0B, "REQUEST SENSE DATA EXT", _E0),
        _c(0x10, "RECALIBRATE", _E0),
        _c(0x12, "GET PHYSICAL ELEMENT STATUS", _E0),
        _c(0x20, "READ SECTOR(S)", _RM, _A.LBA28),
        _c(0x21, "READ SECTOR(S) WITHOUT RETRY", _RM, _A.LBA28),
        _c(0x24, "READ SECTOR(S) EXT", _RM, _A.LBA48),
        _c(0x25, "READ DMA EXT", _RM, _A.LBA48),
        _c(0x26, "READ DMA QUEUED EXT", _RM, _A.LBA48),
        _c(0x27, "READ NATIVE MAX ADDRESS EXT", _E0),
        _c(0x29, "READ MULTIPLE EXT", _RM, _A.LBA48),
        _c(0x2A, "READ STREAM DMA EXT", _RM, _A.LBA48),
        _c(0x2B, "READ STREAM EXT", _RM, _A.LBA48),
        _c(0x2F, "READ LOG EXT", _E0),
        _c(0x30, "WRITE SECTOR(S)", _WM, _A.LBA28),
        _c(0x31, "WRITE SECTOR(S) WITHOUT RETRY", _WM, _A.LBA28),
        _c(0x34, "WRITE SECTOR(S) EXT", _WM, _A.LBA48),
        _c(0x35, "WRITE DMA EXT", _WM, _A.LBA48),
        _c(0x36, "WRITE DMA QUEUED EXT", _WM, _A.LBA48),
        _c(0x37, "SET MAX ADDRESS EXT", _DS),
        _c(0x38, "CFA WRITE SECTORS WITHOUT ERASE", _WM, _A.LBA28),
        _c(0x39, "WRITE MULTIPLE EXT", _WM, _A.LBA48),
        _c(0x3A, "WRITE STREAM DMA EXT", _WM, _A.LBA48),
        _c(0x3B, "WRITE STREAM EXT", _WM, _A.LBA48),
        _c(0x3C, "WRITE VERIFY", _WM, _A.LBA28),
        _c(0x3D, "WRITE DMA FUA EXT", _WM, _A.LBA48),
        _c(0x3E, "WRITE DMA QUEUED FUA EXT", _WM, _A.LBA48),
        _c(0x3F, "WRITE LOG EXT", _DS),
        _c(0x40, "READ VERIFY SECTOR(S)", _RM, _A.LBA28),
        _c(0x41, "READ VERIFY SECTOR(S) WITHOUT RETRY", _RM, _A.LBA28),
        _c(0x42, "READ VERIFY SECTOR(S) EXT", _RM, _A.LBA48),
        _c(0x44, "ZERO EXT", _WM | _ER, _A.LBA48),
        _c(0x45, "WRITE UNCORRECTABLE EXT", _WM, _A.LBA48),
        _c(0x47, "READ LOG DMA EXT", _E0),
        _c(0x4A, "ZAC MANAGEMENT IN", _E0),
        _c(0x50, "FORMAT TRACK", _WM | _ER, _A.WHOLE),
        _c(0x51, "CONFIGURE STREAM", _DS),
        _c(0x57, "WRITE LOG DMA EXT", _DS),
        _c(0x5B, "TRUSTED NON-DATA", _SEC),
        _c(0x5C, "TRUSTED RECEIVE", _SEC),
        _c(0x5D, "TRUSTED RECEIVE DMA", _SEC),
        _c(0x5E, "TRUSTED SEND", _SEC | _ER),
        _c(0x5F, "TRUSTED SEND DMA", _SEC | _ER),
        _c(0x60, "READ FPDMA QUEUED", _RM, _A.NCQ),
        _c(0x61, "WRITE FPDMA QUEUED", _WM, _A.NCQ),
        _c(0x63, "NCQ NON-DATA", _ER | _DS),
        _c(0x64, "SEND FPDMA QUEUED", _ER | _DS),
        _c(0x65, "RECEIVE FPDMA QUEUED", _E0),
        _c(0x70, "SEEK", _E0),
        _c(0x77, "SET DATE & TIME EXT", _DS),
        _c(0x78, "ACCESSIBLE MAX ADDRESS CONFIGURATION", _DS),
        _c(0x7C, "REMOVE ELEMENT AND TRUNCATE", _DS | _ER),
        _c(0x87, "CFA TRANSLATE SECTOR", _E0),
        _c(0x90, "EXECUTE DEVICE DIAGNOSTIC", _E0),
        _c(0x91, "INITIALIZE DEVICE PARAMETERS", _DS),
        _c(0x92, "DOWNLOAD MICROCODE", _FW),
        _c(0x93, "DOWNLOAD MICROCODE DMA", _FW),
        _c(0x9F, "ZAC MANAGEMENT OUT", _ER | _DS, _A.WHOLE),
        _c(0xA0, "PACKET", _RM | _WM | _DS),
        _c(0xA1, "IDENTIFY PACKET DEVICE", _E0),
        _c(0xB0, "SMART", _DS),
        _c(0xB1, "DEVICE CONFIGURATION OVERLAY", _DS),
        _c(0xB4, "SANITIZE DEVICE", _ER | _WM, _A.WHOLE),
        _c(0xB6, "NV CACHE", _DS),
        _c(0xC0, "CFA ERASE SECTORS", _ER, _A.LBA28),
        _c(0xC4, "READ MULTIPLE", _RM, _A.LBA28),
        _c(0xC5, "WRITE MULTIPLE", _WM, _A.LBA28),
        _c(0xC6, "SET MULTIPLE MODE", _DS),
        _c(0xC7, "READ DMA QUEUED", _RM, _A.LBA28),
        _c(0xC8, "READ DMA", _RM, _A.LBA28),
        _c(0xC9, "READ DMA WITHOUT RETRY", _RM, _A.LBA28),
        _c(0xCA, "WRITE DMA", _WM, _A.LBA28),
        _c(0xCB, "WRITE DMA WITHOUT RETRY", _WM, _A.LBA28),
        _c(0xCC, "WRITE DMA QUEUED", _WM, _A.LBA28),
        _c(0xCD, "CFA WRITE MULTIPLE WITHOUT ERASE", _WM, _A.LBA28),
        _c(0xCE, "WRITE MULTIPLE FUA EXT", _WM, _A.LBA48),
        _c(0xD1, "CHECK MEDIA CARD TYPE", _E0),
        _c(0xDA, "GET MEDIA STATUS", _E0),
        _c(0xDE, "MEDIA LOCK", _DS),
        _c(0xDF, "MEDIA UNLOCK", _DS),
        _c(0xE0, "STANDBY IMMEDIATE", _DS),
        _c(0xE1, "IDLE IMMEDIATE", _DS),
        _c(0xE2, "STANDBY", _DS),
        _c(0xE3, "IDLE", _DS),
        _c(0xE4, "READ BUFFER", _E0),
        _c(0xE5, "CHECK POWER MODE", _E0),
        _c(0xE6, "SLEEP", _DS),
        _c(0xE7, "FLUSH CACHE", _E0),
        _c(0xE8, "WRITE BUFFER", _E0),
        _c(0xE9, "READ BUFFER DMA", _E0),
        _c(0xEA, "FLUSH CACHE EXT", _E0),
        _c(0xEB, "WRITE BUFFER DMA", _E0),
        _c(0xEC, "IDENTIFY DEVICE", _E0),
        _c(0xED, "MEDIA EJECT", _DS),
        _c(0xEF, "SET FEATURES", _DS),
        _c(0xF1, "SECURITY SET PASSWORD", _SEC),
        _c(0xF2, "SECURITY UNLOCK", _SEC),
        _c(0xF3, "SECURITY ERASE PREPARE", _SEC),
        _c(0xF4, "SECURITY ERASE UNIT", _SEC | _ER | _WM, _A.WHOLE),
        _c(0xF5, "SECURITY FREEZE LOCK", _SEC),
        _c(0xF6, "SECURITY DISABLE PASSWORD", _SEC),
        _c(0xF8, "READ NATIVE MAX ADDRESS", _E0),
        _c(0xF9, "SET MAX ADDRESS", _DS | _SEC),
    )
}

_SMART_FEATURES = {
    0xD0: ("SMART READ DATA", _E0),
    0xD1: ("SMART READ ATTRIBUTE THRESHOLDS", _E0),
    0xD2: ("SMART ENABLE/DISABLE ATTRIBUTE AUTOSAVE", _DS),
    0xD3: ("SMART SAVE ATTRIBUTE VALUES", _DS),
    0xD4: ("SMART EXECUTE OFF-LINE IMMEDIATE", _DS),
    0xD5: ("SMART READ LOG", _E0),
    0xD6: ("SMART WRITE LOG", _DS),
    0xD8: ("SMART ENABLE OPERATIONS", _DS),
    0xD9: ("SMART DISABLE OPERATIONS", _DS),
    0xDA: ("SMART RETURN STATUS", _E0),
}
_SANITIZE_FEATURES = {
    0x0000: ("SANITIZE STATUS EXT", _E0, _A.NONE),
    0x0011: ("CRYPTO SCRAMBLE EXT", _ER | _WM, _A.WHOLE),
    0x0012: ("BLOCK ERASE EXT", _ER | _WM, _A.WHOLE),
    0x0014: ("OVERWRITE EXT", _ER | _WM, _A.WHOLE),
    0x0020: ("SANITIZE FREEZE LOCK EXT", _DS, _A.NONE),
    0x0040: ("SANITIZE ANTIFREEZE LOCK EXT", _DS, _A.NONE),
}
_DOWNLOAD_MODES = {
    0x01: "temporary (obsolete)",
    0x03: "with offsets and save",
    0x07: "save",
    0x0E: "with offsets, defer activation",
    0x0F: "activate deferred",
}


def taskfile(obj: AtaCdb) -> AtaTaskfile:
    """The ATA taskfile an ATA PASS-THROUGH CDB carries.

    For (12) and for (16)/(32) with EXTEND = 0 the 48-bit (previous content)
    registers are not loaded and read as zero; 28-bit commands take LBA 27:24
    from DEVICE bits 3-0 (`ata_lba_ranges` does that per command).
    """
    if isinstance(obj, AtaPassThrough12):
        return AtaTaskfile(
            obj.command,
            obj.features,
            obj.count,
            (obj.lba_high << 16) | (obj.lba_mid << 8) | obj.lba_low,
            obj.device,
            False,
            obj.protocol,
            obj.t_dir,
            obj.byt_blok,
            obj.t_length,
            obj.t_type,
            obj.ck_cond,
        )
    if isinstance(obj, AtaPassThrough16):
        low = (obj.lba_23_16 << 16) | (obj.lba_15_8 << 8) | obj.lba_7_0
        if obj.extend:
            lba = (obj.lba_47_40 << 40) | (obj.lba_39_32 << 32) | (obj.lba_31_24 << 24) | low
            features = (obj.features_15_8 << 8) | obj.features_7_0
            count = (obj.count_15_8 << 8) | obj.count_7_0
        else:
            lba, features, count = low, obj.features_7_0, obj.count_7_0
        return AtaTaskfile(
            obj.command,
            features,
            count,
            lba,
            obj.device,
            obj.extend,
            obj.protocol,
            obj.t_dir,
            obj.byt_blok,
            obj.t_length,
            obj.t_type,
            obj.ck_cond,
        )
    if obj.extend:
        lba, features, count = obj.lba_47_0, obj.features_15_0, obj.count_15_0
    else:
        lba = obj.lba_47_0 & 0xFFFFFF
        features = obj.features_15_0 & 0xFF
        count = obj.count_15_0 & 0xFF
    return AtaTaskfile(
        obj.command,
        features,
        count,
        lba,
        obj.device,
        obj.extend,
        obj.protocol,
        obj.t_dir,
        obj.byt_blok,
        obj.t_length,
        obj.t_type,
        obj.ck_cond,
        obj.auxiliary,
        obj.icc,
    )


def ata_command(tf: AtaTaskfile) -> AtaCommandDef:
    """The ATA command of a taskfile, refined by FEATURES where it selects a subcommand."""
    base = ATA_COMMANDS.get(tf.command)
    if base is None:
        return AtaCommandDef(
            tf.command,
            f"ATA command {tf.command:02X}h (unknown)",
            Effect.UNKNOWN,
            AtaAccess.WHOLE,
        )
    if tf.command == 0xB0:
        name, eff = _SMART_FEATURES.get(
            tf.features & 0xFF, (f"SMART feature {tf.features:02X}h", _DS)
        )
        return AtaCommandDef(0xB0, name, eff)
    if tf.command == 0xB4:
        name, eff, acc = _SANITIZE_FEATURES.get(
            tf.features, (f"SANITIZE DEVICE feature {tf.features:04X}h", _ER | _WM, _A.WHOLE)
        )
        return AtaCommandDef(0xB4, name, eff, acc)
    if tf.command in (0x92, 0x93):
        mode = _DOWNLOAD_MODES.get(tf.features & 0xFF, f"subcommand {tf.features & 0xFF:02X}h")
        return AtaCommandDef(tf.command, f"{base.name} ({mode})", base.effects, base.access)
    if tf.command in (0x06, 0x07):
        trim = bool(tf.features & 0x01)
        name = base.name + (" (TRIM)" if trim else "")
        return AtaCommandDef(tf.command, name, base.effects if trim else _E0, base.access)
    return base


def ata_effects(obj: AtaCdb) -> Effect:
    """What the carried ATA command can do, plus ATA_PASSTHROUGH."""
    return ata_command(taskfile(obj)).effects | Effect.ATA_PASSTHROUGH


def _dsm_ranges(data: bytes, count: int) -> tuple[LbaRange, ...]:
    """ACS-4 7.5.6: LBA range entries, 8 bytes little-endian: LBA 47:0, RANGE LENGTH 63:48."""
    limit = len(data) if count == 0 else min(len(data), count * 512)
    out: list[LbaRange] = []
    for off in range(0, limit - limit % 8, 8):
        entry = int.from_bytes(data[off : off + 8], "little")
        length = entry >> 48
        if length:
            out.append(LbaRange(entry & 0xFFFF_FFFF_FFFF, length))
    return tuple(out)


def ata_lba_ranges(obj: AtaCdb, data_out: bytes | None = None) -> tuple[LbaRange, ...]:
    """The LBA range of the ATA command an ATA PASS-THROUGH CDB carries."""
    tf = taskfile(obj)
    cmd = ata_command(tf)
    acc = cmd.access
    if acc is AtaAccess.NONE:
        return ()
    if acc is AtaAccess.WHOLE:
        return (LbaRange(0, 0, True),)
    if acc is AtaAccess.LBA28:
        lba = ((tf.device & 0x0F) << 24) | (tf.lba & 0xFFFFFF)
        count = tf.count & 0xFF
        return (LbaRange(lba, count or 256),)
    if acc is AtaAccess.LBA48:
        return (LbaRange(tf.lba, tf.count or 65536),)
    if acc is AtaAccess.NCQ:
        return (LbaRange(tf.lba, tf.features or 65536),)
    # DSM: the ranges are in the data-out; COUNT gives 512-byte blocks of entries
    if not tf.features & 0x01:
        return ()
    if data_out is None:
        return (LbaRange(0, 0, True),)
    return _dsm_ranges(bytes(data_out), tf.count)
