"""The CDB layouts: one declaration per layout, fields in the order the standard prints them.

Owns the field-by-field shape of every CDB the command table names. Each class
is a frozen dataclass compiled by `sgguard.scsi.layout.layout`: annotations run
from the most significant bit of byte 0 to the least significant bit of the
last byte. `ClassVar` entries are constants (operation code, service action,
additional CDB length) and reserved/obsolete bits (must be zero); the other
entries are the value fields. Names are snake_case of the T10 field names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from sgguard.scsi.layout import Cdb, const, flag, layout, reserved, u

__all__ = [
    "AccessControl",
    "AtaPassThrough12",
    "AtaPassThrough16",
    "AtaPassThrough32",
    "BackgroundControl",
    "ChangeDefinition",
    "Compare",
    "CompareAndWrite",
    "Copy",
    "CopyAndVerify",
    "CopyOperationAbort",
    "ExtendedCopy",
    "FormatUnit",
    "GetLbaStatus16",
    "GetLbaStatus32",
    "GetPhysicalElementStatus",
    "GetStreamStatus",
    "Inquiry",
    "LockUnlockCache10",
    "LockUnlockCache16",
    "LogSelect",
    "LogSense",
    "MaintenanceIn",
    "MaintenanceInSpecific",
    "MaintenanceOut",
    "MaintenanceOutSpecific",
    "ManagementProtocolIn",
    "ManagementProtocolOut",
    "ModeSelect6",
    "ModeSelect10",
    "ModeSense6",
    "ModeSense10",
    "OrWrite16",
    "OrWrite32",
    "PersistentReserveIn",
    "PersistentReserveOut",
    "PopulateToken",
    "PreFetch10",
    "PreFetch16",
    "PreventAllowMediumRemoval",
    "Read6",
    "Read10",
    "Read12",
    "Read16",
    "Read32",
    "ReadAttribute",
    "ReadBuffer10",
    "ReadBuffer16",
    "ReadCapacity10",
    "ReadCapacity16",
    "ReadDefectData10",
    "ReadDefectData12",
    "ReadLong10",
    "ReadLong16",
    "ReadMediaSerialNumber",
    "ReassignBlocks",
    "ReceiveCopyLid1",
    "ReceiveCopyLid4",
    "ReceiveCopyOperatingParameters",
    "ReceiveDiagnosticResults",
    "Release6",
    "Release10",
    "RemoveElementAndModifyZones",
    "RemoveElementAndTruncate",
    "ReportIdentifyingInformation",
    "ReportLuns",
    "ReportPriority",
    "ReportReferrals",
    "ReportSupportedOperationCodes",
    "ReportSupportedTaskManagementFunctions",
    "ReportTargetPortGroups",
    "RequestSense",
    "Reserve6",
    "Reserve10",
    "RestoreElementsAndRebuild",
    "RezeroUnit",
    "Sanitize",
    "SearchData10",
    "SearchData12",
    "SecurityProtocolIn",
    "SecurityProtocolOut",
    "Seek6",
    "Seek10",
    "SendDiagnostic",
    "ServiceAction16",
    "SetIdentifyingInformation",
    "SetPriority",
    "StartStopUnit",
    "StreamControl",
    "SynchronizeCache10",
    "SynchronizeCache16",
    "TestUnitReady",
    "Unmap",
    "Verify10",
    "Verify12",
    "Verify16",
    "Verify32",
    "Write6",
    "Write10",
    "Write12",
    "Write16",
    "Write32",
    "WriteAndVerify10",
    "WriteAndVerify12",
    "WriteAndVerify16",
    "WriteAndVerify32",
    "WriteAtomic16",
    "WriteAtomic32",
    "WriteAttribute",
    "WriteBuffer",
    "WriteLong10",
    "WriteLong16",
    "WriteSame10",
    "WriteSame16",
    "WriteSame32",
    "WriteScattered16",
    "WriteScattered32",
    "WriteStream16",
    "WriteStream32",
    "WriteUsingToken",
    "XdWriteExtended16",
    "XorCommand10",
    "XorCommand32",
    "ZbcIn",
    "ZbcOut",
]

# --------------------------------------------------------------------------- SPC-5


@layout(6)
@dataclass(frozen=True, slots=True)
class TestUnitReady(Cdb):
    """SPC-5 TEST UNIT READY."""

    __test__ = False  # not a pytest class
    operation_code: ClassVar[int] = const(8, 0x00)
    reserved_1: ClassVar[None] = reserved(32)
    control: int = u(8)


@layout(6)
@dataclass(frozen=True, slots=True)
class RequestSense(Cdb):
    """SPC-5 REQUEST SENSE."""

    operation_code: ClassVar[int] = const(8, 0x03)
    reserved_1: ClassVar[None] = reserved(7)
    desc: bool = flag()
    reserved_2: ClassVar[None] = reserved(16)
    allocation_length: int = u(8)
    control: int = u(8)


@layout(6)
@dataclass(frozen=True, slots=True)
class Inquiry(Cdb):
    """SPC-5 INQUIRY (byte 1 bit 1 is the obsolete CMDDT)."""

    operation_code: ClassVar[int] = const(8, 0x12)
    reserved_1: ClassVar[None] = reserved(6)
    obsolete_1: ClassVar[None] = reserved(1, "obsolete (CMDDT)")
    evpd: bool = flag()
    page_code: int = u(8)
    allocation_length: int = u(16)
    control: int = u(8)


@layout(6)
@dataclass(frozen=True, slots=True)
class ModeSelect6(Cdb):
    """SPC-5 MODE SELECT (6)."""

    operation_code: ClassVar[int] = const(8, 0x15)
    reserved_1: ClassVar[None] = reserved(3)
    pf: bool = flag()
    reserved_1b: ClassVar[None] = reserved(2)
    rtd: bool = flag()
    sp: bool = flag()
    reserved_2: ClassVar[None] = reserved(16)
    parameter_list_length: int = u(8)
    control: int = u(8)


@layout(10)
@dataclass(frozen=True, slots=True)
class ModeSelect10(Cdb):
    """SPC-5 MODE SELECT (10)."""

    operation_code: ClassVar[int] = const(8, 0x55)
    reserved_1: ClassVar[None] = reserved(3)
    pf: bool = flag()
    reserved_1b: ClassVar[None] = reserved(2)
    rtd: bool = flag()
    sp: bool = flag()
    reserved_2: ClassVar[None] = reserved(40)
    parameter_list_length: int = u(16)
    control: int = u(8)


@layout(6)
@dataclass(frozen=True, slots=True)
class ModeSense6(Cdb):
    """SPC-5 MODE SENSE (6)."""

    operation_code: ClassVar[int] = const(8, 0x1A)
    reserved_1: ClassVar[None] = reserved(4)
    dbd: bool = flag()
    reserved_1b: ClassVar[None] = reserved(3)
    pc: int = u(2)
    page_code: int = u(6)
    subpage_code: int = u(8)
    allocation_length: int = u(8)
    control: int = u(8)


@layout(10)
@dataclass(frozen=True, slots=True)
class ModeSense10(Cdb):
    """SPC-5 MODE SENSE (10)."""

    operation_code: ClassVar[int] = const(8, 0x5A)
    reserved_1: ClassVar[None] = reserved(3)
    llbaa: bool = flag()
    dbd: bool = flag()
    reserved_1b: ClassVar[None] = reserved(3)
    pc: int = u(2)
    page_code: int = u(6)
    subpage_code: int = u(8)
    reserved_4: ClassVar[None] = reserved(24)
    allocation_length: int = u(16)
    control: int = u(8)


@layout(12)
@dataclass(frozen=True, slots=True)
class ReportLuns(Cdb):
    """SPC-5 REPORT LUNS."""

    operation_code: ClassVar[int] = const(8, 0xA0)
    reserved_1: ClassVar[None] = reserved(8)
    select_report: int = u(8, choices=(0x00, 0x01, 0x02, 0x10, 0x11, 0x12))
    reserved_3: ClassVar[None] = reserved(24)
    allocation_length: int = u(32)
    reserved_10: ClassVar[None] = reserved(8)
    control: int = u(8)


@layout(12)
@dataclass(frozen=True, slots=True)
class ReportSupportedOperationCodes(Cdb):
    """SPC-5 REPORT SUPPORTED OPERATION CODES (MAINTENANCE IN, service action 0Ch)."""

    operation_code: ClassVar[int] = const(8, 0xA3)
    reserved_1: ClassVar[None] = reserved(3)
    service_action: ClassVar[int] = const(5, 0x0C)
    rctd: bool = flag()
    reserved_2: ClassVar[None] = reserved(4)
    reporting_options: int = u(3, maximum=3)
    requested_operation_code: int = u(8)
    requested_service_action: int = u(16)
    allocation_length: int = u(32)
    reserved_10: ClassVar[None] = reserved(8)
    control: int = u(8)


@layout(12)
@dataclass(frozen=True, slots=True)
class ReportSupportedTaskManagementFunctions(Cdb):
    """SPC-5 REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS (MAINTENANCE IN, 0Dh)."""

    operation_code: ClassVar[int] = const(8, 0xA3)
    reserved_1: ClassVar[None] = reserved(3)
    service_action: ClassVar[int] = const(5, 0x0D)
    repd: bool = flag()
    reserved_2: ClassVar[None] = reserved(31)
    allocation_length: int = u(32)
    reserved_10: ClassVar[None] = reserved(8)
    control: int = u(8)


@layout(10)
@dataclass(frozen=True, slots=True)
class PersistentReserveIn(Cdb):
    """SPC-5 PERSISTENT RESERVE IN (service actions 00h-03h)."""

    operation_code: ClassVar[int] = const(8, 0x5E)
    reserved_1: ClassVar[None] = reserved(3)
    service_action: int = u(5, maximum=3)
    reserved_2: ClassVar[None] = reserved(40)
    allocation_length: int = u(16)
    control: int = u(8)


@layout(10)
@dataclass(frozen=True, slots=True)
class PersistentReserveOut(Cdb):
    """SPC-5 PERSISTENT RESERVE OUT (service actions 00h-08h)."""

    operation_code: ClassVar[int] = const(8, 0x5F)
    reserved_1: ClassVar[None] = reserved(3)
    service_action: int = u(5, maximum=8)
    scope: int = u(4)
    type: int = u(4)
    reserved_3: ClassVar[None] = reserved(16)
    parameter_list_length: int = u(32)
    control: int = u(8)


@layout(6)
@dataclass(frozen=True, slots=True)
class Reserve6(Cdb):
    """SPC-2 RESERVE (6) (obsolete in SPC-3 onwards; byte 1-4 fields obsolete)."""

    operation_code: ClassVar[int] = const(8, 0x16)
    obsolete_1: ClassVar[None] = reserved(32, "obsolete")
    control: int = u(8)


@layout(6)
@dataclass(frozen=True, slots=True)
class Release6(Cdb):
    """SPC-2 RELEASE (6) (obsolete in SPC-3 onwards)."""

    operation_code: ClassVar[int] = const(8, 0x17)
    obsolete_1: ClassVar[None] = reserved(32, "obsolete")
    control: int = u(8)


@layout(10)
@dataclass(frozen=True, slots=True)
class Reserve10(Cdb):
    """SPC-2 RESERVE (10)."""

    operation_code: ClassVar[int] = const(8, 0x56)
    reserved_1: ClassVar[None] = reserved(3)
    third_party: bool = flag()
    reserved_1b: ClassVar[None] = reserved(2)
    long_id: bool = flag()
    obsolete_1: ClassVar[None] = reserved(1, "obsolete (EXTENT)")
    obsolete_2: ClassVar[None] = reserved(8, "obsolete (RESERVATION IDENTIFICATION)")
    third_party_device_id: int = u(8)
    reserved_4: ClassVar[None] = reserved(24)
    parameter_list_length: int = u(16)
    control: int = u(8)


@layout(10)
@dataclass(frozen=True, slots=True)
class Release10(Cdb):
    """SPC-2 RELEASE (10)."""

    operation_code: ClassVar[int] = const(8, 0x57)
    reserved_1: ClassVar[None] = reserved(3)
    third_party: bool = flag()
    reserved_1b: ClassVar[None] = reserved(2)
    long_id: bool = flag()
    obsolete_1: ClassVar[None] = reserved(1, "obsolete (EXTENT)")
    obsolete_2: ClassVar[None] = reserved(8, "obsolete (RESERVATION IDENTIFICATION)")
    third_party_device_id: int = u(8)
    reserved_4: ClassVar[None] = reserved(24)
    parameter_list_length: int = u(16)
    control: int = u(8)


@layout(10)
@dataclass(frozen=True, slots=True)
class WriteBuffer(Cdb):
    """SPC-5 WRITE BUFFER (MODE 04h-07h, 0Dh-0Fh download microcode)."""

    operation_code: ClassVar[int] = const(8, 0x3B)
    mode_specific: int = u(3)
    mode: int = u(5)
    buffer_id: int = u(8)
    buffer_offset: int = u(24)
    parameter_list_length: int = u(24)
    control: int = u(8)


@layout(10)
@dataclass(frozen=True, slots=True)
class ReadBuffer10(Cdb):
    """SPC-5 READ BUFFER (10)."""

    operation_code: ClassVar[int] = const(8, 0x3C)
    mode_specific: int = u(3)
    mode: int = u(5)
    buffer_id: int = u(8)
    buffer_offset: int = u(24)
    allocation_length: int = u(24)
    control: int = u(8)


@layout(12)
@dataclass(frozen=True, slots=True)
class SecurityProtocolIn(Cdb):
    """SPC-5 SECURITY PROTOCOL IN."""

    operation_code: ClassVar[int] = const(8, 0xA2)
    security_protocol: int = u(8)
    security_protocol_specific: int = u(16)
    inc_512: bool = flag()
    reserved_4: ClassVar[None] = reserved(15)
    allocation_length: int = u(32)
    reserved_10: ClassVar[None] = reserved(8)
    control: int = u(8)


@layout(12)
@dataclass(frozen=True, slots=True)
class SecurityProtocolOut(Cdb):
    """SPC-5 SECURITY PROTOCOL OUT."""

    operation_code: ClassVar[int] = const(8, 0xB5)
    security_protocol: int = u(8)
    security_protocol_specific: int = u(16)
    inc_512: bool = flag()
    reserved_4: ClassVar[None] = reserved(15)
    transfer_length: int = u(32)
    reserved_10: ClassVar[None] = reserved(8)
    control: int = u(8)


# ---- third-party copy (SPC-5, 6.5, 6.6 ...)


@layout(16)
@dataclass(frozen=True, slots=True)
class ExtendedCopy(Cdb):
    """SPC-4 EXTENDED COPY (LID1) (83h/00h) and SPC-5 EXTENDED COPY (83h/01h)."""

    operation_code: ClassVar[int] = const(8, 0x83)
    reserved_1: ClassVar[None] = reserved(3)
    service_action: int = u(5, choices=(0x00, 0x01))
    reserved_2: ClassVar[None] = reserved(64)
    parameter_list_length: int = u(32)
    reserved_14: ClassVar[None] = reserved(2)
    group_number: int = u(6)
    control: int = u(8)


@layout(16)
@dataclass(frozen=True, slots=True)
class PopulateToken(Cdb):
    """SBC-4 POPULATE TOKEN (83h/10h)."""

    operation_code: ClassVar[int] = const(8, 0x83)
    reserved_1: ClassVar[None] = reserved(3)
    service_action: ClassVar[int] = const(5, 0x10)
    reserved_2: ClassVar[None] = reserved(32)
    list_identifier: int = u(32)
    parameter_list_length: int = u(32)
    reserved_14: ClassVar[None] = reserved(2)
    group_number: int = u(6)
    control: int = u(8)


@layout(16)
@dataclass(frozen=True, slots=True)
class WriteUsingToken(Cdb):
    """SBC-4 WRITE USING TOKEN (83h/11h)."""

    operation_code: ClassVar[int] = const(8, 0x83)
    reserved_1: ClassVar[None] = reserved(3)
    service_action: ClassVar[int] = const(5, 0x11)
    reserved_2: ClassVar[None] = reserved(32)
    list_identifier: int = u(32)
    parameter_list_length: int = u(32)
    reserved_14: ClassVar[None] = reserved(2)
    group_number: int = u(6)
    control: int = u(8)


@layout(16)
@dataclass(frozen=True, slots=True)
class CopyOperationAbort(Cdb):
    """SPC-5 COPY OPERATION ABORT (83h/1Ch)."""

    operation_code: ClassVar[int] = const(8, 0x83)
    reserved_1: ClassVar[None] = reserved(3)
    service_action: ClassVar[int] = const(5, 0x1C)
    list_identifier: int = u(32)
    reserved_6: ClassVar[None] = reserved(72)
    control: int = u(8)


@layout(16)
@dataclass(frozen=True, slots=True)
class ReceiveCopyLid1(Cdb):
    """SPC-4-6.20 RECEIVE COPY STATUS/DATA/FAILURE DETAILS (LID1) (84h/00h, 01h, 04h)."""

    operation_code: ClassVar[int] = const(8, 0x84)
    reserved_1: ClassVar[None] = reserved(3)
    service_action: int = u(5, choices=(0x00, 0x01, 0x04))
    list_identifier: int = u(8)
    reserved_3: ClassVar[None] = reserved(56)
    allocation_length: int = u(32)
    reserved_14: ClassVar[None] = reserved(8)
    control: int = u(8)


@layout(16)
@dataclass(frozen=True, slots=True)
class ReceiveCopyOperatingParameters(Cdb):
    """SPC-5 RECEIVE COPY OPERATING PARAMETERS (84h/03h), REPORT ALL ROD TOKENS (84h/08h)."""

    operation_code: ClassVar[int] = const(8, 0x84)
    reserved_1: ClassVar[None] = reserved(3)
    service_action: int = u(5, choices=(0x03, 0x08))
    reserved_2: ClassVar[None] = reserved(64)
    allocation_length: int = u(32)
    reserved_14: ClassVar[None] = reserved(8)
    control: int = u(8)


@layout(16)
@dataclass(frozen=True, slots=True)
class ReceiveCopyLid4(Cdb):
    """SPC-5 RECEIVE COPY STATUS/DATA (84h/05h, 06h), RECEIVE ROD TOKEN INFORMATION (84h/07h)."""

    operation_code: ClassVar[int] = const(8, 0x84)
    reserved_1: ClassVar[None] = reserved(3)
    service_action: int = u(5, choices=(0x05, 0x06, 0x07))
    list_identifier: int = u(32)
    reserved_6: ClassVar[None] = reserved(32)
    allocation_length: int = u(32)
    reserved_14: ClassVar[None] = reserved(8)
    control: int = u(8)


# --------------------------------------------------------------------------- SBC-4


@layout(6)
@dataclass(frozen=True, slots=True)
class Read6(Cdb):
    """SBC-4 (SBC-3) READ (6): TRANSFER LENGTH 0 means 256 blocks."""

    operation_code: ClassVar[int] = const(8, 0x08)
    reserved_1: ClassVar[None] = reserved(3)
    lba: int = u(21)
    transfer_length: int = u(8)
    control: int = u(8)


@layout(6)
@dataclass(frozen=True, slots=True)
class Write6(Cdb):
    """SBC-4 (SBC-3) WRITE (6): TRANSFER LENGTH 0 means 256 blocks."""

    operation_code: ClassVar[int] = const(8, 0x0A)
    reserved_1: ClassVar[None] = reserved(3)
    lba: int = u(21)
    transfer_length: int = u(8)
    control: int = u(8)


@layout(10)
@dataclass(frozen=True, slots=True)
class Read10(Cdb):
    """SBC-4 READ (10)."""

    operation_code: ClassVar[int] = const(8, 0x28)
    rdprotect: int = u(3)
    dpo: bool = flag()
    fua: bool = flag()
    rarc: bool = flag()
    fua_nv: bool = flag(doc="SBC-3; obsolete in SBC-4")
    obsolete_1: ClassVar[None] = reserved(1, "obsolete")
    lba: int = u(32)
    reserved_6: ClassVar[None] = reserved(2)
    group_number: int = u(6)
    transfer_length: int = u(16)
    control: int = u(8)


@layout(12)
@dataclass(frozen=True, slots=True)
class Read12(Cdb):
    """SBC-4 READ (12)."""

    operation_code: ClassVar[int] = const(8, 0xA8)
    rdprotect: int = u(3)
    dpo: bool = flag()
    fua: bool = flag()
    rarc: bool = flag()
    fua_nv: bool = flag(doc="SBC-3; obsolete in SBC-4")
    obsolete_1: ClassVar[None] = reserved(1, "obsolete")
    lba: int = u(32)
    transfer_length: int = u(32)
    reserved_10: ClassVar[None] = reserved(2)
    group_number: int = u(6)
    control: int = u(8)


@layout(16)
@dataclass(frozen=True, slots=True)
class Read16(Cdb):
    """SBC-4 READ (16) (DLD2..DLD0: SBC-5 command duration limits)."""

    operation_code: ClassVar[int] = const(8, 0x88)
    rdprotect: int = u(3)
    dpo: bool = flag()
    fua: bool = flag()
    rarc: bool = flag()
    fua_nv: bool = flag(doc="SBC-3; obsolete in SBC-4")
    dld2: bool = flag()
    lba: int = u(64)
    transfer_length: int = u(32)
    dld1: bool = flag()
    dld0: bool = flag()
    group_number: int = u(6)
    control: int = u(8)


@layout(32)
@dataclass(frozen=True, slots=True)
class Read32(Cdb):
    """SBC-4 READ (32) (7Fh/0009h)."""

    operation_code: ClassVar[int] = const(8, 0x7F)
    control: int = u(8)
    reserved_2: ClassVar[None] = reserved(32)
    reserved_6: ClassVar[None] = reserved(2)
    group_number: int = u(6)
    additional_cdb_length: ClassVar[int] = const(8, 0x18)
    service_action: ClassVar[int] = const(16, 0x0009)
    rdprotect: int = u(3)
    dpo: bool = flag()
    fua: bool = flag()
    rarc: bool = flag()
    fua_nv: bool = flag(doc="SBC-3; obsolete in SBC-4")
    obsolete_10: ClassVar[None] = reserved(1, "obsolete")
    reserved_11: ClassVar[None] = reserved(5)
    dld2: bool = flag()
    dld1: bool = flag()
    dld0: bool = flag()
    lba: int = u(64)
    expected_initial_logical_block_reference_tag: int = u(32)
    expected_logical_block_application_tag: int = u(16)
    logical_block_application_tag_mask: int = u(16)
    transfer_length: int = u(32)


@layout(10)
@dataclass(frozen=True, slots=True)
class Write10(Cdb):
    """SBC-4 WRITE (10)."""

    operation_code: ClassVar[int] = const(8, 0x2A)
    wrprotect: int = u(3)
    dpo: bool = flag()
    fua: bool = flag()
    reserved_1: ClassVar[None] = reserved(1)
    fua_nv: bool = flag(doc="SBC-3; obsolete in SBC-4")
    obsolete_1: ClassVar[None] = reserved(1, "obsolete")
    lba: int = u(32)
    reserved_6: ClassVar[None] = reserved(2)
    group_number: int = u(6)
    transfer_length: int = u(16)
    control: int = u(8)


@layout(12)
@dataclass(frozen=True, slots=True)
class Write12(Cdb):
    """SBC-4 WRITE (12)."""

    operation_code: ClassVar[int] = const(8, 0xAA)
    wrprotect: int = u(3)
    dpo: bool = flag()
    fua: bool = flag()
    reserved_1: ClassVar[None] = reserved(1)
    fua_nv: bool = flag(doc="SBC-3; obsolete in SBC-4")
    obsolete_1: ClassVar[None] = reserved(1, "obsolete")
    lba: int = u(32)
    transfer_length: int = u(32)
    reserved_10: ClassVar[None] = reserved(2)
    group_number: int = u(6)
    control: int = u(8)


@layout(16)
@dataclass(frozen=True, slots=True)
class Write16(Cdb):
    """SBC-4 WRITE (16) (DLD2..DLD0: SBC-5 command duration limits)."""

    operation_code: ClassVar[int] = const(8, 0x8A)
    wrprotect: int = u(3)
    dpo: bool = flag()
    fua: bool = flag()
    reserved_1: ClassVar[None] = reserved(1)
    fua_nv: bool = flag(doc="SBC-3; obsolete in SBC-4")
    dld2: bool = flag()
    lba: int = u(64)
    transfer_length: int = u(32)
    dld1: bool = flag()
    dld0: bool = flag()
    group_number: int = u(6)
    control: int = u(8)


@layout(32)
@dataclass(frozen=True, slots=True)
class Write32(Cdb):
    """SBC-4 WRITE (32) (7Fh/000Bh)."""

    operation_code: ClassVar[int] = const(8, 0x7F)
    control: int = u(8)
    reserved_2: ClassVar[None] = reserved(32)
    reserved_6: ClassVar[None] = reserved(2)
    group_number: int = u(6)
    additional_cdb_length: ClassVar[int] = const(8, 0x18)
    service_action: ClassVar[int] = const(16, 0x000B)
    wrprotect: int = u(3)
    dpo: bool = flag()
    fua: bool = flag()
    reserved_10: ClassVar[None] = reserved(1)
    fua_nv: bool = flag(doc="SBC-3; obsolete in SBC-4")
    obsolete_10: ClassVar[None] = reserved(1, "obsolete")
    reserved_11: ClassVar[None] = reserved(5)
    dld2: bool = flag()
    dld1: bool = flag()
    dld0: bool = flag()
    lba: int = u(64)
    expected_initial_logical_block_reference_tag: int = u(32)
    expected_logical_block_application_tag: int = u(16)
    logical_block_application_tag_mask: int = u(16)
    transfer_length: int = u(32)


@layout(10)
@dataclass(frozen=True, slots=True)
class WriteAndVerify10(Cdb):
    """SBC-4 WRITE AND VERIFY (10)."""

    operation_code: ClassVar[int] = const(8, 0x2E)
    wrprotect: int = u(3)
    dpo: bool = flag()
    reserved_1: ClassVar[None] = reserved(1)
    bytchk: int = u(2)
    obsolete_1: ClassVar[None] = reserved(1, "obsolete")
    lba: int = u(32)
    reserved_6: ClassVar[None] = reserved(2)
    group_number: int = u(6)
    transfer_length: int = u(16)
    control: int = u(8)


@layout(12)
@dataclass(frozen=True, slots=True)
class WriteAndVerify12(Cdb):
    """SBC-4 WRITE AND VERIFY (12)."""

    operation_code: ClassVar[int] = const(8, 0xAE)
    wrprotect: int = u(3)
    dpo: bool = flag()
    reserved_1: ClassVar[None] = reserved(1)
    bytchk: int = u(2)
    obsolete_1: ClassVar[None] = reserved(1, "obsolete")
    lba: int = u(32)
    transfer_length: int = u(32)
    reserved_10: ClassVar[None] = reserved(2)
    group_number: int = u(6)
    control: int = u(8)


@layout(16)
@dataclass(frozen=True, slots=True)
class WriteAndVerify16(Cdb):
    """SBC-4 WRITE AND VERIFY (16)."""

    operation_code: ClassVar[int] = const(8, 0x8E)
    wrprotect: int = u(3)
    dpo: bool = flag()
    reserved_1: ClassVar[None] = reserved(1)
    bytchk: int = u(2)
    reserved_1b: ClassVar[None] = reserved(1)
    lba: int = u(64)
    transfer_length: int = u(32)
    reserved_14: ClassVar[None] = reserved(2)
    group_number: int = u(6)
    control: int = u(8)


@layout(32)
@dataclass(frozen=True, slots=True)
class WriteAndVerify32(Cdb):
    """SBC-4 WRITE AND VERIFY (32) (7Fh/000Ch)."""

    operation_code: ClassVar[int] = const(8, 0x7F)
    control: int = u(8)
    reserved_2: ClassVar[None] = reserved(32)
    reserved_6: ClassVar[None] = reserved(2)
    group_number: int = u(6)
    additional_cdb_length: ClassVar[int] = const(8, 0x18)
    service_action: ClassVar[int] = const(16, 0x000C)
    wrprotect: int = u(3)
    dpo: bool = flag()
    reserved_10: ClassVar[None] = reserved(1)
    bytchk: int = u(2)
    reserved_10b: ClassVar[None] = reserved(1)
    reserved_11: ClassVar[None] = reserved(8)
    lba: int = u(64)
    expected_initial_logical_block_reference_tag: int = u(32)
    expected_logical_block_application_tag: int = u(16)
    logical_block_application_tag_mask: int = u(16)
    transfer_length: int = u(32)


@layout(10)
@dataclass(frozen=True, slots=True)
class Verify10(Cdb):
    """SBC-4 VERIFY (10)."""

    operation_code: ClassVar[int] = const(8, 0x2F)
    vrprotect: int = u(3)
    dpo: bool = flag()
    reserved_1: ClassVar[None] = reserved(1)
    bytchk: int = u(2)
    obsolete_1: ClassVar[None] = reserved(1, "obsolete")
    lba: int = u(32)
    reserved_6: ClassVar[None] = reserved(2)
    group_number: int = u(6)
    verification_length: int = u(16)
    control: int = u(8)


@layout(12)
@dataclass(frozen=True, slots=True)
class Verify12(Cdb):
    """SBC-4 VERIFY (12)."""

    operation_code: ClassVar[int] = const(8, 0xAF)
    vrprotect: int = u(3)
    dpo: bool = flag()
    reserved_1: ClassVar[None] = reserved(1)
    bytchk: int = u(2)
    obsolete_1: ClassVar[None] = reserved(1, "obsolete")
    lba: int = u(32)
    verification_length: int = u(32)
    reserved_10: ClassVar[None] = reserved(2)
    group_number: int = u(6)
    control: int = u(8)


@layout(16)
@dataclass(frozen=True, slots=True)
class Verify16(Cdb):
    """SBC-4 VERIFY (16)."""

    operation_code: ClassVar[int] = const(8, 0x8F)
    vrprotect: int = u(3)
    dpo: bool = flag()
    reserved_1: ClassVar[None] = reserved(1)
    bytchk: int = u(2)
    reserved_1b: ClassVar[None] = reserved(1)
    lba: int = u(64)
    verification_length: int = u(32)
    reserved_14: ClassVar[None] = reserved(2)
    group_number: int = u(6)
    control: int = u(8)


@layout(32)
@dataclass(frozen=True, slots=True)
class Verify32(Cdb):
    """SBC-4 VERIFY (32) (7Fh/000Ah)."""

    operation_code: ClassVar[int] = const(8, 0x7F)
    control: int = u(8)
    reserved_2: ClassVar[None] = reserved(32)
    reserved_6: ClassVar[None] = reserved(2)
    group_number: int = u(6)
    additional_cdb_length: ClassVar[int] = const(8, 0x18)
    service_action: ClassVar[int] = const(16, 0x000A)
    vrprotect: int = u(3)
    dpo: bool = flag()
    reserved_10: ClassVar[None] = reserved(1)
    bytchk: int = u(2)
    reserved_10b: ClassVar[None] = reserved(1)
    reserved_11: ClassVar[None] = reserved(8)
    lba: int = u(64)
    expected_initial_logical_block_reference_tag: int = u(32)
    expected_logical_block_application_tag: int = u(16)
    logical_block_application_tag_mask: int = u(16)
    verification_length: int = u(32)


@layout(10)
@dataclass(frozen=True, slots=True)
class WriteSame10(Cdb):
    """SBC-4 WRITE SAME (10): NUMBER OF LOGICAL BLOCKS 0 means to the last LBA."""

    operation_code: ClassVar[int] = const(8, 0x41)
    wrprotect: int = u(3)
    anchor: bool = flag()
    unmap: bool = flag()
    pbdata: bool = flag(doc="SBC-3; obsolete in SBC-4")
    lbdata: bool = flag(doc="SBC-3; obsolete in SBC-4")
    reserved_1: ClassVar[None] = reserved(1)
    lba: int = u(32)
    reserved_6: ClassVar[None] = reserved(2)
    group_number: int = u(6)
    number_of_logical_blocks: int = u(16)
    control: int = u(8)


@layout(16)
@dataclass(frozen=True, slots=True)
class WriteSame16(Cdb):
    """SBC-4 WRITE SAME (16): NUMBER OF LOGICAL BLOCKS 0 means to the last LBA."""

    operation_code: ClassVar[int] = const(8, 0x93)
    wrprotect: int = u(3)
    anchor: bool = flag()
    unmap: bool = flag()
    pbdata: bool = flag(doc="SBC-3; obsolete in SBC-4")
    lbdata: bool = flag(doc="SBC-3; obsolete in SBC-4")
    ndob: bool = flag()
    lba: int = u(64)
    number_of_logical_blocks: int = u(32)
    reserved_14: ClassVar[None] = reserved(2)
    group_number: int = u(6)
    control: int = u(8)


@layout(32)
@dataclass(frozen=True, slots=True)
class WriteSame32(Cdb):
    """SBC-4 WRITE SAME (32) (7Fh/000Dh)."""

    operation_code: ClassVar[int] = const(8, 0x7F)
    control: int = u(8)
    reserved_2: ClassVar[None] = reserved(32)
    reserved_6: ClassVar[None] = reserved(2)
    group_number: int = u(6)
    additional_cdb_length: ClassVar[int] = const(8, 0x18)
    service_action: ClassVar[int] = const(16, 0x000D)
    wrprotect: int = u(3)
    anchor: bool = flag()
    unmap: bool = flag()
    pbdata: bool = flag(doc="SBC-3; obsolete in SBC-4")
    lbdata: bool = flag(doc="SBC-3; obsolete in SBC-4")
    ndob: bool = flag()
    reserved_11: ClassVar[None] = reserved(8)
    lba: int = u(64)
    expected_initial_logical_block_reference_tag: int = u(32)
    expected_logical_block_application_tag: int = u(16)
    logical_block_application_tag_mask: int = u(16)
    number_of_logical_blocks: int = u(32)


@layout(10)
@dataclass(frozen=True, slots=True)
class Unmap(Cdb):
    """SBC-4 UNMAP: the LBAs are in the parameter list's block descriptors."""

    operation_code: ClassVar[int] = const(8, 0x42)
    reserved_1: ClassVar[None] = reserved(7)
    anchor: bool = flag()
    reserved_2: ClassVar[None] = reserved(32)
    reserved_6: ClassVar[None] = reserved(2)
    group_number: int = u(6)
    parameter_list_length: int = u(16)
    control: int = u(8)


