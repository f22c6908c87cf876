"""Test helpers: sparse in-memory disks and GPT re-sealing for corruption tests."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

__all__ = ["SparseDisk", "reseal_gpt"]


class SparseDisk:
    """A disk of `size` bytes made of the given writes, zero elsewhere (a `read_at`)."""

    def __init__(self, size: int, writes: list[tuple[int, bytes]] | None = None) -> None:
        self.size = size
        self.chunks: dict[int, bytearray] = {}
        for off, data in writes or []:
            self.write(off, data)

    def write(self, off: int, data: bytes) -> None:
        pos = 0
        while pos < len(data):
            base = (off + pos) // 4096 * 4096
            chunk = self.chunks.setdefault(base, bytearray(4096))
            inner = off + pos - base
            n = min(4096 - inner, len(data) - pos)
            chunk[inner : inner + n] = data[pos : pos + n]
            pos += n

    def read_at(self, off: int, length: int) -> bytes:
        if off >= self.size:
            return b""
        length = min(length, self.size - off)
        out = bytearray()
        pos = off
        while pos < off + length:
            base = pos // 4096 * 4096
            chunk = self.chunks.get(base)
            n = min(base + 4096 - pos, off + length - pos)
            out += chunk[pos - base : pos - base + n] if chunk is not None else bytes(n)
            pos += n
        return bytes(out)


def reseal_gpt(path: Path, sector_size: int = 512) -> None:
    """Recompute the entry-array and header CRC32s of both GPT headers in `path`,
    so a test can plant a semantic error (overlap, out of range) behind valid CRCs."""
    with open(path, "r+b") as f:
        f.seek(0, 2)
        sectors = f.tell() // sector_size
        for lba in (1, sectors - 1):
            f.seek(lba * sector_size)
            hdr = bytearray(f.read(sector_size))
            if hdr[:8] != b"EFI PART":
                continue
            entries_lba, n, size = struct.unpack_from("<QII", hdr, 72)
            f.seek(entries_lba * sector_size)
            array = f.read(n * size)
            struct.pack_into("<I", hdr, 88, zlib.crc32(array))
            hsize = struct.unpack_from("<I", hdr, 12)[0]
            struct.pack_into("<I", hdr, 16, 0)
            struct.pack_into("<I", hdr, 16, zlib.crc32(bytes(hdr[:hsize])))
            f.seek(lba * sector_size)
            f.write(hdr)
