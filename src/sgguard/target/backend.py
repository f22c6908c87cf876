"""Block storage behind a logical unit: memory, files, block devices, and slices of them.

Owns the `Backend` protocol the logical unit (`sgguard.target.lu`) reads and writes
through, and its implementations:

- `MemoryBackend`: a bytearray with per-block mapped/deallocated tracking (tests).
- `FileBackend`: a regular file or a block device, through os.pread/os.pwritev
  (thread-safe: positional I/O never touches a shared file offset). FUA is
  RWF_DSYNC (or pwrite + fdatasync), SYNCHRONIZE CACHE is fdatasync, UNMAP is
  fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE) through libc (falling
  back to BLKZEROOUT on block devices and to writing zeros), GET LBA STATUS is
  SEEK_DATA/SEEK_HOLE. A non-blocking fast path (`try_read_nowait`,
  `try_write_nowait`) uses RWF_NOWAIT so an event loop can serve cached blocks
  inline and hand everything else to a thread pool.
- `ConcatBackend`: several backends end to end (an LVM2 LV in pieces), and
  `slice_backend` building either from a list of byte ranges.
- `SliceBackend`: a window (offset + length) over another backend that refuses
  every access outside the window: defense in depth under the logical unit's own
  LBA checks (the CVE-2011-4127 lesson: never trust one layer to confine).

Block addressing follows SBC-4 4.5 (logical blocks of `block_size` bytes, LBA 0
first); `lba_status` reports the provisioning states of SBC-4 5.8 GET LBA STATUS
(mapped or deallocated). Range violations raise `OutOfRangeError`, failed system
calls `BackendIOError` (carrying errno): the logical unit turns them into sense
data (LBA OUT OF RANGE, MEDIUM ERROR / WRITE ERROR).
"""

from __future__ import annotations

import bisect
import contextlib
import ctypes
import ctypes.util
import enum
import errno
import fcntl
import os
import stat
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = [
    "Backend",
    "BackendError",
    "BackendIOError",
    "ConcatBackend",
    "FileBackend",
    "LbaExtent",
    "LbaState",
    "MemoryBackend",
    "OutOfRangeError",
    "ReadOnlyError",
    "SliceBackend",
    "check_range",
    "slice_backend",
]

# <linux/fs.h> block device ioctls.
BLKSSZGET = 0x1268  # logical sector size, int
BLKPBSZGET = 0x127B  # physical sector size, unsigned int
BLKGETSIZE64 = 0x80081272  # size in bytes, u64
BLKDISCARD = 0x1277  # u64[2] {start, length}
BLKZEROOUT = 0x127F  # u64[2] {start, length}
BLKFLSBUF = 0x1261

# <linux/falloc.h>
FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02

_ONES = b"\x01" * 256
_RWF_DSYNC: int | None = getattr(os, "RWF_DSYNC", None)
_RWF_NOWAIT: int | None = getattr(os, "RWF_NOWAIT", None)


class BackendError(Exception):
    """Base of the errors a backend raises."""


class OutOfRangeError(BackendError, ValueError):
    """An access outside the backend (or the slice): a bug in the caller, refused."""


class ReadOnlyError(BackendError):
    """A write, punch or flush-for-write on a read-only backend."""


class BackendIOError(BackendError):
    """A system call failed; `errno` says why (EIO -> MEDIUM ERROR, ENOSPC -> ...)."""

    def __init__(self, message: str, errno_: int) -> None:
        super().__init__(message)
        self.errno = errno_


class LbaState(enum.Enum):
    """Provisioning state of a run of blocks (SBC-4 5.8.2, PROVISIONING STATUS)."""

    MAPPED = 0x0
    DEALLOCATED = 0x1


@dataclass(frozen=True, slots=True)
class LbaExtent:
    """One LBA status descriptor: `blocks` blocks from `lba` share `state`."""

    lba: int
    blocks: int
    state: LbaState


def check_range(lba: int, blocks: int, num_blocks: int, what: str = "backend") -> None:
    """Refuse `[lba, lba + blocks)` unless it lies within `[0, num_blocks)`.

    Written so that no intermediate sum can exceed the operands (the same check
    a C implementation needs to be overflow-safe): `blocks <= num_blocks - lba`.
    """
    if lba < 0 or blocks < 0 or lba > num_blocks or blocks > num_blocks - lba:
        raise OutOfRangeError(
            f"{what}: blocks [{lba}, +{blocks}) outside the {num_blocks} blocks available"
        )


