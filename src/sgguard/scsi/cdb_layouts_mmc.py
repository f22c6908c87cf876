"""CDB layouts of the MMC-6 (CD/DVD/BD) commands that differ from SPC-5 and SBC-4.

Owns the field-by-field shape of the multimedia commands (declared like
`sgguard.scsi.cdb_layouts`: annotations from the MSB of byte 0 to the LSB of
the last byte; `ClassVar` entries are constants and reserved bits). Commands
that MMC shares with SBC (READ (10), WRITE (10), ...) use the SBC layouts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from sgguard.scsi.layout import Cdb, const, flag, layout, reserved, u

__all__ = [
    "Blank",
    "CloseTrackSession",
    "GetConfiguration",
    "GetEventStatusNotification",
    "GetPerformance",
    "LoadUnloadMedium",
    "MechanismStatus",
    "PauseResume",
    "PlayAudio10",
    "PlayAudio12",
    "PlayAudioMsf",
    "PlayAudioTrackIndex",
    "PlayCd",
    "ReadBufferCapacity",
    "ReadCd",
    "ReadCdMsf",
    "ReadDiscInformation",
    "ReadDiscStructure",
    "ReadFormatCapacities",
    "ReadHeader",
    "ReadSubChannel",
    "ReadTocPmaAtip",
    "ReadTrackInformation",
    "RepairTrack",
    "ReportKey",
    "ReserveTrack",
    "Scan",
    "SendCueSheet",
    "SendDiscStructure",
    "SendEvent",
    "SendKey",
    "SendOpcInformation",
    "SetCdSpeed",
    "SetReadAhead",
    "SetStreaming",
    "StopPlayScan",
]


@layout(10)
@dataclass(frozen=True, slots=True)
class ReadFormatCapacities(Cdb):
    """MMC-6 READ FORMAT CAPACITIES."""

    operation_code: ClassVar[int] = const(8, 0x23)
    reserved_1: ClassVar[None] = reserved(48)
    allocation_length: int = u(16)
    control: int = u(8)


@layout(10)
@dataclass(frozen=True, slots=True)
class ReadSubChannel(Cdb):
    """MMC-6 READ SUB-CHANNEL (42h on MMC; UNMAP on SBC)."""

    operation_code: ClassVar[int] = const(8, 0x42)
    reserved_1: ClassVar[None] = reserved(6)
    msf: bool = flag()
    reserved_1b: ClassVar[None] = reserved(1)
    reserved_2: ClassVar[None] = reserved(1)
    subq: bool = flag()
    reserved_2b: ClassVar[None] = reserved(6)
    sub_channel_parameter_list: int = u(8)
    reserved_4: ClassVar[None] = reserved(16)
    track_number: int = u(8)
    allocation_length: int = u(16)
    control: int = u(8)


@layout(10)
@dataclass(frozen=True, slots=True)
class ReadTocPmaAtip(Cdb):
    """MMC-6 READ TOC/PMA/ATIP."""

    operation_code: ClassVar[int] = const(8, 0x43)
    reserved_1: ClassVar[None] = reserved(6)
    msf: bool = flag()
    reserved_1b: ClassVar[None] = reserved(1)
    reserved_2: ClassVar[None] = reserved(4)
    format: int = u(4)
    reserved_3: ClassVar[None] = reserved(24)
    track_session_number: int = u(8)
    allocation_length: int = u(16)
    control: int = u(8)


@layout(10)
@dataclass(frozen=True, slots=True)
class ReadHeader(Cdb):
    """MMC-3 READ HEADER (44h; obsolete)."""

    operation_code: ClassVar[int] = const(8, 0x44)
    reserved_1: ClassVar[None] = reserved(6)
    msf: bool = flag()
    reserved_1b: ClassVar[None] = reserved(1)
    lba: int = u(32)
    reserved_6: ClassVar[None] = reserved(8)
    allocation_length: int = u(16)
    control: int = u(8)


@layout(10)
@dataclass(frozen=True, slots=True)
class PlayAudio10(Cdb):
    """MMC-6 PLAY AUDIO (10)."""

    operation_code: ClassVar[int] = const(8, 0x45)
    reserved_1: ClassVar[None] = reserved(8)
    starting_lba: int = u(32)
    reserved_6: ClassVar[None] = reserved(8)
    play_length: int = u(16)
    control: int = u(8)


@layout(10)
@dataclass(frozen=True, slots=True)
class GetConfiguration(Cdb):
    """MMC-6 GET CONFIGURATION."""

    operation_code: ClassVar[int] = const(8, 0x46)
    reserved_1: ClassVar[None] = reserved(6)
    rt: int = u(2)
    starting_feature_number: int = u(16)
    reserved_4: ClassVar[None] = reserved(24)
    allocation_length: int = u(16)
    control: int = u(8)


@layout(10)
@dataclass(frozen=True, slots=True)
class PlayAudioMsf(Cdb):
    """MMC-6 PLAY AUDIO MSF."""

    operation_code: ClassVar[int] = const(8, 0x47)
    reserved_1: ClassVar[None] = reserved(16)
    starting_m: int = u(8)
    starting_s: int = u(8)
    starting_f: int = u(8)
    ending_m: int = u(8)
    ending_s: int = u(8)
    ending_f: int = u(8)
    control: int = u(8)


@layout(10)
@dataclass(frozen=True, slots=True)
class PlayAudioTrackIndex(Cdb):
    """MMC-1 PLAY AUDIO TRACK INDEX (48h on MMC; SANITIZE on SBC)."""

    operation_code: ClassVar[int] = const(8, 0x48)
    reserved_1: ClassVar[None] = reserved(24)
    starting_track: int = u(8)
    starting_index: int = u(8)
    reserved_6: ClassVar[None] = reserved(8)
    ending_track: int = u(8)
    ending_index: int = u(8)
    control: int = u(8)


@layout(10)
@dataclass(frozen=True, slots=True)
class GetEventStatusNotification(Cdb):
    """MMC-6 GET EVENT STATUS NOTIFICATION."""

    operation_code: ClassVar[int] = const(8, 0x4A)
    reserved_1: ClassVar[None] = reserved(7)
    polled: bool = flag()
    reserved_2: ClassVar[None] = reserved(16)
    notification_class_request: int = u(8)
    reserved_5: ClassVar[None] = reserved(16)
    allocation_length: int = u(16)
    control: int = u(8)


@layout(10)
@dataclass(frozen=True, slots=True)
class PauseResume(Cdb):
    """MMC-6 PAUSE/RESUME."""

    operation_code: ClassVar[int] = const(8, 0x4B)
    reserved_1: ClassVar[None] = reserved(63)
    resume: bool = flag()
    control: int = u(8)


@layout(10)
@dataclass(frozen=True, slots=True)
class StopPlayScan(Cdb):
    """MMC-6 STOP PLAY/SCAN."""

    operation_code: ClassVar[int] = const(8, 0x4E)
    reserved_1: ClassVar[None] = reserved(64)
    control: int = u(8)


@layout(10)
@dataclass(frozen=True, slots=True)
class ReadDiscInformation(Cdb):
    """MMC-6 READ DISC INFORMATION (51h on MMC; XPWRITE (10) on SBC)."""

    operation_code: ClassVar[int] = const(8, 0x51)
    reserved_1: ClassVar[None] = reserved(5)
    data_type: int = u(3)
    reserved_2: ClassVar[None] = reserved(40)
    allocation_length: int = u(16)
    control: int = u(8)


@layout(10)
@dataclass(frozen=True, slots=True)
class ReadTrackInformation(Cdb):
    """MMC-6 READ TRACK INFORMATION (52h on MMC; XDREAD (10) on SBC)."""

    operation_code: ClassVar[int] = const(8, 0x52)
    reserved_1: ClassVar[None] = reserved(5)
    open: bool = flag()
    address_number_type: int = u(2)
    lba_track_session_number: int = u(32)
    reserved_6: ClassVar[None] = reserved(8)
    allocation_length: int = u(16)
    control: int = u(8)


@layout(10)
@dataclass(frozen=True, slots=True)
class ReserveTrack(Cdb):
    """MMC-6 RESERVE TRACK (53h on MMC; XDWRITEREAD (10) on SBC)."""

    operation_code: ClassVar[int] = const(8, 0x53)
    reserved_1: ClassVar[None] = reserved(7)
    arsv: bool = flag()
    reservation_parameter: int = u(56)
    control: int = u(8)


@layout(10)
@dataclass(frozen=True, slots=True)
class SendOpcInformation(Cdb):
    """MMC-6 SEND OPC INFORMATION."""

    operation_code: ClassVar[int] = const(8, 0x54)
    reserved_1: ClassVar[None] = reserved(7)
    doopc: bool = flag()
    reserved_2: ClassVar[None] = reserved(40)
    parameter_list_length: int = u(16)
    control: int = u(8)


@layout(10)
@dataclass(frozen=True, slots=True)
class RepairTrack(Cdb):
    """MMC-6 REPAIR TRACK (obsolete in MMC-6)."""

    operation_code: ClassVar[int] = const(8, 0x58)
    reserved_1: ClassVar[None] = reserved(7)
    immed: bool = flag()
    reserved_2: ClassVar[None] = reserved(16)
    track_number: int = u(16)
    reserved_6: ClassVar[None] = reserved(24)
    control: int = u(8)


@layout(10)
@dataclass(frozen=True, slots=True)
class CloseTrackSession(Cdb):
    """MMC-6 CLOSE TRACK/SESSION."""

    operation_code: ClassVar[int] = const(8, 0x5B)
    reserved_1: ClassVar[None] = reserved(7)
    immed: bool = flag()
    reserved_2: ClassVar[None] = reserved(5)
    close_function: int = u(3)
    reserved_3: ClassVar[None] = reserved(8)
    track_session_number: int = u(16)
    reserved_6: ClassVar[None] = reserved(24)
    control: int = u(8)


@layout(10)
@dataclass(frozen=True, slots=True)
class ReadBufferCapacity(Cdb):
    """MMC-6 READ BUFFER CAPACITY."""

    operation_code: ClassVar[int] = const(8, 0x5C)
    reserved_1: ClassVar[None] = reserved(7)
    block: bool = flag()
    reserved_2: ClassVar[None] = reserved(40)
    allocation_length: int = u(16)
    control: int = u(8)


@layout(10)
@dataclass(frozen=True, slots=True)
class SendCueSheet(Cdb):
    """MMC-6 SEND CUE SHEET."""

    operation_code: ClassVar[int] = const(8, 0x5D)
    reserved_1: ClassVar[None] = reserved(40)
    cue_sheet_size: int = u(24)
    control: int = u(8)


@layout(12)
@dataclass(frozen=True, slots=True)
class Blank(Cdb):
    """MMC-6 BLANK (A1h on MMC; ATA PASS-THROUGH (12) elsewhere)."""

    operation_code: ClassVar[int] = const(8, 0xA1)
    reserved_1: ClassVar[None] = reserved(3)
    immed: bool = flag()
    reserved_1b: ClassVar[None] = reserved(1)
    blanking_type: int = u(3)
    start_address_track_number: int = u(32)
    reserved_6: ClassVar[None] = reserved(40)
    control: int = u(8)


@layout(12)
@dataclass(frozen=True, slots=True)
class SendEvent(Cdb):
    """MMC-5 SEND EVENT (A2h on MMC; SECURITY PROTOCOL IN elsewhere)."""

    operation_code: ClassVar[int] = const(8, 0xA2)
    reserved_1: ClassVar[None] = reserved(7)
    immed: bool = flag()
    reserved_2: ClassVar[None] = reserved(48)
    parameter_list_length: int = u(16)
    reserved_10: ClassVar[None] = reserved(8)
    control: int = u(8)


@layout(12)
@dataclass(frozen=True, slots=True)
class SendKey(Cdb):
    """MMC-6 SEND KEY (A3h on MMC; MAINTENANCE IN elsewhere)."""

    operation_code: ClassVar[int] = const(8, 0xA3)
    reserved_1: ClassVar[None] = reserved(48)
    key_class: int = u(8)
    parameter_list_length: int = u(16)
    agid: int = u(2)
    key_format: int = u(6)
    control: int = u(8)


@layout(12)
@dataclass(frozen=True, slots=True)
class ReportKey(Cdb):
    """MMC-6 REPORT KEY (A4h on MMC; MAINTENANCE OUT elsewhere)."""

    operation_code: ClassVar[int] = const(8, 0xA4)
    reserved_1: ClassVar[None] = reserved(8)
    lba: int = u(32)
    block_count: int = u(8)
    key_class: int = u(8)
    allocation_length: int = u(16)
    agid: int = u(2)
    key_format: int = u(6)
    control: int = u(8)


@layout(12)
@dataclass(frozen=True, slots=True)
class PlayAudio12(Cdb):
    """MMC-6 PLAY AUDIO (12) (A5h on MMC; MOVE MEDIUM on SMC)."""

    operation_code: ClassVar[int] = const(8, 0xA5)
    reserved_1: ClassVar[None] = reserved(8)
    starting_lba: int = u(32)
    play_length: int = u(32)
    reserved_10: ClassVar[None] = reserved(8)
    control: int = u(8)


@layout(12)
@dataclass(frozen=True, slots=True)
class LoadUnloadMedium(Cdb):
    """MMC-6 LOAD/UNLOAD MEDIUM (A6h on MMC; EXCHANGE MEDIUM on SMC)."""

    operation_code: ClassVar[int] = const(8, 0xA6)
    reserved_1: ClassVar[None] = reserved(7)
    immed: bool = flag()
    reserved_2: ClassVar[None] = reserved(22)
    lo_unlo: bool = flag()
    start: bool = flag()
    reserved_5: ClassVar[None] = reserved(24)
    slot: int = u(8)
    reserved_9: ClassVar[None] = reserved(16)
    control: int = u(8)


@layout(12)
@dataclass(frozen=True, slots=True)
class SetReadAhead(Cdb):
    """MMC-6 SET READ AHEAD."""

    operation_code: ClassVar[int] = const(8, 0xA7)
    reserved_1: ClassVar[None] = reserved(8)
    trigger_lba: int = u(32)
    read_ahead_lba: int = u(32)
    reserved_10: ClassVar[None] = reserved(8)
    control: int = u(8)


@layout(12)
@dataclass(frozen=True, slots=True)
class GetPerformance(Cdb):
    """MMC-6 GET PERFORMANCE."""

    operation_code: ClassVar[int] = const(8, 0xAC)
    reserved_1: ClassVar[None] = reserved(3)
    data_type: int = u(5)
    starting_lba: int = u(32)
    reserved_6: ClassVar[None] = reserved(16)
    maximum_number_of_descriptors: int = u(16)
    type: int = u(8)
    control: int = u(8)


@layout(12)
@dataclass(frozen=True, slots=True)
class ReadDiscStructure(Cdb):
    """MMC-6 READ DISC STRUCTURE."""

    operation_code: ClassVar[int] = const(8, 0xAD)
    reserved_1: ClassVar[None] = reserved(4)
    media_type: int = u(4)
    address: int = u(32)
    layer_number: int = u(8)
    format: int = u(8)
    allocation_length: int = u(16)
    agid: int = u(2)
    reserved_10: ClassVar[None] = reserved(6)
    control: int = u(8)


@layout(12)
@dataclass(frozen=True, slots=True)
class SetStreaming(Cdb):
    """MMC-6 SET STREAMING."""

    operation_code: ClassVar[int] = const(8, 0xB6)
    reserved_1: ClassVar[None] = reserved(56)
    type: int = u(8)
    parameter_list_length: int = u(16)
    control: int = u(8)


@layout(12)
@dataclass(frozen=True, slots=True)
class ReadCdMsf(Cdb):
    """MMC-6 READ CD MSF."""

    operation_code: ClassVar[int] = const(8, 0xB9)
    reserved_1: ClassVar[None] = reserved(3)
    expected_sector_type: int = u(3)
    dap: bool = flag()
    reserved_1b: ClassVar[None] = reserved(1)
    reserved_2: ClassVar[None] = reserved(8)
    starting_m: int = u(8)
    starting_s: int = u(8)
    starting_f: int = u(8)
    ending_m: int = u(8)
    ending_s: int = u(8)
    ending_f: int = u(8)
    sync: bool = flag()
    header_codes: int = u(2)
    user_data: bool = flag()
    edc_ecc: bool = flag()
    c2_error_information: int = u(2)
    reserved_9: ClassVar[None] = reserved(1)
    reserved_10: ClassVar[None] = reserved(5)
    sub_channel_data_selection: int = u(3)
    control: int = u(8)


@layout(12)
@dataclass(frozen=True, slots=True)
class Scan(Cdb):
    """MMC-6 SCAN (obsolete)."""

    operation_code: ClassVar[int] = const(8, 0xBA)
    reserved_1: ClassVar[None] = reserved(3)
    dirct: bool = flag()
    reserved_1b: ClassVar[None] = reserved(3)
    reladr: bool = flag()
    scan_starting_address: int = u(32)
    reserved_6: ClassVar[None] = reserved(24)
    type: int = u(2)
    reserved_9: ClassVar[None] = reserved(6)
    reserved_10: ClassVar[None] = reserved(8)
    control: int = u(8)


@layout(12)
@dataclass(frozen=True, slots=True)
class SetCdSpeed(Cdb):
    """MMC-6 SET CD SPEED."""

    operation_code: ClassVar[int] = const(8, 0xBB)
    reserved_1: ClassVar[None] = reserved(6)
    rotational_control: int = u(2)
    logical_unit_read_speed: int = u(16)
    logical_unit_write_speed: int = u(16)
    reserved_6: ClassVar[None] = reserved(40)
    control: int = u(8)


@layout(12)
@dataclass(frozen=True, slots=True)
class PlayCd(Cdb):
    """MMC-2 PLAY CD (obsolete)."""

    operation_code: ClassVar[int] = const(8, 0xBC)
    expected_sector_type: int = u(3)
    reserved_1: ClassVar[None] = reserved(3)
    cmsf: bool = flag()
    reserved_1b: ClassVar[None] = reserved(1)
    starting_lba: int = u(32)
    play_length: int = u(32)
    flags: int = u(8)
    control: int = u(8)


@layout(12)
@dataclass(frozen=True, slots=True)
class MechanismStatus(Cdb):
    """MMC-6 MECHANISM STATUS."""

    operation_code: ClassVar[int] = const(8, 0xBD)
    reserved_1: ClassVar[None] = reserved(56)
    allocation_length: int = u(16)
    reserved_10: ClassVar[None] = reserved(8)
    control: int = u(8)


@layout(12)
@dataclass(frozen=True, slots=True)
class ReadCd(Cdb):
    """MMC-6 READ CD."""

    operation_code: ClassVar[int] = const(8, 0xBE)
    reserved_1: ClassVar[None] = reserved(3)
    expected_sector_type: int = u(3)
    dap: bool = flag()
    reserved_1b: ClassVar[None] = reserved(1)
    starting_lba: int = u(32)
    transfer_length: int = u(24)
    sync: bool = flag()
    header_codes: int = u(2)
    user_data: bool = flag()
    edc_ecc: bool = flag()
    c2_error_information: int = u(2)
    reserved_9: ClassVar[None] = reserved(1)
    reserved_10: ClassVar[None] = reserved(5)
    sub_channel_data_selection: int = u(3)
    control: int = u(8)


@layout(12)
@dataclass(frozen=True, slots=True)
class SendDiscStructure(Cdb):
    """MMC-6 SEND DISC STRUCTURE."""

    operation_code: ClassVar[int] = const(8, 0xBF)
    reserved_1: ClassVar[None] = reserved(4)
    media_type: int = u(4)
    reserved_2: ClassVar[None] = reserved(40)
    format: int = u(8)
    parameter_list_length: int = u(16)
    agid: int = u(2)
    reserved_10: ClassVar[None] = reserved(6)
    control: int = u(8)
