"""Real SCSI pass-through on Linux: SG_IO (sg_io_hdr v3) and the other SCSI ioctls.

Owns the thin I/O shell between sgguard and a kernel's SCSI pass-through interface:
the `sg_io_hdr` v3 structure (Linux `include/uapi/scsi/sg.h`, interface id 'S'),
`SgDevice.execute` (one CDB, optional data-out or data-in, status + sense + data
back), every ioctl named in the kernel-cases spec (`SCSI_IOCTL_SEND_COMMAND`,
`CDROMEJECT`, `SG_GET_VERSION_NUM`, ...) as `SgDevice.ioctl_case`, opening nodes
read-only or read-write (always with O_NONBLOCK, as sg3_utils does), and dropping
CAP_SYS_RAWIO from a process with capset(2)/prctl(2) through ctypes.

SCSI answers are values (`SgResult.status`, `SgResult.sense`); the kernel's policy
answers are errno values (`IoctlResult.errno_name`). Only a failure to open a node
raises (`OSError`, from the operating system).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import os
import struct
import time
from dataclasses import dataclass

from sgguard.ioctls import IOCTL_NUMBERS, Ioctl

__all__ = [
    "CAP_SYS_ADMIN",
    "CAP_SYS_RAWIO",
    "IOCTL_NUMBERS",
    "SG_DXFER_FROM_DEV",
    "SG_DXFER_NONE",
    "SG_DXFER_TO_DEV",
    "SG_IO",
    "IoctlName",
    "IoctlResult",
    "SgDevice",
    "SgResult",
    "cdb_length_for_opcode",
    "drop_capability",
    "errno_name_of",
    "has_capability",
]

# ioctl request numbers: include/uapi/scsi/sg.h, include/scsi/scsi_ioctl.h,
# include/uapi/linux/cdrom.h.
SG_IO = IOCTL_NUMBERS[Ioctl.SG_IO]
SG_SET_TIMEOUT = IOCTL_NUMBERS[Ioctl.SG_SET_TIMEOUT]
SG_GET_TIMEOUT = IOCTL_NUMBERS[Ioctl.SG_GET_TIMEOUT]
SG_EMULATED_HOST = IOCTL_NUMBERS[Ioctl.SG_EMULATED_HOST]
SG_GET_RESERVED_SIZE = IOCTL_NUMBERS[Ioctl.SG_GET_RESERVED_SIZE]
SG_SET_RESERVED_SIZE = IOCTL_NUMBERS[Ioctl.SG_SET_RESERVED_SIZE]
SG_GET_VERSION_NUM = IOCTL_NUMBERS[Ioctl.SG_GET_VERSION_NUM]
SCSI_IOCTL_SEND_COMMAND = IOCTL_NUMBERS[Ioctl.SCSI_IOCTL_SEND_COMMAND]
SCSI_IOCTL_GET_IDLUN = IOCTL_NUMBERS[Ioctl.SCSI_IOCTL_GET_IDLUN]
SCSI_IOCTL_PROBE_HOST = IOCTL_NUMBERS[Ioctl.SCSI_IOCTL_PROBE_HOST]
SCSI_IOCTL_GET_BUS_NUMBER = IOCTL_NUMBERS[Ioctl.SCSI_IOCTL_GET_BUS_NUMBER]
SCSI_IOCTL_GET_PCI = IOCTL_NUMBERS[Ioctl.SCSI_IOCTL_GET_PCI]
CDROMEJECT = IOCTL_NUMBERS[Ioctl.CDROMEJECT]
CDROMCLOSETRAY = IOCTL_NUMBERS[Ioctl.CDROMCLOSETRAY]
BLKRRPART = 0x125F

SG_DXFER_NONE = -1
SG_DXFER_TO_DEV = -2
SG_DXFER_FROM_DEV = -3

SG_INTERFACE_ID = ord("S")
SENSE_MAX = 64

CAP_SYS_RAWIO = 17
CAP_SYS_ADMIN = 21
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_PR_CAPBSET_DROP = 24


# The spec's ioctls under the name this module has always exported.
IoctlName = Ioctl


class _SgIoHdr(ctypes.Structure):
    """`struct sg_io_hdr` (include/uapi/scsi/sg.h), native layout and alignment."""

    _fields_ = [
        ("interface_id", ctypes.c_int),
        ("dxfer_direction", ctypes.c_int),
        ("cmd_len", ctypes.c_ubyte),
        ("mx_sb_len", ctypes.c_ubyte),
        ("iovec_count", ctypes.c_ushort),
        ("dxfer_len", ctypes.c_uint),
        ("dxferp", ctypes.c_void_p),
        ("cmdp", ctypes.c_void_p),
        ("sbp", ctypes.c_void_p),
        ("timeout", ctypes.c_uint),
        ("flags", ctypes.c_uint),
        ("pack_id", ctypes.c_int),
        ("usr_ptr", ctypes.c_void_p),
        ("status", ctypes.c_ubyte),
        ("masked_status", ctypes.c_ubyte),
        ("msg_status", ctypes.c_ubyte),
        ("sb_len_wr", ctypes.c_ubyte),
        ("host_status", ctypes.c_ushort),
        ("driver_status", ctypes.c_ushort),
        ("resid", ctypes.c_int),
        ("duration", ctypes.c_uint),
        ("info", ctypes.c_uint),
    ]


def cdb_length_for_opcode(opcode: int) -> int:
    """CDB length implied by the opcode's group code (SPC-6 4.2.5.1, table 4).

    Groups 0/1/2/4/5 are 6/10/10/16/12 bytes; the reserved group 3 and the vendor
    groups 6/7 get 12/10/10 as in the kernel's `COMMAND_SIZE` table. The variable
    length opcode 0x7f is sized from its ADDITIONAL CDB LENGTH byte by the caller.
    """
    group = (opcode >> 5) & 7
    return (6, 10, 10, 12, 16, 12, 10, 10)[group]


def errno_name_of(code: int) -> str:
    return errno.errorcode.get(code, f"E{code}")


@dataclass(frozen=True, slots=True)
class SgResult:
    """What one SG_IO returned.

    `errno_name` is None when the ioctl itself succeeded; then `status` is the SCSI
    status byte (SAM-6 5.3.1: 0x00 GOOD, 0x02 CHECK CONDITION), `sense` the sense
    bytes the device wrote, `data` the data-in bytes actually transferred.
    """

    status: int
    sense: bytes
    data: bytes
    resid: int
    host_status: int
    driver_status: int
    duration: int
    errno_name: str | None = None
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return (
            self.errno_name is None
            and self.status == 0
            and self.host_status == 0
            and (self.driver_status & 0x0F) == 0
        )


@dataclass(frozen=True, slots=True)
class IoctlResult:
    """What one ioctl of the cases spec returned: errno name, or the return value."""

    ioctl: str
    errno_name: str | None
    value: int
    detail: str = ""
    scsi_status: int | None = None

    @property
    def allowed(self) -> bool:
        """True unless the kernel's policy refused (EPERM, ENOTTY or EACCES)."""
        return self.errno_name not in ("EPERM", "ENOTTY", "EACCES")