@layout(10)
@dataclass(frozen=True, slots=True)
class SynchronizeCache10(Cdb):
    """SBC-4 SYNCHRONIZE CACHE (10): NUMBER OF LOGICAL BLOCKS 0 means to the last LBA."""

    operation_code: ClassVar[int] = const(8, 0x35)
    reserved_1: ClassVar[None] = reserved(5)
    sync_nv: bool = flag(doc="SBC-3; obsolete in SBC-4")
    immed: bool = flag()
    obsolete_1b: ClassVar[None] = reserved(1, "obsolete")
    lba: int = u(32)
    reserved_6: ClassVar[None] = reserved(2)
    group_number: int = u(6)
    number_of_logical_blocks: int = u(16)
    control: int = u(8)


@layout(16)
@dataclass(frozen=True, slots=True)
class SynchronizeCache16(Cdb):
    """SBC-4 SYNCHRONIZE CACHE (16)."""

    operation_code: ClassVar[int] = const(8, 0x91)
    reserved_1: ClassVar[None] = reserved(5)
    sync_nv: bool = flag(doc="SBC-3; obsolete in SBC-4")
    immed: bool = flag()
    reserved_1b: ClassVar[None] = reserved(1)
    lba: int = u(64)
    number_of_logical_blocks: int = u(32)
    reserved_14: ClassVar[None] = reserved(2)
    group_number: int = u(6)
    control: int = u(8)


