"""What a slice's logical unit says about itself: INQUIRY data and VPD pages.

Owns `Identity` (vendor, product, revision, serial, the slice's own NAA
identifier), `Limits` (what the Block Limits VPD page advertises and the logical
unit enforces), `derive_naa` (a deterministic, locally administered NAA 6
identifier per target and slice, never the shared disk's) and the pure builders
of the standard INQUIRY data (SPC-5 6.7.2) and the VPD pages: Supported VPD
Pages (SPC-5 7.8.15), Unit Serial Number (SPC-5 7.8.16), Device Identification
(SPC-5 7.8.6), Extended INQUIRY Data (SPC-5 7.8.7), Block Limits (SBC-4 6.6.4),
Block Device Characteristics (SBC-4 6.6.2) and Logical Block Provisioning
(SBC-4 6.6.6).
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

__all__ = [
    "NAA_LOCAL_CID",
    "SUPPORTED_VPD_PAGES",
    "Identity",
    "Limits",
    "block_device_characteristics_vpd",
    "block_limits_vpd",
    "derive_naa",
    "device_identification_vpd",
    "extended_inquiry_vpd",
    "logical_block_provisioning_vpd",
    "standard_inquiry",
    "supported_vpd_pages",
    "unit_serial_number_vpd",
]

# A company ID (IEEE CID): second hex digit 0xA marks the ELI/CID quadrant of the
# IEEE SLAP, i.e. locally administered and never assigned to a manufacturer, so a
# derived identifier cannot collide with any real disk's NAA 6 identifier.
NAA_LOCAL_CID = 0x5A6767  # "Zgg": sgguard's locally administered company ID

# Version descriptors (SPC-5 table "Version descriptor values").
_VERSION_DESCRIPTORS = (
    0x00A0,  # SAM-5 (no version claimed)
    0x05C0,  # SPC-5 (no version claimed)
    0x0460,  # SPC-4 (no version claimed): what it implements is SPC-4 too
    0x0600,  # SBC-4 (no version claimed)
    0x04C0,  # SBC-3 (no version claimed)
    0x0960,  # iSCSI (no version claimed)
)

SUPPORTED_VPD_PAGES = (0x00, 0x80, 0x83, 0x86, 0xB0, 0xB1, 0xB2)


def derive_naa(target: str, slice_name: str) -> bytes:
    """A 16-byte NAA 6 (IEEE Registered Extended) identifier for one slice of one target.

    SPC-5 7.8.6.6.4: NAA (4 bits) = 6, IEEE company ID (24 bits), vendor specific
    identifier (36 bits) and extension (64 bits). The company ID is the locally
    administered `NAA_LOCAL_CID`; the 100 identifier bits are the first bits of
    SHA-256 over the target and slice names, so the same slice of the same target
    always gets the same identifier and different slices get different ones.
    """
    digest = hashlib.sha256(b"sgguard\0" + target.encode() + b"\0" + slice_name.encode()).digest()
    vendor_bits = int.from_bytes(digest[:13], "big") >> 4  # 100 bits
    value = (0x6 << 124) | (NAA_LOCAL_CID << 100) | vendor_bits
    return value.to_bytes(16, "big")


def _ascii_field(text: str, width: int) -> bytes:
    raw = text.encode("ascii", "replace")[:width]
    return raw.ljust(width, b" ")


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a logical unit says it is (INQUIRY and VPD pages 0x80 and 0x83).

    `naa` is the slice's own 16-byte NAA identifier (see `derive_naa`); `name`
    is a human name (target and slice) used in log records and in the T10 vendor
    ID designator. `relative_port` is the relative target port identifier the
    Device Identification page reports.
    """

    vendor: str
    product: str
    serial: str
    naa: bytes
    name: str
    revision: str = "0001"
    relative_port: int = 1
    removable: bool = False
    # INQUIRY VERSION: 06h (SPC-4). The unit implements what SPC-4 defines (the version
    # descriptors list SPC-5 too); initiators such as libiscsi 1.19 accept only 04h..06h
    # and skip or fail SPC-3+ checks on 07h. 07h (SPC-5) on request.
    version: int = 0x06

    def __post_init__(self) -> None:
        if len(self.naa) != 16 or self.naa[0] >> 4 != 6:
            raise ValueError("Identity.naa must be a 16-byte NAA 6 identifier")
        if not self.serial or not self.serial.isascii() or not self.serial.isprintable():
            raise ValueError("Identity.serial must be printable ASCII and not empty")
        if self.version not in (0x05, 0x06, 0x07):
            raise ValueError("Identity.version must be 05h (SPC-3), 06h (SPC-4) or 07h (SPC-5)")

    @classmethod
    def for_slice(
        cls,
        target: str,
        slice_name: str,
        *,
        vendor: str = "SGGUARD",
        product: str = "SLICE",
        revision: str = "0001",
        removable: bool = False,
    ) -> Identity:
        """The identity of slice `slice_name` of `target`, with a derived NAA and serial."""
        naa = derive_naa(target, slice_name)
        return cls(
            vendor=vendor,
            product=product,
            serial=naa[4:].hex(),
            naa=naa,
            name=f"{target}/{slice_name}",
            revision=revision,
            removable=removable,
        )