@runtime_checkable
class Backend(Protocol):
    """What a logical unit needs of its storage.

    Every method is safe to call from several threads at once. `read` returns
    exactly `blocks * block_size` bytes; `write` takes a whole number of blocks.
    """

    @property
    def block_size(self) -> int: ...

    @property
    def num_blocks(self) -> int: ...

    @property
    def read_only(self) -> bool: ...

    @property
    def blocking(self) -> bool:
        """True when reads and writes may sleep on I/O (run them off the event loop)."""
        ...

    @property
    def unmap_supported(self) -> bool:
        """True when `punch` really deallocates (thin provisioning, SBC-4 4.7.3)."""
        ...

    def read(self, lba: int, blocks: int) -> bytes: ...

    def write(self, lba: int, data: bytes | bytearray | memoryview, *, fua: bool = False) -> None:
        """Write whole blocks at `lba`; with `fua` they are durable on return (SBC-4 5.x FUA)."""
        ...

    def write_same(
        self, lba: int, blocks: int, block: bytes | bytearray | memoryview, *, fua: bool = False
    ) -> None:
        """Write `block` (one block of data) to each of `blocks` blocks (SBC-4 5.50 WRITE SAME)."""
        ...

    def punch(self, lba: int, blocks: int) -> None:
        """Deallocate the blocks; they read back as zeros afterwards (UNMAP, LBPRZ=1)."""
        ...

    def lba_status(self, lba: int, max_descriptors: int) -> list[LbaExtent]:
        """Runs of mapped/deallocated blocks from `lba` on, at most `max_descriptors`."""
        ...

    def flush(self) -> None:
        """Make every completed write durable (SBC-4 5.22 SYNCHRONIZE CACHE)."""
        ...

    def try_read_nowait(self, lba: int, blocks: int) -> bytes | None:
        """`read` if it can complete without sleeping, else None (caller uses a thread)."""
        ...

    def try_write_nowait(
        self, lba: int, data: bytes | bytearray | memoryview, *, fua: bool = False
    ) -> bool:
        """`write` if it can complete without sleeping; False means nothing was written."""
        ...

    def close(self) -> None: ...


def _check_data(data: bytes | bytearray | memoryview, block_size: int, what: str) -> int:
    n = len(memoryview(data).cast("B")) if isinstance(data, memoryview) else len(data)
    if n % block_size:
        raise OutOfRangeError(
            f"{what}: {n} bytes is not a whole number of {block_size}-byte blocks"
        )
    return n // block_size