@layout(10)
@dataclass(frozen=True, slots=True)
class PreFetch10(Cdb):
    """SBC-4 PRE-FETCH (10): PREFETCH LENGTH 0 means to the last LBA."""

    operation_code: ClassVar[int] = const(8, 0x34)
    reserved_1: ClassVar[None] = reserved(6)
    immed: bool = flag()
    obsolete_1: ClassVar[None] = reserved(1, "obsolete")
    lba: int = u(32)
    reserved_6: ClassVar[None] = reserved(2)
    group_number: int = u(6)
    prefetch_length: int = u(16)
    control: int = u(8)


@layout(16)
@dataclass(frozen=True, slots=True)
class PreFetch16(Cdb):
    """SBC-4 PRE-FETCH (16)."""

    operation_code: ClassVar[int] = const(8, 0x90)
    reserved_1: ClassVar[None] = reserved(6)
    immed: bool = flag()
    reserved_1b: ClassVar[None] = reserved(1)
    lba: int = u(64)
    prefetch_length: int = u(32)
    reserved_14: ClassVar[None] = reserved(2)
    group_number: int = u(6)
    control: int = u(8)


@layout(10)
@dataclass(frozen=True, slots=True)
class ReadCapacity10(Cdb):
    """SBC-4 READ CAPACITY (10) (LBA and PMI are obsolete in SBC-4, kept for SBC-3)."""

    operation_code: ClassVar[int] = const(8, 0x25)
    reserved_1: ClassVar[None] = reserved(7)
    obsolete_1: ClassVar[None] = reserved(1, "obsolete (RELADR)")
    lba: int = u(32)
    reserved_6: ClassVar[None] = reserved(16)
    reserved_8: ClassVar[None] = reserved(7)
    pmi: bool = flag()
    control: int = u(8)