class SgDevice:
    """An opened SCSI node (/dev/sdX, /dev/sdXN, /dev/sgN, /dev/dm-N, ...).

    `SgDevice(path, write=True)` opens O_RDWR|O_NONBLOCK, otherwise O_RDONLY|O_NONBLOCK.
    Use as a context manager or call `close()`.
    """

    def __init__(self, path: str, *, write: bool = False, fd: int | None = None) -> None:
        self.path = path
        self.write = write
        flags = (os.O_RDWR if write else os.O_RDONLY) | os.O_NONBLOCK
        self.fd = fd if fd is not None else os.open(path, flags)

    def __enter__(self) -> SgDevice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def execute(
        self,
        cdb: bytes,
        data_out: bytes = b"",
        data_in_len: int = 0,
        timeout_ms: int = 20_000,
    ) -> SgResult:
        """Send one CDB with SG_IO (v3 header) and return status, sense and data-in.

        An errno from the ioctl (the kernel's policy said no, or the request was
        malformed) comes back as `SgResult.errno_name`, not as an exception.
        """
        if not 1 <= len(cdb) <= 255:
            raise ValueError(f"CDB length {len(cdb)} is outside 1..255")
        if data_out and data_in_len:
            raise ValueError("bidirectional transfers are not supported by SG_IO v3")
        cdb_buf = ctypes.create_string_buffer(bytes(cdb), len(cdb))
        sense_buf = ctypes.create_string_buffer(SENSE_MAX)
        hdr = _SgIoHdr()
        hdr.interface_id = SG_INTERFACE_ID
        hdr.cmd_len = len(cdb)
        hdr.mx_sb_len = SENSE_MAX
        hdr.cmdp = ctypes.addressof(cdb_buf)
        hdr.sbp = ctypes.addressof(sense_buf)
        hdr.timeout = timeout_ms
        data_buf: ctypes.Array[ctypes.c_char] | None = None
        if data_out:
            data_buf = ctypes.create_string_buffer(bytes(data_out), len(data_out))
            hdr.dxfer_direction = SG_DXFER_TO_DEV
            hdr.dxfer_len = len(data_out)
        elif data_in_len:
            data_buf = ctypes.create_string_buffer(data_in_len)
            hdr.dxfer_direction = SG_DXFER_FROM_DEV
            hdr.dxfer_len = data_in_len
        else:
            hdr.dxfer_direction = SG_DXFER_NONE
        if data_buf is not None:
            hdr.dxferp = ctypes.addressof(data_buf)
        start = time.monotonic()
        try:
            fcntl.ioctl(self.fd, SG_IO, hdr)
        except OSError as exc:
            return SgResult(
                status=0,
                sense=b"",
                data=b"",
                resid=0,
                host_status=0,
                driver_status=0,
                duration=0,
                errno_name=errno_name_of(exc.errno or 0),
                elapsed=time.monotonic() - start,
            )
        elapsed = time.monotonic() - start
        data = b""
        if data_buf is not None and data_in_len:
            got = max(0, data_in_len - max(hdr.resid, 0))
            data = data_buf.raw[:got]
        return SgResult(
            status=hdr.status,
            sense=sense_buf.raw[: hdr.sb_len_wr],
            data=data,
            resid=hdr.resid,
            host_status=hdr.host_status,
            driver_status=hdr.driver_status,
            duration=hdr.duration,
            errno_name=None,
            elapsed=elapsed,
        )

    def send_command(self, cdb: bytes, data_out: bytes = b"", data_in_len: int = 0) -> IoctlResult:
        """SCSI_IOCTL_SEND_COMMAND (the old interface, include/scsi/scsi_ioctl.h).

        The argument is `{u32 inlen; u32 outlen; u8 data[]}`: the CDB (its length
        implied by the opcode) then data-out; data-in is written over `data`.
        The return value is the SCSI result word (0 means GOOD).
        """
        room = max(len(cdb) + len(data_out), data_in_len, 16)
        buf = bytearray(struct.pack("=II", len(data_out), data_in_len))
        buf += bytes(cdb) + bytes(data_out)
        buf += bytes(8 + room - len(buf))
        try:
            value = fcntl.ioctl(self.fd, SCSI_IOCTL_SEND_COMMAND, buf, True)
        except OSError as exc:
            return IoctlResult("SCSI_IOCTL_SEND_COMMAND", errno_name_of(exc.errno or 0), -1)
        return IoctlResult(
            "SCSI_IOCTL_SEND_COMMAND",
            None,
            value,
            detail=bytes(buf[8 : 8 + data_in_len]).hex() if data_in_len else "",
            scsi_status=value & 0xFF,
        )

    def ioctl_case(self, name: str, cdb: bytes | None = None) -> IoctlResult:
        """Issue one ioctl of the kernel-cases spec the way the lab's matrix does.

        SG_IO and SCSI_IOCTL_SEND_COMMAND carry `cdb` with no data transfer; the
        getters get a buffer of the right size; SG_SET_TIMEOUT and
        SG_SET_RESERVED_SIZE set harmless values (60 s of timeout, 32 KiB).
        """
        try:
            ioctl = IoctlName(name)
        except ValueError as exc:
            raise ValueError(f"unknown ioctl {name!r}") from exc
        if ioctl is IoctlName.SG_IO:
            if cdb is None:
                raise ValueError("SG_IO needs a CDB")
            res = self.execute(cdb, timeout_ms=10_000)
            return IoctlResult(
                name,
                res.errno_name,
                0 if res.errno_name is None else -1,
                detail=res.sense.hex(),
                scsi_status=None if res.errno_name else res.status,
            )
        if ioctl is IoctlName.SCSI_IOCTL_SEND_COMMAND:
            if cdb is None:
                raise ValueError("SCSI_IOCTL_SEND_COMMAND needs a CDB")
            return self.send_command(cdb)
        number = IOCTL_NUMBERS[ioctl]
        arg: bytearray | int
        if ioctl in (IoctlName.CDROMEJECT, IoctlName.CDROMCLOSETRAY, IoctlName.SG_GET_TIMEOUT):
            arg = 0
        elif ioctl is IoctlName.SG_SET_TIMEOUT:
            arg = bytearray(struct.pack("=i", 60 * 100))  # in USER_HZ ticks
        elif ioctl is IoctlName.SG_SET_RESERVED_SIZE:
            arg = bytearray(struct.pack("=i", 32 * 1024))
        elif ioctl is IoctlName.SCSI_IOCTL_GET_IDLUN:
            arg = bytearray(8)
        elif ioctl is IoctlName.SCSI_IOCTL_GET_PCI:
            arg = bytearray(20)
        elif ioctl is IoctlName.SCSI_IOCTL_PROBE_HOST:
            arg = bytearray(struct.pack("=I", 252) + bytes(252))
        else:
            arg = bytearray(4)
        try:
            if isinstance(arg, int):
                value = fcntl.ioctl(self.fd, number, arg)
                detail = ""
            else:
                value = fcntl.ioctl(self.fd, number, arg, True)
                detail = bytes(arg).rstrip(b"\0").hex()
        except OSError as exc:
            return IoctlResult(name, errno_name_of(exc.errno or 0), -1)
        return IoctlResult(name, None, value, detail=detail)

    def version_num(self) -> int:
        """SG_GET_VERSION_NUM: the sg driver version (e.g. 30536 for 3.5.36)."""
        buf = bytearray(4)
        fcntl.ioctl(self.fd, SG_GET_VERSION_NUM, buf, True)
        return int(struct.unpack("=i", buf)[0])

    def inquiry(self, allocation_length: int = 96) -> SgResult:
        """SPC-6 6.7 INQUIRY, standard data."""
        cdb = bytes([0x12, 0, 0, allocation_length >> 8, allocation_length & 0xFF, 0])
        return self.execute(cdb, data_in_len=allocation_length)

    def read_capacity10(self) -> SgResult:
        """SBC-4 5.20 READ CAPACITY (10): last LBA and block length."""
        return self.execute(bytes([0x25] + [0] * 9), data_in_len=8)

    def read_capacity16(self) -> SgResult:
        """SBC-4 5.21 READ CAPACITY (16) (SERVICE ACTION IN (16), SA 10h)."""
        return self.execute(bytes([0x9E, 0x10] + [0] * 8 + [0, 0, 0, 32, 0, 0]), data_in_len=32)

    def reread_partitions(self) -> None:
        """BLKRRPART on a whole-disk block node (raises OSError on failure)."""
        fcntl.ioctl(self.fd, BLKRRPART, 0)


