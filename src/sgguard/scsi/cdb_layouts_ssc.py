"""CDB layouts of the SSC-5 (tape) and SMC-3 (medium changer) commands.

Owns the field-by-field shape of the sequential-access and medium-changer
commands that differ from SPC-5 and SBC-4 (declared like
`sgguard.scsi.cdb_layouts`). Tape commands address logical objects within a
partition, not LBAs of a block device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from sgguard.scsi.layout import Cdb, const, flag, layout, reserved, u

__all__ = [
    "AllowOverwrite",
    "Erase6",
    "Erase16",
    "ExchangeMedium",
    "FormatMedium",
    "InitializeElementStatus",
    "InitializeElementStatusWithRange",
    "LoadUnload",
    "Locate10",
    "Locate16",
    "MoveMedium",
    "OpenCloseImportExportElement",
    "PositionToElement",
    "ReadBlockLimits",
    "ReadElementStatus",
    "ReadPosition",
    "ReadReverse6",
    "ReadReverse16",
    "RecoverBufferedData",
    "ReportDensitySupport",
    "RequestVolumeElementAddress",
    "Rewind",
    "SendVolumeTag",
    "SetCapacity",
    "Space6",
    "Space16",
    "TapeRead6",
    "TapeRead16",
    "TapeVerify6",
    "TapeVerify16",
    "TapeWrite6",
    "TapeWrite16",
    "WriteFilemarks6",
    "WriteFilemarks16",
]

# --------------------------------------------------------------------------- SSC-5


@layout(6)
@dataclass(frozen=True, slots=True)
class Rewind(Cdb):
    """SSC-5 REWIND."""

    operation_code: ClassVar[int] = const(8, 0x01)
    reserved_1: ClassVar[None] = reserved(7)
    immed: bool = flag()
    reserved_2: ClassVar[None] = reserved(24)
    control: int = u(8)


@layout(6)
@dataclass(frozen=True, slots=True)
class FormatMedium(Cdb):
    """SSC-5 FORMAT MEDIUM: erases the medium."""

    operation_code: ClassVar[int] = const(8, 0x04)
    reserved_1: ClassVar[None] = reserved(6)
    verify: bool = flag()
    immed: bool = flag()
    reserved_2: ClassVar[None] = reserved(4)
    format: int = u(4)
    transfer_length: int = u(16)
    control: int = u(8)


@layout(6)
@dataclass(frozen=True, slots=True)
class ReadBlockLimits(Cdb):
    """SSC-5 READ BLOCK LIMITS."""

    operation_code: ClassVar[int] = const(8, 0x05)
    reserved_1: ClassVar[None] = reserved(7)
    mloi: bool = flag()
    reserved_2: ClassVar[None] = reserved(24)
    control: int = u(8)


@layout(6)
@dataclass(frozen=True, slots=True)
class TapeRead6(Cdb):
    """SSC-5 READ (6)."""

    operation_code: ClassVar[int] = const(8, 0x08)
    reserved_1: ClassVar[None] = reserved(6)
    sili: bool = flag()
    fixed: bool = flag()
    transfer_length: int = u(24)
    control: int = u(8)


@layout(6)
@dataclass(frozen=True, slots=True)
class TapeWrite6(Cdb):
    """SSC-5 WRITE (6)."""

    operation_code: ClassVar[int] = const(8, 0x0A)
    reserved_1: ClassVar[None] = reserved(7)
    fixed: bool = flag()
    transfer_length: int = u(24)
    control: int = u(8)


@layout(6)
@dataclass(frozen=True, slots=True)
class SetCapacity(Cdb):
    """SSC-5 SET CAPACITY."""

    operation_code: ClassVar[int] = const(8, 0x0B)
    reserved_1: ClassVar[None] = reserved(7)
    immed: bool = flag()
    reserved_2: ClassVar[None] = reserved(8)
    capacity_proportion_value: int = u(16)
    control: int = u(8)


@layout(6)
@dataclass(frozen=True, slots=True)
class ReadReverse6(Cdb):
    """SSC-3 READ REVERSE (6)."""

    operation_code: ClassVar[int] = const(8, 0x0F)
    reserved_1: ClassVar[None] = reserved(5)
    bytord: bool = flag()
    sili: bool = flag()
    fixed: bool = flag()
    transfer_length: int = u(24)
    control: int = u(8)


@layout(6)
@dataclass(frozen=True, slots=True)
class WriteFilemarks6(Cdb):
    """SSC-5 WRITE FILEMARKS (6)."""

    operation_code: ClassVar[int] = const(8, 0x10)
    reserved_1: ClassVar[None] = reserved(6)
    wmsk: bool = flag()
    immed: bool = flag()
    filemark_count: int = u(24)
    control: int = u(8)


@layout(6)
@dataclass(frozen=True, slots=True)
class Space6(Cdb):
    """SSC-5 SPACE (6): COUNT is a signed 24-bit value."""

    operation_code: ClassVar[int] = const(8, 0x11)
    reserved_1: ClassVar[None] = reserved(4)
    code: int = u(4)
    count: int = u(24)
    control: int = u(8)


@layout(6)
@dataclass(frozen=True, slots=True)
class TapeVerify6(Cdb):
    """SSC-5 VERIFY (6)."""

    operation_code: ClassVar[int] = const(8, 0x13)
    reserved_1: ClassVar[None] = reserved(2)
    vte: bool = flag()
    vlbpm: bool = flag()
    vbf: bool = flag()
    immed: bool = flag()
    bytcmp: bool = flag()
    fixed: bool = flag()
    verification_length: int = u(24)
    control: int = u(8)


@layout(6)
@dataclass(frozen=True, slots=True)
class RecoverBufferedData(Cdb):
    """SSC-3 RECOVER BUFFERED DATA."""

    operation_code: ClassVar[int] = const(8, 0x14)
    reserved_1: ClassVar[None] = reserved(6)
    sili: bool = flag()
    fixed: bool = flag()
    transfer_length: int = u(24)
    control: int = u(8)


@layout(6)
@dataclass(frozen=True, slots=True)
class Erase6(Cdb):
    """SSC-5 ERASE (6): LONG erases from the current position to the end of the partition."""

    operation_code: ClassVar[int] = const(8, 0x19)
    reserved_1: ClassVar[None] = reserved(6)
    immed: bool = flag()
    long: bool = flag()
    reserved_2: ClassVar[None] = reserved(24)
    control: int = u(8)


@layout(6)
@dataclass(frozen=True, slots=True)
class LoadUnload(Cdb):
    """SSC-5 LOAD UNLOAD."""

    operation_code: ClassVar[int] = const(8, 0x1B)
    reserved_1: ClassVar[None] = reserved(7)
    immed: bool = flag()
    reserved_2: ClassVar[None] = reserved(16)
    reserved_4: ClassVar[None] = reserved(4)
    hold: bool = flag()
    eot: bool = flag()
    reten: bool = flag()
    load: bool = flag()
    control: int = u(8)


@layout(10)
@dataclass(frozen=True, slots=True)
class Locate10(Cdb):
    """SSC-5 LOCATE (10)."""

    operation_code: ClassVar[int] = const(8, 0x2B)
    reserved_1: ClassVar[None] = reserved(5)
    bt: bool = flag()
    cp: bool = flag()
    immed: bool = flag()
    reserved_2: ClassVar[None] = reserved(8)
    logical_object_identifier: int = u(32)
    reserved_7: ClassVar[None] = reserved(8)
    partition: int = u(8)
    control: int = u(8)


@layout(10)
@dataclass(frozen=True, slots=True)
class ReadPosition(Cdb):
    """SSC-5 READ POSITION."""

    operation_code: ClassVar[int] = const(8, 0x34)
    reserved_1: ClassVar[None] = reserved(3)
    service_action: int = u(5, choices=(0x00, 0x01, 0x06, 0x08))
    reserved_2: ClassVar[None] = reserved(40)
    allocation_length: int = u(16)
    control: int = u(8)


@layout(10)
@dataclass(frozen=True, slots=True)
class ReportDensitySupport(Cdb):
    """SSC-5 REPORT DENSITY SUPPORT."""

    operation_code: ClassVar[int] = const(8, 0x44)
    reserved_1: ClassVar[None] = reserved(6)
    medium_type: bool = flag()
    media: bool = flag()
    reserved_2: ClassVar[None] = reserved(40)
    allocation_length: int = u(16)
    control: int = u(8)


@layout(16)
@dataclass(frozen=True, slots=True)
class WriteFilemarks16(Cdb):
    """SSC-5 WRITE FILEMARKS (16)."""

    operation_code: ClassVar[int] = const(8, 0x80)
    reserved_1: ClassVar[None] = reserved(5)
    fcs: bool = flag()
    lcs: bool = flag()
    immed: bool = flag()
    reserved_2: ClassVar[None] = reserved(8)
    partition: int = u(8)
    logical_object_identifier: int = u(64)
    filemark_count: int = u(24)
    control: int = u(8)


@layout(16)
@dataclass(frozen=True, slots=True)
class ReadReverse16(Cdb):
    """SSC-3 READ REVERSE (16)."""

    operation_code: ClassVar[int] = const(8, 0x81)
    reserved_1: ClassVar[None] = reserved(5)
    bytord: bool = flag()
    sili: bool = flag()
    fixed: bool = flag()
    reserved_2: ClassVar[None] = reserved(8)
    partition: int = u(8)
    logical_object_identifier: int = u(64)
    transfer_length: int = u(24)
    control: int = u(8)


@layout(16)
@dataclass(frozen=True, slots=True)
class AllowOverwrite(Cdb):
    """SSC-5 ALLOW OVERWRITE."""

    operation_code: ClassVar[int] = const(8, 0x82)
    reserved_1: ClassVar[None] = reserved(8)
    reserved_2: ClassVar[None] = reserved(4)
    allow_overwrite: int = u(4)
    partition: int = u(8)
    logical_object_identifier: int = u(64)
    reserved_12: ClassVar[None] = reserved(24)
    control: int = u(8)


@layout(16)
@dataclass(frozen=True, slots=True)
class TapeRead16(Cdb):
    """SSC-5 READ (16)."""

    operation_code: ClassVar[int] = const(8, 0x88)
    reserved_1: ClassVar[None] = reserved(6)
    sili: bool = flag()
    fixed: bool = flag()
    reserved_2: ClassVar[None] = reserved(8)
    partition: int = u(8)
    logical_object_identifier: int = u(64)
    transfer_length: int = u(24)
    control: int = u(8)


@layout(16)
@dataclass(frozen=True, slots=True)
class TapeWrite16(Cdb):
    """SSC-5 WRITE (16)."""

    operation_code: ClassVar[int] = const(8, 0x8A)
    reserved_1: ClassVar[None] = reserved(5)
    fcs: bool = flag()
    lcs: bool = flag()
    fixed: bool = flag()
    reserved_2: ClassVar[None] = reserved(8)
    partition: int = u(8)
    logical_object_identifier: int = u(64)
    transfer_length: int = u(24)
    control: int = u(8)


@layout(16)
@dataclass(frozen=True, slots=True)
class TapeVerify16(Cdb):
    """SSC-5 VERIFY (16)."""

    operation_code: ClassVar[int] = const(8, 0x8F)
    reserved_1: ClassVar[None] = reserved(2)
    vte: bool = flag()
    vlbpm: bool = flag()
    vbf: bool = flag()
    immed: bool = flag()
    bytcmp: bool = flag()
    fixed: bool = flag()
    reserved_2: ClassVar[None] = reserved(8)
    partition: int = u(8)
    logical_object_identifier: int = u(64)
    verification_length: int = u(24)
    control: int = u(8)


@layout(16)
@dataclass(frozen=True, slots=True)
class Space16(Cdb):
    """SSC-5 SPACE (16): COUNT is a signed 64-bit value."""

    operation_code: ClassVar[int] = const(8, 0x91)
    reserved_1: ClassVar[None] = reserved(4)
    code: int = u(4)
    reserved_2: ClassVar[None] = reserved(16)
    count: int = u(64)
    parameter_length: int = u(16)
    reserved_14: ClassVar[None] = reserved(8)
    control: int = u(8)


@layout(16)
@dataclass(frozen=True, slots=True)
class Locate16(Cdb):
    """SSC-5 LOCATE (16)."""

    operation_code: ClassVar[int] = const(8, 0x92)
    reserved_1: ClassVar[None] = reserved(3)
    dest_type: int = u(2)
    reserved_1b: ClassVar[None] = reserved(1)
    cp: bool = flag()
    immed: bool = flag()
    reserved_2: ClassVar[None] = reserved(7)
    bam: bool = flag()
    partition: int = u(8)
    logical_identifier: int = u(64)
    reserved_12: ClassVar[None] = reserved(24)
    control: int = u(8)


@layout(16)
@dataclass(frozen=True, slots=True)
class Erase16(Cdb):
    """SSC-5 ERASE (16)."""

    operation_code: ClassVar[int] = const(8, 0x93)
    reserved_1: ClassVar[None] = reserved(4)
    fcs: bool = flag()
    lcs: bool = flag()
    immed: bool = flag()
    long: bool = flag()
    reserved_2: ClassVar[None] = reserved(8)
    partition: int = u(8)
    logical_object_identifier: int = u(64)
    reserved_12: ClassVar[None] = reserved(24)
    control: int = u(8)


# --------------------------------------------------------------------------- SMC-3


@layout(6)
@dataclass(frozen=True, slots=True)
class InitializeElementStatus(Cdb):
    """SMC-3 INITIALIZE ELEMENT STATUS."""

    operation_code: ClassVar[int] = const(8, 0x07)
    reserved_1: ClassVar[None] = reserved(32)
    control: int = u(8)


@layout(10)
@dataclass(frozen=True, slots=True)
class PositionToElement(Cdb):
    """SMC-3 POSITION TO ELEMENT."""

    operation_code: ClassVar[int] = const(8, 0x2B)
    reserved_1: ClassVar[None] = reserved(8)
    medium_transport_address: int = u(16)
    destination_address: int = u(16)
    reserved_6: ClassVar[None] = reserved(16)
    reserved_8: ClassVar[None] = reserved(7)
    invert: bool = flag()
    control: int = u(8)


@layout(10)
@dataclass(frozen=True, slots=True)
class InitializeElementStatusWithRange(Cdb):
    """SMC-3 INITIALIZE ELEMENT STATUS WITH RANGE."""

    operation_code: ClassVar[int] = const(8, 0x37)
    reserved_1: ClassVar[None] = reserved(6)
    fast: bool = flag()
    range: bool = flag()
    starting_element_address: int = u(16)
    reserved_4: ClassVar[None] = reserved(16)
    number_of_elements: int = u(16)
    reserved_8: ClassVar[None] = reserved(8)
    control: int = u(8)


@layout(12)
@dataclass(frozen=True, slots=True)
class MoveMedium(Cdb):
    """SMC-3 MOVE MEDIUM."""

    operation_code: ClassVar[int] = const(8, 0xA5)
    reserved_1: ClassVar[None] = reserved(8)
    medium_transport_address: int = u(16)
    source_address: int = u(16)
    destination_address: int = u(16)
    reserved_8: ClassVar[None] = reserved(16)
    reserved_10: ClassVar[None] = reserved(7)
    invert: bool = flag()
    control: int = u(8)


@layout(12)
@dataclass(frozen=True, slots=True)
class ExchangeMedium(Cdb):
    """SMC-3 EXCHANGE MEDIUM."""

    operation_code: ClassVar[int] = const(8, 0xA6)
    reserved_1: ClassVar[None] = reserved(8)
    medium_transport_address: int = u(16)
    source_address: int = u(16)
    first_destination_address: int = u(16)
    second_destination_address: int = u(16)
    reserved_10: ClassVar[None] = reserved(6)
    inv1: bool = flag()
    inv2: bool = flag()
    control: int = u(8)


@layout(12)
@dataclass(frozen=True, slots=True)
class OpenCloseImportExportElement(Cdb):
    """SMC-3 OPEN/CLOSE IMPORT/EXPORT ELEMENT."""

    operation_code: ClassVar[int] = const(8, 0xB1)
    reserved_1: ClassVar[None] = reserved(8)
    element_address: int = u(16)
    reserved_4: ClassVar[None] = reserved(3)
    action_code: int = u(5)
    reserved_5: ClassVar[None] = reserved(48)
    control: int = u(8)


@layout(12)
@dataclass(frozen=True, slots=True)
class RequestVolumeElementAddress(Cdb):
    """SMC-3 REQUEST VOLUME ELEMENT ADDRESS (B5h on SMC)."""

    operation_code: ClassVar[int] = const(8, 0xB5)
    reserved_1: ClassVar[None] = reserved(3)
    voltag: bool = flag()
    element_type_code: int = u(4)
    starting_element_address: int = u(16)
    number_of_elements: int = u(16)
    reserved_6: ClassVar[None] = reserved(8)
    allocation_length: int = u(24)
    reserved_10: ClassVar[None] = reserved(8)
    control: int = u(8)


@layout(12)
@dataclass(frozen=True, slots=True)
class SendVolumeTag(Cdb):
    """SMC-3 SEND VOLUME TAG (B6h on SMC)."""

    operation_code: ClassVar[int] = const(8, 0xB6)
    reserved_1: ClassVar[None] = reserved(4)
    element_type_code: int = u(4)
    element_address: int = u(16)
    reserved_4: ClassVar[None] = reserved(8)
    reserved_5: ClassVar[None] = reserved(3)
    send_action_code: int = u(5)
    reserved_6: ClassVar[None] = reserved(16)
    parameter_list_length: int = u(16)
    reserved_10: ClassVar[None] = reserved(8)
    control: int = u(8)


@layout(12)
@dataclass(frozen=True, slots=True)
class ReadElementStatus(Cdb):
    """SMC-3 READ ELEMENT STATUS."""

    operation_code: ClassVar[int] = const(8, 0xB8)
    reserved_1: ClassVar[None] = reserved(3)
    voltag: bool = flag()
    element_type_code: int = u(4)
    starting_element_address: int = u(16)
    number_of_elements: int = u(16)
    reserved_6: ClassVar[None] = reserved(6)
    curdata: bool = flag()
    dvcid: bool = flag()
    allocation_length: int = u(24)
    reserved_10: ClassVar[None] = reserved(8)
    control: int = u(8)