@layout(16)
@dataclass(frozen=True, slots=True)
class ReadCapacity16(Cdb):
    """SBC-4 READ CAPACITY (16) (SERVICE ACTION IN (16) 9Eh/10h)."""

    operation_code: ClassVar[int] = const(8, 0x9E)
    reserved_1: ClassVar[None] = reserved(3)
    service_action: ClassVar[int] = const(5, 0x10)
    lba: int = u(64)
    allocation_length: int = u(32)
    reserved_14: ClassVar[None] = reserved(7)
    pmi: bool = flag()
    control: int = u(8)


@layout(16)
@dataclass(frozen=True, slots=True)
class GetLbaStatus16(Cdb):
    """SBC-4 GET LBA STATUS (16) (9Eh/12h)."""

    operation_code: ClassVar[int] = const(8, 0x9E)
    reserved_1: ClassVar[None] = reserved(3)
    service_action: ClassVar[int] = const(5, 0x12)
    starting_lba: int = u(64)
    allocation_length: int = u(32)
    report_type: int = u(8)
    control: int = u(8)


@layout(32)
@dataclass(frozen=True, slots=True)
class GetLbaStatus32(Cdb):
    """SBC-4 GET LBA STATUS (32) (7Fh/0012h)."""

    operation_code: ClassVar[int] = const(8, 0x7F)
    control: int = u(8)
    reserved_2: ClassVar[None] = reserved(40)
    additional_cdb_length: ClassVar[int] = const(8, 0x18)
    service_action: ClassVar[int] = const(16, 0x0012)
    report_type: int = u(8)
    reserved_11: ClassVar[None] = reserved(8)
    starting_lba: int = u(64)
    scan_length: int = u(32)
    element_identifier: int = u(32)
    allocation_length: int = u(32)


@layout(16)
@dataclass(frozen=True, slots=True)
class CompareAndWrite(Cdb):
    """SBC-4 COMPARE AND WRITE: data-out holds NUMBER OF LOGICAL BLOCKS twice."""

    operation_code: ClassVar[int] = const(8, 0x89)
    wrprotect: int = u(3)
    dpo: bool = flag()
    fua: bool = flag()
    reserved_1: ClassVar[None] = reserved(1)
    fua_nv: bool = flag(doc="SBC-3; obsolete in SBC-4")
    reserved_1b: ClassVar[None] = reserved(1)
    lba: int = u(64)
    reserved_10: ClassVar[None] = reserved(24)
    number_of_logical_blocks: int = u(8)
    reserved_14: ClassVar[None] = reserved(2)
    group_number: int = u(6)
    control: int = u(8)


@layout(16)
@dataclass(frozen=True, slots=True)
class OrWrite16(Cdb):
    """SBC-4 ORWRITE (16)."""

    operation_code: ClassVar[int] = const(8, 0x8B)
    orprotect: int = u(3)
    dpo: bool = flag()
    fua: bool = flag()
    reserved_1: ClassVar[None] = reserved(1)
    fua_nv: bool = flag(doc="SBC-3; obsolete in SBC-4")
    reserved_1b: ClassVar[None] = reserved(1)
    lba: int = u(64)
    transfer_length: int = u(32)
    reserved_14: ClassVar[None] = reserved(2)
    group_number: int = u(6)
    control: int = u(8)


@layout(32)
@dataclass(frozen=True, slots=True)
class OrWrite32(Cdb):
    """SBC-4 ORWRITE (32) (7Fh/000Eh)."""

    operation_code: ClassVar[int] = const(8, 0x7F)
    control: int = u(8)
    reserved_2: ClassVar[None] = reserved(5)
    bmop: int = u(3)
    reserved_3: ClassVar[None] = reserved(4)
    previous_generation_processing: int = u(4)
    reserved_4: ClassVar[None] = reserved(16)
    reserved_6: ClassVar[None] = reserved(2)
    group_number: int = u(6)
    additional_cdb_length: ClassVar[int] = const(8, 0x18)
    service_action: ClassVar[int] = const(16, 0x000E)
    orprotect: int = u(3)
    dpo: bool = flag()
    fua: bool = flag()
    reserved_10: ClassVar[None] = reserved(1)
    fua_nv: bool = flag(doc="SBC-3; obsolete in SBC-4")
    reserved_10b: ClassVar[None] = reserved(1)
    reserved_11: ClassVar[None] = reserved(8)
    lba: int = u(64)
    expected_orwgeneration: int = u(32)
    new_orwgeneration: int = u(32)
    transfer_length: int = u(32)