# --- capabilities (capset(2), prctl(2) PR_CAPBSET_DROP) --------------------------


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _capget() -> tuple[_CapHeader, ctypes.Array[_CapData]]:
    libc = _libc()
    hdr = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    if libc.capget(ctypes.byref(hdr), data) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"capget: {os.strerror(err)}")
    return hdr, data


def has_capability(cap: int) -> bool:
    """Whether the calling process has `cap` in its effective set."""
    _hdr, data = _capget()
    return bool(data[cap // 32].effective & (1 << (cap % 32)))


def drop_capability(cap: int = CAP_SYS_RAWIO, *, bounding: bool = True) -> None:
    """Drop `cap` from the effective, permitted and inheritable sets (capset(2)).

    With `bounding`, also drop it from the bounding set (prctl PR_CAPBSET_DROP,
    needs CAP_SETPCAP) so that a program this process execs cannot regain it,
    even as root. Meant for a forked child: the change cannot be undone.
    """
    libc = _libc()
    if bounding and libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_CAPBSET_DROP, {cap}): {os.strerror(err)}")
    hdr, data = _capget()
    mask = ~(1 << (cap % 32)) & 0xFFFFFFFF
    word = data[cap // 32]
    word.effective &= mask
    word.permitted &= mask
    word.inheritable &= mask
    hdr.pid = 0
    if libc.capset(ctypes.byref(hdr), data) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"capset: {os.strerror(err)}")