@dataclass(frozen=True, slots=True)
class Limits:
    """Block limits a logical unit advertises (SBC-4 6.6.4) and enforces, in blocks."""

    max_transfer: int = 16384
    optimal_transfer: int = 256
    max_prefetch: int = 16384
    max_unmap_lba_count: int = 0x100000
    max_unmap_descriptors: int = 256
    max_write_same: int = 0x100000
    max_compare_and_write: int = 255
    optimal_unmap_granularity: int = 1

    @classmethod
    def for_block_size(cls, block_size: int, max_transfer_bytes: int = 32 << 20) -> Limits:
        """Defaults for a block size: transfers (and pre-fetches) of up to 32 MiB."""
        blocks = max(1, max_transfer_bytes // block_size)
        return cls(max_transfer=blocks, max_prefetch=blocks)

    def __post_init__(self) -> None:
        if not 1 <= self.max_compare_and_write <= 255:
            raise ValueError("Limits.max_compare_and_write must be 1..255 (a one-byte field)")
        for name in (
            "max_transfer",
            "max_unmap_lba_count",
            "max_unmap_descriptors",
            "max_write_same",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"Limits.{name} must be at least 1")


def standard_inquiry(identity: Identity, *, third_party_copy: bool = True) -> bytes:
    """SPC-5 6.7.2 standard INQUIRY data for a direct-access block device (96 bytes)."""
    out = bytearray(96)
    out[0] = 0x00  # peripheral qualifier 0, device type 0 (SBC)
    out[1] = 0x80 if identity.removable else 0x00  # RMB
    out[2] = identity.version  # VERSION: 06h SPC-4 by default
    out[3] = 0x12  # HISUP=1, RESPONSE DATA FORMAT=2
    out[4] = len(out) - 5  # ADDITIONAL LENGTH
    out[5] = 0x08 if third_party_copy else 0x00  # 3PC; TPGS=0, PROTECT=0
    out[6] = 0x00
    out[7] = 0x02  # CMDQUE
    out[8:16] = _ascii_field(identity.vendor, 8)
    out[16:32] = _ascii_field(identity.product, 16)
    out[32:36] = _ascii_field(identity.revision, 4)
    for i, code in enumerate(_VERSION_DESCRIPTORS):
        struct.pack_into(">H", out, 58 + 2 * i, code)
    return bytes(out)


def _vpd(page: int, payload: bytes) -> bytes:
    return bytes((0x00, page)) + struct.pack(">H", len(payload)) + payload


def supported_vpd_pages() -> bytes:
    """SPC-5 7.8.15 Supported VPD Pages."""
    return _vpd(0x00, bytes(SUPPORTED_VPD_PAGES))


def unit_serial_number_vpd(identity: Identity) -> bytes:
    """SPC-5 7.8.16 Unit Serial Number."""
    return _vpd(0x80, identity.serial.encode("ascii"))


def _designator(code_set: int, piv_assoc_type: int, value: bytes, protocol: int = 0) -> bytes:
    return bytes(((protocol << 4) | code_set, piv_assoc_type, 0, len(value))) + value


def device_identification_vpd(identity: Identity, target_port: str = "") -> bytes:
    """SPC-5 7.8.6 Device Identification: the slice's NAA, a T10 vendor ID, the target port.

    Designators: NAA (logical unit, binary), T10 vendor ID (logical unit, ASCII:
    vendor + name), relative target port identifier (target port), and when
    `target_port` is given (the iSCSI target port name `iqn...,t,0x<TPGT>`) a SCSI
    name string designator for the target port (protocol identifier 5, iSCSI).
    """
    parts = [
        _designator(0x1, 0x03, identity.naa),  # binary, assoc LU, type 3 NAA
        _designator(
            0x2,
            0x01,
            _ascii_field(identity.vendor, 8) + identity.name.encode("ascii", "replace")[:200],
        ),
        _designator(0x1, 0x94, struct.pack(">HH", 0, identity.relative_port), protocol=5),
    ]
    if target_port:
        name = target_port.encode()[:251] + b"\0"
        name += b"\0" * (-len(name) % 4)  # SCSI name strings are padded to a multiple of 4
        parts.append(_designator(0x3, 0x98, name, protocol=5))  # UTF-8, PIV, assoc port, type 8
    return _vpd(0x83, b"".join(parts))


def extended_inquiry_vpd() -> bytes:
    """SPC-5 7.8.7 Extended INQUIRY Data: task attributes supported, LUICLR."""
    payload = bytearray(60)
    payload[1] = 0x07  # HEADSUP, ORDSUP, SIMPSUP
    payload[2] = 0x01  # V_SUP: the write cache (if any) is volatile
    payload[3] = 0x01  # LUICLR
    return _vpd(0x86, bytes(payload))


def block_limits_vpd(limits: Limits) -> bytes:
    """SBC-4 6.6.4 Block Limits."""
    payload = bytearray(60)
    payload[0] = 0x00  # WSNZ=0: WRITE SAME with zero blocks means to the end
    payload[1] = limits.max_compare_and_write
    struct.pack_into(">H", payload, 2, 1)  # OPTIMAL TRANSFER LENGTH GRANULARITY
    struct.pack_into(">I", payload, 4, limits.max_transfer)
    struct.pack_into(">I", payload, 8, limits.optimal_transfer)
    struct.pack_into(">I", payload, 12, limits.max_prefetch)
    struct.pack_into(">I", payload, 16, limits.max_unmap_lba_count)
    struct.pack_into(">I", payload, 20, limits.max_unmap_descriptors)
    struct.pack_into(">I", payload, 24, limits.optimal_unmap_granularity)
    struct.pack_into(">I", payload, 28, 0x80000000)  # UGAVALID=1, alignment 0
    struct.pack_into(">Q", payload, 32, limits.max_write_same)
    return _vpd(0xB0, bytes(payload))


def block_device_characteristics_vpd() -> bytes:
    """SBC-4 6.6.2 Block Device Characteristics: non-rotating medium, form factor not reported.

    WABEREQ 01b: after a SANITIZE BLOCK ERASE, reads of the slice succeed (the
    deallocated blocks read as zeros, LBPRZ); WACEREQ 00b: CRYPTOGRAPHIC ERASE is
    not supported (a slice holds no encryption key of its own).
    """
    payload = bytearray(60)
    struct.pack_into(">H", payload, 0, 0x0001)  # MEDIUM ROTATION RATE: non-rotating
    # WABEREQ=01b, WACEREQ=00b; NOMINAL FORM FACTOR 0h: not reported (a slice has none)
    payload[3] = 0x40
    return _vpd(0xB1, bytes(payload))


def logical_block_provisioning_vpd() -> bytes:
    """SBC-4 6.6.6 Logical Block Provisioning: thin, UNMAP and WRITE SAME unmap, LBPRZ."""
    payload = bytearray(4)
    payload[0] = 0  # THRESHOLD EXPONENT (no thresholds)
    payload[1] = 0x80 | 0x40 | 0x20 | 0x04  # LBPU, LBPWS, LBPWS10, LBPRZ=001
    payload[2] = 0x02  # PROVISIONING TYPE: thin provisioned
    return _vpd(0xB2, bytes(payload))