@layout(6)
@dataclass(frozen=True, slots=True)
class StartStopUnit(Cdb):
    """SBC-4 START STOP UNIT."""

    operation_code: ClassVar[int] = const(8, 0x1B)
    reserved_1: ClassVar[None] = reserved(7)
    immed: bool = flag()
    reserved_2: ClassVar[None] = reserved(8)
    reserved_3: ClassVar[None] = reserved(4)
    power_condition_modifier: int = u(4)
    power_condition: int = u(4)
    reserved_4: ClassVar[None] = reserved(1)
    no_flush: bool = flag()
    loej: bool = flag()
    start: bool = flag()
    control: int = u(8)


@layout(6)
@dataclass(frozen=True, slots=True)
class PreventAllowMediumRemoval(Cdb):
    """SBC-4 / SPC-5 PREVENT ALLOW MEDIUM REMOVAL."""

    operation_code: ClassVar[int] = const(8, 0x1E)
    reserved_1: ClassVar[None] = reserved(24)
    reserved_4: ClassVar[None] = reserved(6)
    prevent: int = u(2)
    control: int = u(8)


@layout(6)
@dataclass(frozen=True, slots=True)
class FormatUnit(Cdb):
    """SBC-4 FORMAT UNIT: writes (and may erase) the whole medium."""

    operation_code: ClassVar[int] = const(8, 0x04)
    fmtpinfo: int = u(2)
    longlist: bool = flag()
    fmtdata: bool = flag()
    cmplst: bool = flag()
    defect_list_format: int = u(3)
    vendor_specific: int = u(8)
    obsolete_3: ClassVar[None] = reserved(8, "obsolete")
    reserved_4: ClassVar[None] = reserved(6)
    ffmt: int = u(2)
    control: int = u(8)


@layout(10)
@dataclass(frozen=True, slots=True)
class Sanitize(Cdb):
    """SBC-4 SANITIZE (48h, service actions 01h-03h, 1Fh)."""

    operation_code: ClassVar[int] = const(8, 0x48)
    immed: bool = flag()
    znr: bool = flag()
    ause: bool = flag()
    service_action: int = u(5, choices=(0x01, 0x02, 0x03, 0x1F))
    reserved_2: ClassVar[None] = reserved(40)
    parameter_list_length: int = u(16)
    control: int = u(8)


@layout(10)
@dataclass(frozen=True, slots=True)
class WriteLong10(Cdb):
    """SBC-4 WRITE LONG (10)."""

    operation_code: ClassVar[int] = const(8, 0x3F)
    cor_dis: bool = flag()
    wr_uncor: bool = flag()
    pblock: bool = flag()
    reserved_1: ClassVar[None] = reserved(4)
    obsolete_1: ClassVar[None] = reserved(1, "obsolete")
    lba: int = u(32)
    reserved_6: ClassVar[None] = reserved(8)
    byte_transfer_length: int = u(16)
    control: int = u(8)


@layout(16)
@dataclass(frozen=True, slots=True)
class WriteLong16(Cdb):
    """SBC-4 WRITE LONG (16) (SERVICE ACTION OUT (16) 9Fh/11h)."""

    operation_code: ClassVar[int] = const(8, 0x9F)
    cor_dis: bool = flag()
    wr_uncor: bool = flag()
    pblock: bool = flag()
    service_action: ClassVar[int] = const(5, 0x11)
    lba: int = u(64)
    reserved_10: ClassVar[None] = reserved(16)
    byte_transfer_length: int = u(16)
    reserved_14: ClassVar[None] = reserved(8)
    control: int = u(8)


# --------------------------------------------------------------------------- SAT-4


@layout(12)
@dataclass(frozen=True, slots=True)
class AtaPassThrough12(Cdb):
    """SAT-4 ATA PASS-THROUGH (12) (A1h): an LBA28 taskfile."""

    operation_code: ClassVar[int] = const(8, 0xA1)
    obsolete_1: ClassVar[None] = reserved(3, "obsolete (MULTIPLE_COUNT)")
    protocol: int = u(4)
    reserved_1: ClassVar[None] = reserved(1)
    off_line: int = u(2)
    ck_cond: bool = flag()
    t_type: bool = flag()
    t_dir: bool = flag()
    byt_blok: bool = flag()
    t_length: int = u(2)
    features: int = u(8)
    count: int = u(8)
    lba_low: int = u(8)
    lba_mid: int = u(8)
    lba_high: int = u(8)
    device: int = u(8)
    command: int = u(8)
    reserved_10: ClassVar[None] = reserved(8)
    control: int = u(8)


@layout(16)
@dataclass(frozen=True, slots=True)
class AtaPassThrough16(Cdb):
    """SAT-4 ATA PASS-THROUGH (16) (85h): EXTEND selects the LBA48 taskfile."""

    operation_code: ClassVar[int] = const(8, 0x85)
    obsolete_1: ClassVar[None] = reserved(3, "obsolete (MULTIPLE_COUNT)")
    protocol: int = u(4)
    extend: bool = flag()
    off_line: int = u(2)
    ck_cond: bool = flag()
    t_type: bool = flag()
    t_dir: bool = flag()
    byt_blok: bool = flag()
    t_length: int = u(2)
    features_15_8: int = u(8)
    features_7_0: int = u(8)
    count_15_8: int = u(8)
    count_7_0: int = u(8)
    lba_31_24: int = u(8)
    lba_7_0: int = u(8)
    lba_39_32: int = u(8)
    lba_15_8: int = u(8)
    lba_47_40: int = u(8)
    lba_23_16: int = u(8)
    device: int = u(8)
    command: int = u(8)
    control: int = u(8)


@layout(32)
@dataclass(frozen=True, slots=True)
class AtaPassThrough32(Cdb):
    """SAT-4 ATA PASS-THROUGH (32) (7Fh/1FF0h): LBA48 taskfile, auxiliary and ICC."""

    operation_code: ClassVar[int] = const(8, 0x7F)
    control: int = u(8)
    reserved_2: ClassVar[None] = reserved(40)
    additional_cdb_length: ClassVar[int] = const(8, 0x18)
    service_action: ClassVar[int] = const(16, 0x1FF0)
    obsolete_10: ClassVar[None] = reserved(3, "obsolete (MULTIPLE_COUNT)")
    protocol: int = u(4)
    extend: bool = flag()
    off_line: int = u(2)
    ck_cond: bool = flag()
    t_type: bool = flag()
    t_dir: bool = flag()
    byt_blok: bool = flag()
    t_length: int = u(2)
    reserved_12: ClassVar[None] = reserved(16)
    lba_47_0: int = u(48)
    features_15_0: int = u(16)
    count_15_0: int = u(16)
    device: int = u(8)
    command: int = u(8)
    reserved_26: ClassVar[None] = reserved(8)
    icc: int = u(8)
    auxiliary: int = u(32)


# --------------------------------------------------------------------------- SPC-5 (more)


@layout(6)
@dataclass(frozen=True, slots=True)
class ReceiveDiagnosticResults(Cdb):
    """SPC-5 RECEIVE DIAGNOSTIC RESULTS."""

    operation_code: ClassVar[int] = const(8, 0x1C)
    reserved_1: ClassVar[None] = reserved(7)
    pcv: bool = flag()
    page_code: int = u(8)
    allocation_length: int = u(16)
    control: int = u(8)


@layout(6)
@dataclass(frozen=True, slots=True)
class SendDiagnostic(Cdb):
    """SPC-5 SEND DIAGNOSTIC."""

    operation_code: ClassVar[int] = const(8, 0x1D)
    self_test_code: int = u(3)
    pf: bool = flag()
    reserved_1: ClassVar[None] = reserved(1)
    selftest: bool = flag()
    devoffl: bool = flag()
    unitoffl: bool = flag()
    reserved_2: ClassVar[None] = reserved(8)
    parameter_list_length: int = u(16)
    control: int = u(8)


@layout(10)
@dataclass(frozen=True, slots=True)
class LogSelect(Cdb):
    """SPC-5 LOG SELECT."""

    operation_code: ClassVar[int] = const(8, 0x4C)
    reserved_1: ClassVar[None] = reserved(6)
    pcr: bool = flag()
    sp: bool = flag()
    pc: int = u(2)
    page_code: int = u(6)
    subpage_code: int = u(8)
    reserved_4: ClassVar[None] = reserved(24)
    parameter_list_length: int = u(16)
    control: int = u(8)


@layout(10)
@dataclass(frozen=True, slots=True)
class LogSense(Cdb):
    """SPC-5 LOG SENSE (byte 1 bit 1 is the obsolete PPC)."""

    operation_code: ClassVar[int] = const(8, 0x4D)
    reserved_1: ClassVar[None] = reserved(6)
    ppc: bool = flag(doc="obsolete in SPC-5")
    sp: bool = flag()
    pc: int = u(2)
    page_code: int = u(6)
    subpage_code: int = u(8)
    reserved_4: ClassVar[None] = reserved(8)
    parameter_pointer: int = u(16)
    allocation_length: int = u(16)
    control: int = u(8)


@layout(16)
@dataclass(frozen=True, slots=True)
class ReadBuffer16(Cdb):
    """SPC-5 READ BUFFER (16)."""

    operation_code: ClassVar[int] = const(8, 0x9B)
    mode_specific: int = u(3)
    mode: int = u(5)
    buffer_offset: int = u(64)
    allocation_length: int = u(32)
    buffer_id: int = u(8)
    control: int = u(8)


@layout(16)
@dataclass(frozen=True, slots=True)
class ReadAttribute(Cdb):
    """SPC-5 READ ATTRIBUTE (the service action is a field, not a dispatch key)."""

    operation_code: ClassVar[int] = const(8, 0x8C)
    reserved_1: ClassVar[None] = reserved(3)
    service_action: int = u(5)
    restricted_2: ClassVar[None] = reserved(24, "restricted (MMC-6)")
    logical_volume_number: int = u(8)
    reserved_6: ClassVar[None] = reserved(8)
    partition_number: int = u(8)
    first_attribute_identifier: int = u(16)
    allocation_length: int = u(32)
    reserved_14: ClassVar[None] = reserved(7)
    cache: bool = flag()
    control: int = u(8)