class MemoryBackend:
    """A disk in memory, fresh blocks deallocated; for tests and benchmarks.

    A per-block map (one byte per block, 1 = mapped) answers GET LBA STATUS.
    Slice assignment into a bytearray is atomic under the GIL; the map update
    and the data update of one call happen under a lock so a concurrent
    `lba_status` never sees data that the map does not cover.
    """

    def __init__(
        self,
        num_blocks: int,
        block_size: int = 512,
        *,
        read_only: bool = False,
        data: bytes | None = None,
    ) -> None:
        if block_size <= 0 or block_size & (block_size - 1):
            raise ValueError(f"block size {block_size} is not a power of two")
        if num_blocks < 0:
            raise ValueError(f"negative block count {num_blocks}")
        self._block_size = block_size
        self._num_blocks = num_blocks
        self._read_only = read_only
        self._data = bytearray(num_blocks * block_size)
        self._mapped = bytearray(num_blocks)
        self._view = memoryview(self._data)
        self._lock = threading.Lock()
        self.flushes = 0  # number of flush() calls (tests check SYNCHRONIZE CACHE reached us)
        self.fua_writes = 0
        if data is not None:
            if len(data) > len(self._data):
                raise ValueError("initial data larger than the backend")
            self._data[: len(data)] = data
            used = -(-len(data) // block_size)
            self._mapped[:used] = b"\x01" * used

    @property
    def block_size(self) -> int:
        return self._block_size

    @property
    def num_blocks(self) -> int:
        return self._num_blocks

    @property
    def read_only(self) -> bool:
        return self._read_only

    @property
    def blocking(self) -> bool:
        return False

    @property
    def unmap_supported(self) -> bool:
        return True

    @property
    def buffer(self) -> bytearray:
        """The whole disk (tests hash it to prove confinement)."""
        return self._data

    def read(self, lba: int, blocks: int) -> bytes:
        if lba < 0 or blocks < 0 or blocks > self._num_blocks - lba:
            check_range(lba, blocks, self._num_blocks, "memory backend")  # raises
        bs = self._block_size
        return self._view[lba * bs : (lba + blocks) * bs].tobytes()

    def write(self, lba: int, data: bytes | bytearray | memoryview, *, fua: bool = False) -> None:
        if self._read_only:
            raise ReadOnlyError("memory backend is read-only")
        bs = self._block_size
        if isinstance(data, memoryview) and (data.format != "B" or data.ndim != 1):
            data = data.cast("B")
        n = len(data)
        blocks = n // bs
        if n % bs:
            _check_data(data, bs, "memory backend write")  # raises
        if lba < 0 or blocks > self._num_blocks - lba:
            check_range(lba, blocks, self._num_blocks, "memory backend")  # raises
        with self._lock:
            self._view[lba * bs : (lba + blocks) * bs] = data
            self._mapped[lba : lba + blocks] = _ONES[:blocks] if blocks <= 256 else b"\x01" * blocks
            if fua:
                self.fua_writes += 1

    def write_same(
        self, lba: int, blocks: int, block: bytes | bytearray | memoryview, *, fua: bool = False
    ) -> None:
        if len(block) != self._block_size:
            raise OutOfRangeError(f"write same: pattern is {len(block)} bytes, not one block")
        check_range(lba, blocks, self._num_blocks, "memory backend")
        self.write(lba, bytes(block) * blocks, fua=fua)

    def punch(self, lba: int, blocks: int) -> None:
        if self._read_only:
            raise ReadOnlyError("memory backend is read-only")
        check_range(lba, blocks, self._num_blocks, "memory backend")
        bs = self._block_size
        with self._lock:
            self._data[lba * bs : (lba + blocks) * bs] = bytes(blocks * bs)
            self._mapped[lba : lba + blocks] = bytes(blocks)

    def lba_status(self, lba: int, max_descriptors: int) -> list[LbaExtent]:
        check_range(lba, 0, self._num_blocks, "memory backend")
        out: list[LbaExtent] = []
        end = self._num_blocks
        with self._lock:
            m = self._mapped
            pos = lba
            while pos < end and len(out) < max_descriptors:
                state = m[pos]
                nxt = m.find(b"\x00" if state else b"\x01", pos)
                if nxt < 0:
                    nxt = end
                out.append(
                    LbaExtent(pos, nxt - pos, LbaState.MAPPED if state else LbaState.DEALLOCATED)
                )
                pos = nxt
        return out

    def flush(self) -> None:
        self.flushes += 1

    def try_read_nowait(self, lba: int, blocks: int) -> bytes | None:
        return self.read(lba, blocks)

    def try_write_nowait(
        self, lba: int, data: bytes | bytearray | memoryview, *, fua: bool = False
    ) -> bool:
        self.write(lba, data, fua=fua)
        return True

    def close(self) -> None:
        pass


_libc: ctypes.CDLL | None = None


def _fallocate(fd: int, mode: int, offset: int, length: int) -> None:
    """fallocate(2) through libc: Python's os.posix_fallocate cannot punch holes."""
    global _libc
    if _libc is None:
        lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        lib.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
        lib.fallocate.restype = ctypes.c_int
        _libc = lib
    if _libc.fallocate(fd, mode, offset, length) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


class FileBackend:
    """A regular file or a block device, addressed in `block_size` blocks.

    For a block device the size comes from BLKGETSIZE64 and the default block
    size from BLKSSZGET; for a file, from its length (a trailing partial block
    is not addressable). `size_bytes` creates or extends a sparse file.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        block_size: int | None = None,
        read_only: bool = False,
        size_bytes: int | None = None,
    ) -> None:
        self._path = os.fspath(path)
        self._read_only = read_only
        flags = (os.O_RDONLY if read_only else os.O_RDWR) | os.O_CLOEXEC
        if size_bytes is not None and not read_only:
            flags |= os.O_CREAT
        try:
            self._fd = os.open(self._path, flags, 0o644)
        except OSError as exc:
            raise BackendIOError(f"{self._path}: {exc.strerror}", exc.errno or errno.EIO) from exc
        try:
            st = os.fstat(self._fd)
            self._is_block_device = stat.S_ISBLK(st.st_mode)
            if self._is_block_device:
                size = _ioctl_u64(self._fd, BLKGETSIZE64)
                native = _ioctl_int(self._fd, BLKSSZGET)
            else:
                if not stat.S_ISREG(st.st_mode):
                    raise BackendIOError(f"{self._path}: not a file or block device", errno.EINVAL)
                if size_bytes is not None and st.st_size < size_bytes:
                    if read_only:
                        raise BackendIOError(f"{self._path}: shorter than requested", errno.EINVAL)
                    os.ftruncate(self._fd, size_bytes)
                size = max(st.st_size, size_bytes or 0)
                native = 512
            bs = block_size if block_size is not None else native
            if bs <= 0 or bs & (bs - 1) or bs < native:
                raise BackendIOError(
                    f"{self._path}: block size {bs} invalid (power of two >= {native} required)",
                    errno.EINVAL,
                )
            self._block_size = bs
            self._num_blocks = size // bs
        except BaseException:
            os.close(self._fd)
            raise
        self._punch_mode: str = "fallocate"  # -> "zeroout" -> "zeros" as methods fail
        self._seek_supported = not self._is_block_device
        self._nowait_read = _RWF_NOWAIT is not None
        self._nowait_write = _RWF_NOWAIT is not None
        self._dsync_flag = _RWF_DSYNC is not None
        self._closed = False

    # -- properties ---------------------------------------------------------------
    @property
    def path(self) -> str:
        return self._path

    @property
    def fd(self) -> int:
        return self._fd

    @property
    def is_block_device(self) -> bool:
        return self._is_block_device

    @property
    def block_size(self) -> int:
        return self._block_size

    @property
    def num_blocks(self) -> int:
        return self._num_blocks

    @property
    def read_only(self) -> bool:
        return self._read_only

    @property
    def blocking(self) -> bool:
        return True

    @property
    def unmap_supported(self) -> bool:
        return not self._read_only

    def refresh(self) -> int:
        """Re-read the size (file grown or truncated, device resized); returns num_blocks.

        The logical unit compares it with its capacity and raises CAPACITY DATA
        HAS CHANGED (SBC-4 4.6) when it differs.
        """
        try:
            if self._is_block_device:
                size = _ioctl_u64(self._fd, BLKGETSIZE64)
            else:
                size = os.fstat(self._fd).st_size
        except OSError as exc:
            raise self._io_error("size", exc) from exc
        self._num_blocks = size // self._block_size
        return self._num_blocks

    # -- I/O ------------------------------------------------------------------------
    def _io_error(self, what: str, exc: OSError) -> BackendIOError:
        return BackendIOError(f"{self._path}: {what}: {exc.strerror}", exc.errno or errno.EIO)

    def read(self, lba: int, blocks: int) -> bytes:
        check_range(lba, blocks, self._num_blocks, self._path)
        bs = self._block_size
        want = blocks * bs
        off = lba * bs
        try:
            data = os.pread(self._fd, want, off)
            if len(data) == want:
                return data
            parts = [data]
            got = len(data)
            while got < want:
                chunk = os.pread(self._fd, want - got, off + got)
                if not chunk:  # file shrank under us: the missing tail reads as zeros
                    parts.append(bytes(want - got))
                    break
                parts.append(chunk)
                got += len(chunk)
            return b"".join(parts)
        except OSError as exc:
            raise self._io_error(f"read at LBA {lba}", exc) from exc

    def _pwrite_all(self, view: memoryview, off: int, flags: int) -> None:
        done = 0
        total = len(view)
        while done < total:
            if flags:
                n = os.pwritev(self._fd, [view[done:]], off + done, flags)
            else:
                n = os.pwrite(self._fd, view[done:], off + done)
            if n <= 0:
                raise OSError(errno.EIO, "short write")
            done += n

    def write(self, lba: int, data: bytes | bytearray | memoryview, *, fua: bool = False) -> None:
        if self._read_only:
            raise ReadOnlyError(f"{self._path} is read-only")
        view = memoryview(data).cast("B")
        blocks = _check_data(view, self._block_size, "write")
        check_range(lba, blocks, self._num_blocks, self._path)
        off = lba * self._block_size
        try:
            if fua and self._dsync_flag and _RWF_DSYNC is not None:
                try:
                    self._pwrite_all(view, off, _RWF_DSYNC)
                    return
                except OSError as exc:
                    if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                        raise
                    self._dsync_flag = False
            self._pwrite_all(view, off, 0)
            if fua:
                os.fdatasync(self._fd)
        except OSError as exc:
            raise self._io_error(f"write at LBA {lba}", exc) from exc

    def write_same(
        self, lba: int, blocks: int, block: bytes | bytearray | memoryview, *, fua: bool = False
    ) -> None:
        if self._read_only:
            raise ReadOnlyError(f"{self._path} is read-only")
        pattern = bytes(block)
        if len(pattern) != self._block_size:
            raise OutOfRangeError(f"write same: pattern is {len(pattern)} bytes, not one block")
        check_range(lba, blocks, self._num_blocks, self._path)
        chunk_blocks = max(1, (1 << 20) // self._block_size)
        chunk = pattern * min(blocks, chunk_blocks)
        pos = lba
        end = lba + blocks
        while pos < end:
            n = min(chunk_blocks, end - pos)
            self.write(pos, chunk[: n * self._block_size] if n < chunk_blocks else chunk)
            pos += n
        if fua:
            self.flush()

    def punch(self, lba: int, blocks: int) -> None:
        if self._read_only:
            raise ReadOnlyError(f"{self._path} is read-only")
        check_range(lba, blocks, self._num_blocks, self._path)
        if blocks == 0:
            return
        off = lba * self._block_size
        length = blocks * self._block_size
        if self._punch_mode == "fallocate":
            try:
                _fallocate(self._fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, length)
                return
            except OSError as exc:
                if exc.errno not in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL, errno.ENOTTY):
                    raise self._io_error(f"punch at LBA {lba}", exc) from exc
                self._punch_mode = "zeroout" if self._is_block_device else "zeros"
        if self._punch_mode == "zeroout":
            try:
                fcntl.ioctl(self._fd, BLKZEROOUT, struct.pack("=QQ", off, length))
                return
            except OSError as exc:
                if exc.errno not in (errno.EOPNOTSUPP, errno.ENOTTY, errno.EINVAL):
                    raise self._io_error(f"BLKZEROOUT at LBA {lba}", exc) from exc
                self._punch_mode = "zeros"
        self.write_same(lba, blocks, bytes(self._block_size))

    def discard(self, lba: int, blocks: int) -> None:
        """BLKDISCARD on a block device (contents afterwards unspecified), punch on a file."""
        if not self._is_block_device:
            self.punch(lba, blocks)
            return
        if self._read_only:
            raise ReadOnlyError(f"{self._path} is read-only")
        check_range(lba, blocks, self._num_blocks, self._path)
        off = lba * self._block_size
        try:
            fcntl.ioctl(self._fd, BLKDISCARD, struct.pack("=QQ", off, blocks * self._block_size))
        except OSError as exc:
            raise self._io_error(f"BLKDISCARD at LBA {lba}", exc) from exc

    def lba_status(self, lba: int, max_descriptors: int) -> list[LbaExtent]:
        check_range(lba, 0, self._num_blocks, self._path)
        bs = self._block_size
        end_lba = self._num_blocks
        if lba >= end_lba or max_descriptors <= 0:
            return []
        if not self._seek_supported:
            return [LbaExtent(lba, end_lba - lba, LbaState.MAPPED)]
        out: list[LbaExtent] = []
        end_byte = end_lba * bs
        pos = lba * bs  # always block aligned
        try:
            while pos < end_byte and len(out) < max_descriptors:
                data = min(self._seek(pos, os.SEEK_DATA, end_byte), end_byte)
                hole_end = data // bs * bs  # whole blocks of the hole [pos, data)
                if hole_end > pos:
                    _append(out, LbaExtent(pos // bs, (hole_end - pos) // bs, LbaState.DEALLOCATED))
                    pos = hole_end
                    continue
                # Data starts in this block: mapped up to the next hole, a partly
                # mapped block counting as mapped.
                hole = min(self._seek(max(pos, data), os.SEEK_HOLE, end_byte), end_byte)
                stop = max(-(-hole // bs) * bs, pos + bs)
                _append(out, LbaExtent(pos // bs, (stop - pos) // bs, LbaState.MAPPED))
                pos = stop
        except OSError as exc:
            if exc.errno in (errno.EINVAL, errno.EOPNOTSUPP) and not out:
                self._seek_supported = False
                return [LbaExtent(lba, end_lba - lba, LbaState.MAPPED)]
            raise self._io_error(f"lseek at LBA {lba}", exc) from exc
        return out[:max_descriptors]

    def _seek(self, pos: int, whence: int, end_byte: int) -> int:
        try:
            return os.lseek(self._fd, pos, whence)
        except OSError as exc:
            if exc.errno != errno.ENXIO:
                raise
            # ENXIO: no data after pos (SEEK_DATA) or pos at/after EOF (SEEK_HOLE).
            return end_byte

    def flush(self) -> None:
        try:
            os.fdatasync(self._fd)
        except OSError as exc:
            if exc.errno == errno.EINVAL:  # some special files cannot sync; nothing is cached
                return
            raise self._io_error("fdatasync", exc) from exc

    def try_read_nowait(self, lba: int, blocks: int) -> bytes | None:
        if not self._nowait_read or _RWF_NOWAIT is None:
            return None
        check_range(lba, blocks, self._num_blocks, self._path)
        want = blocks * self._block_size
        buf = bytearray(want)
        try:
            n = os.preadv(self._fd, [buf], lba * self._block_size, _RWF_NOWAIT)
        except BlockingIOError:
            return None
        except OSError as exc:
            if exc.errno in (errno.EOPNOTSUPP, errno.EINVAL):
                self._nowait_read = False
                return None
            raise self._io_error(f"read at LBA {lba}", exc) from exc
        if n != want:
            return None  # partly cached: let the blocking path finish it
        return bytes(buf)

    def try_write_nowait(
        self, lba: int, data: bytes | bytearray | memoryview, *, fua: bool = False
    ) -> bool:
        if fua or self._read_only or not self._nowait_write or _RWF_NOWAIT is None:
            return False
        view = memoryview(data).cast("B")
        blocks = _check_data(view, self._block_size, "write")
        check_range(lba, blocks, self._num_blocks, self._path)
        off = lba * self._block_size
        try:
            n = os.pwritev(self._fd, [view], off, _RWF_NOWAIT)
        except BlockingIOError:
            return False
        except OSError as exc:
            if exc.errno in (errno.EOPNOTSUPP, errno.EINVAL):
                self._nowait_write = False
                return False
            raise self._io_error(f"write at LBA {lba}", exc) from exc
        if n != len(view):
            # Partly written: finish with a blocking write of the rest (same data, idempotent).
            try:
                self._pwrite_all(view[n:], off + n, 0)
            except OSError as exc:
                raise self._io_error(f"write at LBA {lba}", exc) from exc
        return True

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            os.close(self._fd)

    def __enter__(self) -> FileBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


def _append(out: list[LbaExtent], ext: LbaExtent) -> None:
    """Append, merging with the previous descriptor when the state is the same."""
    if out and out[-1].state is ext.state and out[-1].lba + out[-1].blocks == ext.lba:
        prev = out.pop()
        ext = LbaExtent(prev.lba, prev.blocks + ext.blocks, prev.state)
    out.append(ext)


def _ioctl_u64(fd: int, request: int) -> int:
    buf = fcntl.ioctl(fd, request, b"\0" * 8)
    return int(struct.unpack("=Q", buf)[0])


def _ioctl_int(fd: int, request: int) -> int:
    buf = fcntl.ioctl(fd, request, b"\0" * 4)
    return int(struct.unpack("=i", buf)[0])


class SliceBackend:
    """The blocks `[offset, offset + length)` (bytes) of `base`, as a backend of their own.

    LBA 0 is the slice's first block. Every call is checked against the slice
    before it reaches `base`, whatever the caller checked before.
    """

    def __init__(
        self,
        base: Backend,
        offset_bytes: int,
        length_bytes: int,
        *,
        read_only: bool | None = None,
        block_size: int | None = None,
    ) -> None:
        bs = base.block_size if block_size is None else block_size
        if bs != base.block_size:
            raise ValueError(f"slice block size {bs} differs from its backend's {base.block_size}")
        if offset_bytes < 0 or length_bytes < 0:
            raise OutOfRangeError("slice offset and length must not be negative")
        if offset_bytes % bs or length_bytes % bs:
            raise OutOfRangeError(
                f"slice at byte {offset_bytes} of {length_bytes} bytes is not aligned "
                f"to the {bs}-byte blocks of its backend"
            )
        first = offset_bytes // bs
        count = length_bytes // bs
        check_range(first, count, base.num_blocks, "slice")
        self._base = base
        self._first = first
        self._num_blocks = count
        self._read_only = base.read_only if read_only is None else (read_only or base.read_only)

    @property
    def base(self) -> Backend:
        return self._base

    @property
    def first_lba(self) -> int:
        """The slice's first block in the base backend's LBAs."""
        return self._first

    @property
    def offset_bytes(self) -> int:
        return self._first * self._base.block_size

    @property
    def block_size(self) -> int:
        return self._base.block_size

    @property
    def num_blocks(self) -> int:
        return self._num_blocks

    @property
    def read_only(self) -> bool:
        return self._read_only

    @property
    def blocking(self) -> bool:
        return self._base.blocking

    @property
    def unmap_supported(self) -> bool:
        return self._base.unmap_supported and not self._read_only

    def _map(self, lba: int, blocks: int) -> int:
        check_range(lba, blocks, self._num_blocks, "slice")
        return self._first + lba

    def _writable(self) -> None:
        if self._read_only:
            raise ReadOnlyError("slice is read-only")

    def read(self, lba: int, blocks: int) -> bytes:
        if lba < 0 or blocks < 0 or blocks > self._num_blocks - lba:
            check_range(lba, blocks, self._num_blocks, "slice")  # raises
        return self._base.read(self._first + lba, blocks)

    def write(self, lba: int, data: bytes | bytearray | memoryview, *, fua: bool = False) -> None:
        if self._read_only:
            raise ReadOnlyError("slice is read-only")
        bs = self._base.block_size
        n = data.nbytes if isinstance(data, memoryview) else len(data)
        if n % bs:
            _check_data(data, bs, "slice write")  # raises
        blocks = n // bs
        if lba < 0 or blocks > self._num_blocks - lba:
            check_range(lba, blocks, self._num_blocks, "slice")  # raises
        self._base.write(self._first + lba, data, fua=fua)

    def write_same(
        self, lba: int, blocks: int, block: bytes | bytearray | memoryview, *, fua: bool = False
    ) -> None:
        self._writable()
        self._base.write_same(self._map(lba, blocks), blocks, block, fua=fua)

    def punch(self, lba: int, blocks: int) -> None:
        self._writable()
        self._base.punch(self._map(lba, blocks), blocks)

    def lba_status(self, lba: int, max_descriptors: int) -> list[LbaExtent]:
        base_lba = self._map(lba, 0)
        end = self._first + self._num_blocks
        out: list[LbaExtent] = []
        if lba >= self._num_blocks:
            return out
        for ext in self._base.lba_status(base_lba, max_descriptors):
            if ext.lba >= end:
                break
            stop = min(ext.lba + ext.blocks, end)
            start = max(ext.lba, base_lba)
            if stop > start:
                out.append(LbaExtent(start - self._first, stop - start, ext.state))
            if stop >= end:
                break
        return out[:max_descriptors]

    def flush(self) -> None:
        self._base.flush()

    def try_read_nowait(self, lba: int, blocks: int) -> bytes | None:
        return self._base.try_read_nowait(self._map(lba, blocks), blocks)

    def try_write_nowait(
        self, lba: int, data: bytes | bytearray | memoryview, *, fua: bool = False
    ) -> bool:
        self._writable()
        blocks = _check_data(data, self.block_size, "slice write")
        return self._base.try_write_nowait(self._map(lba, blocks), data, fua=fua)

    def close(self) -> None:
        """Closing a slice leaves its base open (other slices may share it)."""


class ConcatBackend:
    """Several backends end to end, as one: an LVM2 logical volume whose linear
    segments lie in separate places of the disk (each part a `SliceBackend`).

    Requests that cross a boundary are split; each part checks its own range.
    """

    def __init__(self, parts: Sequence[Backend]) -> None:
        if not parts:
            raise ValueError("a concatenation needs at least one part")
        bs = parts[0].block_size
        if any(p.block_size != bs for p in parts):
            raise ValueError("all parts of a concatenation need the same block size")
        self._parts = tuple(parts)
        self._bs = bs
        self._starts: list[int] = []
        total = 0
        for p in parts:
            self._starts.append(total)
            total += p.num_blocks
        self._num_blocks = total

    @property
    def parts(self) -> tuple[Backend, ...]:
        return self._parts

    @property
    def block_size(self) -> int:
        return self._bs

    @property
    def num_blocks(self) -> int:
        return self._num_blocks

    @property
    def read_only(self) -> bool:
        return any(p.read_only for p in self._parts)

    @property
    def blocking(self) -> bool:
        return any(p.blocking for p in self._parts)

    @property
    def unmap_supported(self) -> bool:
        return all(p.unmap_supported for p in self._parts)

    def _pieces(self, lba: int, blocks: int) -> list[tuple[Backend, int, int, int]]:
        """(part, LBA in part, blocks, blocks into the request) covering the request."""
        check_range(lba, blocks, self._num_blocks, "concatenation")
        out: list[tuple[Backend, int, int, int]] = []
        i = bisect.bisect_right(self._starts, lba) - 1
        done = 0
        while done < blocks:
            part = self._parts[i]
            inner = lba + done - self._starts[i]
            n = min(blocks - done, part.num_blocks - inner)
            if n > 0:
                out.append((part, inner, n, done))
                done += n
            i += 1
        return out

    def read(self, lba: int, blocks: int) -> bytes:
        pieces = self._pieces(lba, blocks)
        if len(pieces) == 1:
            part, inner, n, _ = pieces[0]
            return part.read(inner, n)
        return b"".join(part.read(inner, n) for part, inner, n, _ in pieces)

    def write(self, lba: int, data: bytes | bytearray | memoryview, *, fua: bool = False) -> None:
        if self.read_only:
            raise ReadOnlyError("concatenation is read-only")
        view = memoryview(data).cast("B")
        blocks = _check_data(view, self._bs, "write")
        for part, inner, n, at in self._pieces(lba, blocks):
            part.write(inner, view[at * self._bs : (at + n) * self._bs], fua=fua)

    def write_same(
        self, lba: int, blocks: int, block: bytes | bytearray | memoryview, *, fua: bool = False
    ) -> None:
        if self.read_only:
            raise ReadOnlyError("concatenation is read-only")
        for part, inner, n, _ in self._pieces(lba, blocks):
            part.write_same(inner, n, block, fua=fua)

    def punch(self, lba: int, blocks: int) -> None:
        if self.read_only:
            raise ReadOnlyError("concatenation is read-only")
        for part, inner, n, _ in self._pieces(lba, blocks):
            part.punch(inner, n)

    def lba_status(self, lba: int, max_descriptors: int) -> list[LbaExtent]:
        check_range(lba, 0, self._num_blocks, "concatenation")
        out: list[LbaExtent] = []
        if lba >= self._num_blocks:
            return out
        i = bisect.bisect_right(self._starts, lba) - 1
        pos = lba
        # One descriptor more than asked: the last one asked for may continue into
        # the next part with the same state, and is complete once another follows.
        while i < len(self._parts) and len(out) <= max_descriptors:
            part, start = self._parts[i], self._starts[i]
            if part.num_blocks:
                for ext in part.lba_status(pos - start, max_descriptors + 1):
                    _append(out, LbaExtent(ext.lba + start, ext.blocks, ext.state))
            i += 1
            pos = self._starts[i] if i < len(self._parts) else self._num_blocks
        return out[:max_descriptors]

    def flush(self) -> None:
        for p in self._parts:
            p.flush()

    def try_read_nowait(self, lba: int, blocks: int) -> bytes | None:
        out = []
        for part, inner, n, _ in self._pieces(lba, blocks):
            got = part.try_read_nowait(inner, n)
            if got is None:
                return None
            out.append(got)
        return b"".join(out)

    def try_write_nowait(
        self, lba: int, data: bytes | bytearray | memoryview, *, fua: bool = False
    ) -> bool:
        if self.read_only:
            raise ReadOnlyError("concatenation is read-only")
        view = memoryview(data).cast("B")
        pieces = self._pieces(lba, _check_data(view, self._bs, "write"))
        if len(pieces) != 1:
            return False  # never leave a split write half done on the fast path
        part, inner, _n, _at = pieces[0]
        return part.try_write_nowait(inner, view, fua=fua)

    def close(self) -> None:
        for p in self._parts:
            p.close()


def slice_backend(
    base: Backend, extents: Sequence[tuple[int, int]], *, read_only: bool | None = None
) -> Backend:
    """A backend for the byte ranges `extents` ((start, size) pairs, in order) of `base`:
    a `SliceBackend` for one range, a `ConcatBackend` of them for several.

    `extents` is what `sgguard.topology.resolve_extents` returns (as `Slice`
    objects: pass `[(s.start_byte, s.size_bytes) for s in slices]`).
    """
    if not extents:
        raise OutOfRangeError("no byte ranges to export")
    parts: list[Backend] = [
        SliceBackend(base, start, size, read_only=read_only) for start, size in extents
    ]
    if len(parts) == 1:
        return parts[0]
    return ConcatBackend(parts)