@layout(16)
@dataclass(frozen=True, slots=True)
class WriteAttribute(Cdb):
    """SPC-5 WRITE ATTRIBUTE."""

    operation_code: ClassVar[int] = const(8, 0x8D)
    reserved_1: ClassVar[None] = reserved(7)
    wtc: bool = flag()
    restricted_2: ClassVar[None] = reserved(24, "restricted (MMC-6)")
    logical_volume_number: int = u(8)
    reserved_6: ClassVar[None] = reserved(8)
    partition_number: int = u(8)
    reserved_8: ClassVar[None] = reserved(16)
    parameter_list_length: int = u(32)
    reserved_14: ClassVar[None] = reserved(8)
    control: int = u(8)


@layout(12)
@dataclass(frozen=True, slots=True)
class ReportTargetPortGroups(Cdb):
    """SPC-5 REPORT TARGET PORT GROUPS (MAINTENANCE IN, 0Ah)."""

    operation_code: ClassVar[int] = const(8, 0xA3)
    parameter_data_format: int = u(3)
    service_action: ClassVar[int] = const(5, 0x0A)
    reserved_2: ClassVar[None] = reserved(32)
    allocation_length: int = u(32)
    reserved_10: ClassVar[None] = reserved(8)
    control: int = u(8)


@layout(12)
@dataclass(frozen=True, slots=True)
class ReportIdentifyingInformation(Cdb):
    """SPC-5 REPORT IDENTIFYING INFORMATION (MAINTENANCE IN, 05h)."""

    operation_code: ClassVar[int] = const(8, 0xA3)
    reserved_1: ClassVar[None] = reserved(3)
    service_action: ClassVar[int] = const(5, 0x05)
    reserved_2: ClassVar[None] = reserved(32)
    allocation_length: int = u(32)
    identifying_information_type: int = u(7)
    reserved_10: ClassVar[None] = reserved(1)
    control: int = u(8)


@layout(12)
@dataclass(frozen=True, slots=True)
class SetIdentifyingInformation(Cdb):
    """SPC-5 SET IDENTIFYING INFORMATION (MAINTENANCE OUT, 06h)."""

    operation_code: ClassVar[int] = const(8, 0xA4)
    reserved_1: ClassVar[None] = reserved(3)
    service_action: ClassVar[int] = const(5, 0x06)
    reserved_2: ClassVar[None] = reserved(32)
    parameter_list_length: int = u(32)
    identifying_information_type: int = u(7)
    reserved_10: ClassVar[None] = reserved(1)
    control: int = u(8)


@layout(12)
@dataclass(frozen=True, slots=True)
class ReportPriority(Cdb):
    """SPC-5 REPORT PRIORITY (MAINTENANCE IN, 0Eh)."""

    operation_code: ClassVar[int] = const(8, 0xA3)
    reserved_1: ClassVar[None] = reserved(3)
    service_action: ClassVar[int] = const(5, 0x0E)
    priority_reported: int = u(2)
    reserved_2: ClassVar[None] = reserved(30)
    allocation_length: int = u(32)
    reserved_10: ClassVar[None] = reserved(8)
    control: int = u(8)


@layout(12)
@dataclass(frozen=True, slots=True)
class SetPriority(Cdb):
    """SPC-5 SET PRIORITY (MAINTENANCE OUT, 0Eh)."""

    operation_code: ClassVar[int] = const(8, 0xA4)
    reserved_1: ClassVar[None] = reserved(3)
    service_action: ClassVar[int] = const(5, 0x0E)
    i_t_l_nexus_to_set: int = u(2)
    reserved_2: ClassVar[None] = reserved(30)
    parameter_list_length: int = u(32)
    reserved_10: ClassVar[None] = reserved(8)
    control: int = u(8)


@layout(12)
@dataclass(frozen=True, slots=True)
class MaintenanceIn(Cdb):
    """SPC-5 REPORT ALIASES (A3h/0Bh) and REPORT TIMESTAMP (A3h/0Fh): allocation length only."""

    operation_code: ClassVar[int] = const(8, 0xA3)
    reserved_1: ClassVar[None] = reserved(3)
    service_action: int = u(5, choices=(0x0B, 0x0F))
    reserved_2: ClassVar[None] = reserved(32)
    allocation_length: int = u(32)
    reserved_10: ClassVar[None] = reserved(8)
    control: int = u(8)


@layout(12)
@dataclass(frozen=True, slots=True)
class MaintenanceInSpecific(Cdb):
    """MAINTENANCE IN service actions whose bytes 2-5 and 10 this table does not detail.

    SBC-4 REPORT PROVISIONING INITIALIZATION PATTERN (1Dh), SSC-5 RECEIVE
    RECOMMENDED ACCESS ORDER (1Dh) and READ DYNAMIC RUNTIME ATTRIBUTE (1Eh),
    vendor specific (1Fh): the allocation length is at bytes 6-9 as for every
    MAINTENANCE IN command; the other bytes are kept as they are.
    """

    operation_code: ClassVar[int] = const(8, 0xA3)
    reserved_1: ClassVar[None] = reserved(3)
    service_action: int = u(5, choices=(0x1D, 0x1E, 0x1F))
    service_action_specific: int = u(32)
    allocation_length: int = u(32)
    service_action_specific_10: int = u(8)
    control: int = u(8)


@layout(12)
@dataclass(frozen=True, slots=True)
class MaintenanceOut(Cdb):
    """SPC-5 SET TARGET PORT GROUPS (A4h/0Ah), CHANGE ALIASES (0Bh), REMOVE I_T NEXUS (0Ch),
    SET TIMESTAMP (0Fh): parameter list length only."""

    operation_code: ClassVar[int] = const(8, 0xA4)
    reserved_1: ClassVar[None] = reserved(3)
    service_action: int = u(5, choices=(0x0A, 0x0B, 0x0C, 0x0F))
    reserved_2: ClassVar[None] = reserved(32)
    parameter_list_length: int = u(32)
    reserved_10: ClassVar[None] = reserved(8)
    control: int = u(8)


@layout(12)
@dataclass(frozen=True, slots=True)
class MaintenanceOutSpecific(Cdb):
    """MAINTENANCE OUT service actions whose bytes 2-5 and 10 this table does not detail.

    SSC-5 GENERATE RECOMMENDED ACCESS ORDER (1Dh), WRITE DYNAMIC RUNTIME
    ATTRIBUTE (1Eh), vendor specific (1Fh).
    """

    operation_code: ClassVar[int] = const(8, 0xA4)
    reserved_1: ClassVar[None] = reserved(3)
    service_action: int = u(5, choices=(0x1D, 0x1E, 0x1F))
    service_action_specific: int = u(32)
    parameter_list_length: int = u(32)
    service_action_specific_10: int = u(8)
    control: int = u(8)


@layout(12)
@dataclass(frozen=True, slots=True)
class ManagementProtocolIn(Cdb):
    """SPC-5 MANAGEMENT PROTOCOL IN (MAINTENANCE IN, 10h)."""

    operation_code: ClassVar[int] = const(8, 0xA3)
    reserved_1: ClassVar[None] = reserved(3)
    service_action: ClassVar[int] = const(5, 0x10)
    management_protocol: int = u(8)
    management_protocol_specific: int = u(16)
    reserved_5: ClassVar[None] = reserved(8)
    allocation_length: int = u(32)
    reserved_10: ClassVar[None] = reserved(8)
    control: int = u(8)


@layout(12)
@dataclass(frozen=True, slots=True)
class ManagementProtocolOut(Cdb):
    """SPC-5 MANAGEMENT PROTOCOL OUT (MAINTENANCE OUT, 10h)."""

    operation_code: ClassVar[int] = const(8, 0xA4)
    reserved_1: ClassVar[None] = reserved(3)
    service_action: ClassVar[int] = const(5, 0x10)
    management_protocol: int = u(8)
    management_protocol_specific: int = u(16)
    reserved_5: ClassVar[None] = reserved(8)
    parameter_list_length: int = u(32)
    reserved_10: ClassVar[None] = reserved(8)
    control: int = u(8)


@layout(12)
@dataclass(frozen=True, slots=True)
class ReadMediaSerialNumber(Cdb):
    """SPC-5 READ MEDIA SERIAL NUMBER (SERVICE ACTION IN (12), 01h)."""

    operation_code: ClassVar[int] = const(8, 0xAB)
    reserved_1: ClassVar[None] = reserved(3)
    service_action: ClassVar[int] = const(5, 0x01)
    reserved_2: ClassVar[None] = reserved(32)
    allocation_length: int = u(32)
    reserved_10: ClassVar[None] = reserved(8)
    control: int = u(8)


@layout(16)
@dataclass(frozen=True, slots=True)
class AccessControl(Cdb):
    """SPC-3 ACCESS CONTROL IN (86h) / OUT (87h) (removed in SPC-4)."""

    operation_code: int = u(8, choices=(0x86, 0x87))
    reserved_1: ClassVar[None] = reserved(3)
    service_action: int = u(5)
    service_action_specific: int = u(64)
    length: int = u(32)
    reserved_14: ClassVar[None] = reserved(8)
    control: int = u(8)


@layout(6)
@dataclass(frozen=True, slots=True)
class Copy(Cdb):
    """SPC-2 COPY (obsolete): the copy is described in the parameter list."""

    operation_code: ClassVar[int] = const(8, 0x18)
    reserved_1: ClassVar[None] = reserved(7)
    pad: bool = flag()
    parameter_list_length: int = u(24)
    control: int = u(8)


@layout(10)
@dataclass(frozen=True, slots=True)
class Compare(Cdb):
    """SPC-2 COMPARE (obsolete)."""

    operation_code: ClassVar[int] = const(8, 0x39)
    reserved_1: ClassVar[None] = reserved(7)
    pad: bool = flag()
    parameter_list_length: int = u(24)
    reserved_5: ClassVar[None] = reserved(32)
    control: int = u(8)


@layout(10)
@dataclass(frozen=True, slots=True)
class CopyAndVerify(Cdb):
    """SPC-2 COPY AND VERIFY (obsolete)."""

    operation_code: ClassVar[int] = const(8, 0x3A)
    reserved_1: ClassVar[None] = reserved(6)
    bytchk: bool = flag()
    pad: bool = flag()
    parameter_list_length: int = u(24)
    reserved_5: ClassVar[None] = reserved(32)
    control: int = u(8)


@layout(10)
@dataclass(frozen=True, slots=True)
class ChangeDefinition(Cdb):
    """SPC-2 CHANGE DEFINITION (obsolete)."""

    operation_code: ClassVar[int] = const(8, 0x40)
    reserved_1: ClassVar[None] = reserved(15)
    save: bool = flag()
    reserved_3: ClassVar[None] = reserved(1)
    definition_parameter: int = u(7)
    reserved_4: ClassVar[None] = reserved(32)
    parameter_data_length: int = u(8)
    control: int = u(8)


@layout(16)
@dataclass(frozen=True, slots=True)
class ServiceAction16(Cdb):
    """SPC-5 SERVICE ACTION BIDIRECTIONAL (9Dh): no service action is defined yet."""

    operation_code: ClassVar[int] = const(8, 0x9D)
    reserved_1: ClassVar[None] = reserved(3)
    service_action: int = u(5)
    service_action_specific: int = u(104)
    control: int = u(8)


# --------------------------------------------------------------------------- SBC-4 (more)


@layout(6)
@dataclass(frozen=True, slots=True)
class ReassignBlocks(Cdb):
    """SBC-4 REASSIGN BLOCKS: the LBAs are in the parameter list's defect list."""

    operation_code: ClassVar[int] = const(8, 0x07)
    reserved_1: ClassVar[None] = reserved(6)
    longlba: bool = flag()
    longlist: bool = flag()
    reserved_2: ClassVar[None] = reserved(24)
    control: int = u(8)


@layout(6)
@dataclass(frozen=True, slots=True)
class RezeroUnit(Cdb):
    """SBC-1 REZERO UNIT (obsolete)."""

    operation_code: ClassVar[int] = const(8, 0x01)
    reserved_1: ClassVar[None] = reserved(32)
    control: int = u(8)


@layout(6)
@dataclass(frozen=True, slots=True)
class Seek6(Cdb):
    """SBC-1 SEEK (6) (obsolete)."""

    operation_code: ClassVar[int] = const(8, 0x0B)
    reserved_1: ClassVar[None] = reserved(3)
    lba: int = u(21)
    reserved_4: ClassVar[None] = reserved(8)
    control: int = u(8)


@layout(10)
@dataclass(frozen=True, slots=True)
class Seek10(Cdb):
    """SBC-1 / MMC SEEK (10) (obsolete in SBC)."""

    operation_code: ClassVar[int] = const(8, 0x2B)
    reserved_1: ClassVar[None] = reserved(8)
    lba: int = u(32)
    reserved_6: ClassVar[None] = reserved(24)
    control: int = u(8)


@layout(10)
@dataclass(frozen=True, slots=True)
class SearchData10(Cdb):
    """SBC-1 SEARCH DATA HIGH/EQUAL/LOW (10) (30h-32h), SET LIMITS (10) (33h) (obsolete)."""

    operation_code: int = u(8, choices=(0x30, 0x31, 0x32, 0x33))
    flags: int = u(8)
    lba: int = u(32)
    reserved_6: ClassVar[None] = reserved(8)
    number_of_blocks: int = u(16)
    control: int = u(8)


@layout(12)
@dataclass(frozen=True, slots=True)
class SearchData12(Cdb):
    """SBC-1 SEARCH DATA HIGH/EQUAL/LOW (12) (B0h-B2h), SET LIMITS (12) (B3h) (obsolete)."""

    operation_code: int = u(8, choices=(0xB0, 0xB1, 0xB2, 0xB3))
    flags: int = u(8)
    lba: int = u(32)
    number_of_blocks: int = u(32)
    reserved_10: ClassVar[None] = reserved(8)
    control: int = u(8)


@layout(10)
@dataclass(frozen=True, slots=True)
class LockUnlockCache10(Cdb):
    """SBC-3 LOCK UNLOCK CACHE (10) (obsolete in SBC-4)."""

    operation_code: ClassVar[int] = const(8, 0x36)
    reserved_1: ClassVar[None] = reserved(6)
    lock: bool = flag()
    obsolete_1: ClassVar[None] = reserved(1, "obsolete")
    lba: int = u(32)
    reserved_6: ClassVar[None] = reserved(8)
    number_of_logical_blocks: int = u(16)
    control: int = u(8)


@layout(16)
@dataclass(frozen=True, slots=True)
class LockUnlockCache16(Cdb):
    """SBC-3 LOCK UNLOCK CACHE (16) (obsolete in SBC-4)."""

    operation_code: ClassVar[int] = const(8, 0x92)
    reserved_1: ClassVar[None] = reserved(6)
    lock: bool = flag()
    reserved_1b: ClassVar[None] = reserved(1)
    lba: int = u(64)
    number_of_logical_blocks: int = u(32)
    reserved_14: ClassVar[None] = reserved(8)
    control: int = u(8)


@layout(10)
@dataclass(frozen=True, slots=True)
class ReadDefectData10(Cdb):
    """SBC-4 READ DEFECT DATA (10)."""

    operation_code: ClassVar[int] = const(8, 0x37)
    reserved_1: ClassVar[None] = reserved(11)
    req_plist: bool = flag()
    req_glist: bool = flag()
    defect_list_format: int = u(3)
    reserved_3: ClassVar[None] = reserved(32)
    allocation_length: int = u(16)
    control: int = u(8)


@layout(12)
@dataclass(frozen=True, slots=True)
class ReadDefectData12(Cdb):
    """SBC-4 READ DEFECT DATA (12)."""

    operation_code: ClassVar[int] = const(8, 0xB7)
    reserved_1: ClassVar[None] = reserved(3)
    req_plist: bool = flag()
    req_glist: bool = flag()
    defect_list_format: int = u(3)
    address_descriptor_index: int = u(32)
    allocation_length: int = u(32)
    reserved_10: ClassVar[None] = reserved(8)
    control: int = u(8)


@layout(10)
@dataclass(frozen=True, slots=True)
class ReadLong10(Cdb):
    """SBC-3 READ LONG (10) (obsolete in SBC-4)."""

    operation_code: ClassVar[int] = const(8, 0x3E)
    reserved_1: ClassVar[None] = reserved(5)
    pblock: bool = flag()
    correct: bool = flag()
    obsolete_1: ClassVar[None] = reserved(1, "obsolete")
    lba: int = u(32)
    reserved_6: ClassVar[None] = reserved(8)
    byte_transfer_length: int = u(16)
    control: int = u(8)


@layout(16)
@dataclass(frozen=True, slots=True)
class ReadLong16(Cdb):
    """SBC-3 READ LONG (16) (SERVICE ACTION IN (16) 9Eh/11h; obsolete in SBC-4)."""

    operation_code: ClassVar[int] = const(8, 0x9E)
    reserved_1: ClassVar[None] = reserved(3)
    service_action: ClassVar[int] = const(5, 0x11)
    lba: int = u(64)
    reserved_10: ClassVar[None] = reserved(16)
    byte_transfer_length: int = u(16)
    reserved_14: ClassVar[None] = reserved(6)
    pblock: bool = flag()
    correct: bool = flag()
    control: int = u(8)


@layout(16)
@dataclass(frozen=True, slots=True)
class ReportReferrals(Cdb):
    """SBC-4 REPORT REFERRALS (9Eh/13h)."""

    operation_code: ClassVar[int] = const(8, 0x9E)
    reserved_1: ClassVar[None] = reserved(3)
    service_action: ClassVar[int] = const(5, 0x13)
    lba: int = u(64)
    allocation_length: int = u(32)
    reserved_14: ClassVar[None] = reserved(7)
    one_seg: bool = flag()
    control: int = u(8)


@layout(16)
@dataclass(frozen=True, slots=True)
class StreamControl(Cdb):
    """SBC-4 STREAM CONTROL (9Eh/14h)."""

    operation_code: ClassVar[int] = const(8, 0x9E)
    reserved_1: ClassVar[None] = reserved(1)
    str_ctl: int = u(2)
    service_action: ClassVar[int] = const(5, 0x14)
    reserved_2: ClassVar[None] = reserved(16)
    str_id: int = u(16)
    reserved_6: ClassVar[None] = reserved(32)
    allocation_length: int = u(32)
    reserved_14: ClassVar[None] = reserved(8)
    control: int = u(8)


@layout(16)
@dataclass(frozen=True, slots=True)
class BackgroundControl(Cdb):
    """SBC-4 BACKGROUND CONTROL (9Eh/15h)."""

    operation_code: ClassVar[int] = const(8, 0x9E)
    reserved_1: ClassVar[None] = reserved(3)
    service_action: ClassVar[int] = const(5, 0x15)
    bo_ctl: int = u(2)
    reserved_2: ClassVar[None] = reserved(6)
    bo_time: int = u(8)
    reserved_4: ClassVar[None] = reserved(88)
    control: int = u(8)


@layout(16)
@dataclass(frozen=True, slots=True)
class GetStreamStatus(Cdb):
    """SBC-4 GET STREAM STATUS (9Eh/16h)."""

    operation_code: ClassVar[int] = const(8, 0x9E)
    reserved_1: ClassVar[None] = reserved(3)
    service_action: ClassVar[int] = const(5, 0x16)
    reserved_2: ClassVar[None] = reserved(16)
    starting_stream_identifier: int = u(16)
    reserved_6: ClassVar[None] = reserved(32)
    allocation_length: int = u(32)
    reserved_14: ClassVar[None] = reserved(8)
    control: int = u(8)


@layout(16)
@dataclass(frozen=True, slots=True)
class GetPhysicalElementStatus(Cdb):
    """SBC-4 GET PHYSICAL ELEMENT STATUS (9Eh/17h)."""

    operation_code: ClassVar[int] = const(8, 0x9E)
    reserved_1: ClassVar[None] = reserved(3)
    service_action: ClassVar[int] = const(5, 0x17)
    reserved_2: ClassVar[None] = reserved(32)
    starting_element: int = u(32)
    allocation_length: int = u(32)
    filter: int = u(2)
    reserved_14: ClassVar[None] = reserved(2)
    report_type: int = u(4)
    control: int = u(8)


@layout(16)
@dataclass(frozen=True, slots=True)
class RemoveElementAndTruncate(Cdb):
    """SBC-4 REMOVE ELEMENT AND TRUNCATE (9Eh/18h): reduces the capacity."""

    operation_code: ClassVar[int] = const(8, 0x9E)
    reserved_1: ClassVar[None] = reserved(3)
    service_action: ClassVar[int] = const(5, 0x18)
    requested_capacity: int = u(64)
    element_identifier: int = u(32)
    reserved_14: ClassVar[None] = reserved(8)
    control: int = u(8)


@layout(16)
@dataclass(frozen=True, slots=True)
class RestoreElementsAndRebuild(Cdb):
    """SBC-4 RESTORE ELEMENTS AND REBUILD (9Eh/19h)."""

    operation_code: ClassVar[int] = const(8, 0x9E)
    reserved_1: ClassVar[None] = reserved(3)
    service_action: ClassVar[int] = const(5, 0x19)
    reserved_2: ClassVar[None] = reserved(104)
    control: int = u(8)


@layout(16)
@dataclass(frozen=True, slots=True)
class RemoveElementAndModifyZones(Cdb):
    """ZBC-2 REMOVE ELEMENT AND MODIFY ZONES (9Eh/1Ah)."""

    operation_code: ClassVar[int] = const(8, 0x9E)
    reserved_1: ClassVar[None] = reserved(3)
    service_action: ClassVar[int] = const(5, 0x1A)
    reserved_2: ClassVar[None] = reserved(64)
    element_identifier: int = u(32)
    reserved_14: ClassVar[None] = reserved(8)
    control: int = u(8)


@layout(16)
@dataclass(frozen=True, slots=True)
class WriteScattered16(Cdb):
    """SBC-4 WRITE SCATTERED (16) (9Fh/12h): LBA range descriptors in the data-out."""

    operation_code: ClassVar[int] = const(8, 0x9F)
    reserved_1: ClassVar[None] = reserved(3)
    service_action: ClassVar[int] = const(5, 0x12)
    wrprotect: int = u(3)
    dpo: bool = flag()
    fua: bool = flag()
    reserved_2: ClassVar[None] = reserved(2)
    dld2: bool = flag()
    reserved_3: ClassVar[None] = reserved(8)
    lba_data_offset: int = u(16)
    reserved_6: ClassVar[None] = reserved(16)
    number_of_lba_range_descriptors: int = u(16)
    buffer_transfer_length: int = u(32)
    dld1: bool = flag()
    dld0: bool = flag()
    group_number: int = u(6)
    control: int = u(8)


@layout(32)
@dataclass(frozen=True, slots=True)
class WriteScattered32(Cdb):
    """SBC-4 WRITE SCATTERED (32) (7Fh/0011h)."""

    operation_code: ClassVar[int] = const(8, 0x7F)
    control: int = u(8)
    reserved_2: ClassVar[None] = reserved(32)
    reserved_6: ClassVar[None] = reserved(2)
    group_number: int = u(6)
    additional_cdb_length: ClassVar[int] = const(8, 0x18)
    service_action: ClassVar[int] = const(16, 0x0011)
    wrprotect: int = u(3)
    dpo: bool = flag()
    fua: bool = flag()
    reserved_10: ClassVar[None] = reserved(3)
    reserved_11: ClassVar[None] = reserved(8)
    lba_data_offset: int = u(16)
    reserved_14: ClassVar[None] = reserved(16)
    number_of_lba_range_descriptors: int = u(16)
    reserved_18: ClassVar[None] = reserved(16)
    expected_initial_logical_block_reference_tag: int = u(32)
    expected_logical_block_application_tag: int = u(16)
    logical_block_application_tag_mask: int = u(16)
    buffer_transfer_length: int = u(32)


@layout(16)
@dataclass(frozen=True, slots=True)
class WriteStream16(Cdb):
    """SBC-4 WRITE STREAM (16) (9Ah)."""

    operation_code: ClassVar[int] = const(8, 0x9A)
    wrprotect: int = u(3)
    dpo: bool = flag()
    fua: bool = flag()
    reserved_1: ClassVar[None] = reserved(3)
    lba: int = u(64)
    str_id: int = u(16)
    transfer_length: int = u(16)
    reserved_14: ClassVar[None] = reserved(2)
    group_number: int = u(6)
    control: int = u(8)


@layout(32)
@dataclass(frozen=True, slots=True)
class WriteStream32(Cdb):
    """SBC-4 WRITE STREAM (32) (7Fh/0010h)."""

    operation_code: ClassVar[int] = const(8, 0x7F)
    control: int = u(8)
    reserved_2: ClassVar[None] = reserved(16)
    str_id: int = u(16)
    reserved_6: ClassVar[None] = reserved(2)
    group_number: int = u(6)
    additional_cdb_length: ClassVar[int] = const(8, 0x18)
    service_action: ClassVar[int] = const(16, 0x0010)
    wrprotect: int = u(3)
    dpo: bool = flag()
    fua: bool = flag()
    reserved_10: ClassVar[None] = reserved(3)
    reserved_11: ClassVar[None] = reserved(8)
    lba: int = u(64)
    expected_initial_logical_block_reference_tag: int = u(32)
    expected_logical_block_application_tag: int = u(16)
    logical_block_application_tag_mask: int = u(16)
    transfer_length: int = u(32)


@layout(16)
@dataclass(frozen=True, slots=True)
class WriteAtomic16(Cdb):
    """SBC-4 WRITE ATOMIC (16) (9Ch)."""

    operation_code: ClassVar[int] = const(8, 0x9C)
    wrprotect: int = u(3)
    dpo: bool = flag()
    fua: bool = flag()
    reserved_1: ClassVar[None] = reserved(3)
    lba: int = u(64)
    atomic_boundary: int = u(16)
    transfer_length: int = u(16)
    reserved_14: ClassVar[None] = reserved(2)
    group_number: int = u(6)
    control: int = u(8)


@layout(32)
@dataclass(frozen=True, slots=True)
class WriteAtomic32(Cdb):
    """SBC-4 WRITE ATOMIC (32) (7Fh/000Fh)."""

    operation_code: ClassVar[int] = const(8, 0x7F)
    control: int = u(8)
    reserved_2: ClassVar[None] = reserved(16)
    atomic_boundary: int = u(16)
    reserved_6: ClassVar[None] = reserved(2)
    group_number: int = u(6)
    additional_cdb_length: ClassVar[int] = const(8, 0x18)
    service_action: ClassVar[int] = const(16, 0x000F)
    wrprotect: int = u(3)
    dpo: bool = flag()
    fua: bool = flag()
    reserved_10: ClassVar[None] = reserved(3)
    reserved_11: ClassVar[None] = reserved(8)
    lba: int = u(64)
    expected_initial_logical_block_reference_tag: int = u(32)
    expected_logical_block_application_tag: int = u(16)
    logical_block_application_tag_mask: int = u(16)
    transfer_length: int = u(32)


@layout(10)
@dataclass(frozen=True, slots=True)
class XorCommand10(Cdb):
    """SBC-3 XDWRITE (10) (50h), XPWRITE (10) (51h), XDREAD (10) (52h), XDWRITEREAD (10) (53h).

    Obsolete in SBC-4. Byte 1 carries WRPROTECT, DPO, FUA, DISABLE WRITE and XORPINFO.
    """

    operation_code: int = u(8, choices=(0x50, 0x51, 0x52, 0x53))
    wrprotect: int = u(3)
    dpo: bool = flag()
    fua: bool = flag()
    disable_write: bool = flag()
    obsolete_1: ClassVar[None] = reserved(1, "obsolete")
    xorpinfo: bool = flag()
    lba: int = u(32)
    reserved_6: ClassVar[None] = reserved(2)
    group_number: int = u(6)
    transfer_length: int = u(16)
    control: int = u(8)


@layout(32)
@dataclass(frozen=True, slots=True)
class XorCommand32(Cdb):
    """SBC-3 XDREAD/XDWRITE/XPWRITE/XDWRITEREAD (32) (7Fh/0003h, 0004h, 0006h, 0007h)."""

    operation_code: ClassVar[int] = const(8, 0x7F)
    control: int = u(8)
    reserved_2: ClassVar[None] = reserved(32)
    reserved_6: ClassVar[None] = reserved(2)
    group_number: int = u(6)
    additional_cdb_length: ClassVar[int] = const(8, 0x18)
    service_action: int = u(16, choices=(0x0003, 0x0004, 0x0006, 0x0007))
    wrprotect: int = u(3)
    dpo: bool = flag()
    fua: bool = flag()
    disable_write: bool = flag()
    obsolete_10: ClassVar[None] = reserved(1, "obsolete")
    xorpinfo: bool = flag()
    reserved_11: ClassVar[None] = reserved(8)
    lba: int = u(64)
    reserved_20: ClassVar[None] = reserved(64)
    transfer_length: int = u(32)


@layout(16)
@dataclass(frozen=True, slots=True)
class XdWriteExtended16(Cdb):
    """SBC-2 XDWRITE EXTENDED (16) (80h; obsolete), REBUILD (16) (81h), REGENERATE (16) (82h)."""

    operation_code: int = u(8, choices=(0x80, 0x81, 0x82))
    flags: int = u(8)
    lba: int = u(32)
    secondary_address: int = u(32)
    transfer_length: int = u(32)
    secondary_address_high: int = u(8)
    control: int = u(8)


@layout(16)
@dataclass(frozen=True, slots=True)
class ZbcOut(Cdb):
    """ZBC-2 ZBC OUT (94h): CLOSE ZONE, FINISH ZONE, OPEN ZONE, RESET WRITE POINTER, SEQUENTIALIZE ZONE."""

    operation_code: ClassVar[int] = const(8, 0x94)
    reserved_1: ClassVar[None] = reserved(3)
    service_action: int = u(5, choices=(0x01, 0x02, 0x03, 0x04, 0x10))
    zone_id: int = u(64)
    reserved_10: ClassVar[None] = reserved(16)
    zone_count: int = u(16)
    reserved_14: ClassVar[None] = reserved(7)
    all: bool = flag()
    control: int = u(8)


@layout(16)
@dataclass(frozen=True, slots=True)
class ZbcIn(Cdb):
    """ZBC-2 ZBC IN (95h): REPORT ZONES, REPORT REALMS, REPORT ZONE DOMAINS, ZONE ACTIVATE, ZONE QUERY."""

    operation_code: ClassVar[int] = const(8, 0x95)
    reserved_1: ClassVar[None] = reserved(3)
    service_action: int = u(5, choices=(0x00, 0x06, 0x07, 0x08, 0x09))
    zone_start_lba: int = u(64)
    allocation_length: int = u(32)
    partial: bool = flag()
    reserved_14: ClassVar[None] = reserved(1)
    reporting_options: int = u(6)
    control: int = u(8)
