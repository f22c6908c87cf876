"""Backends: memory, file (hole punching, SEEK_HOLE status, FUA, threads), slices."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sgguard.target.backend import (
    Backend,
    ConcatBackend,
    FileBackend,
    LbaExtent,
    LbaState,
    MemoryBackend,
    OutOfRangeError,
    ReadOnlyError,
    SliceBackend,
    check_range,
    slice_backend,
)
from tests.topology.tools import loop_attached

M = LbaState.MAPPED
D = LbaState.DEALLOCATED


@pytest.fixture
def image(tmp_path: Path) -> Path:
    return tmp_path / "disk.img"


@pytest.fixture
def loop_device(tmp_path: Path) -> Iterator[str]:
    img = tmp_path / "loop.img"
    with open(img, "wb") as f:
        f.truncate(16 << 20)
    with loop_attached(img) as dev:
        yield dev


def test_check_range_edges() -> None:
    check_range(0, 10, 10)
    check_range(10, 0, 10)
    check_range(9, 1, 10)
    for lba, blocks in [(10, 1), (-1, 1), (0, 11), (0, -1), (11, 0), (1, 2**64 - 1), (2**64, 0)]:
        with pytest.raises(OutOfRangeError):
            check_range(lba, blocks, 10)


def test_memory_backend_protocol_and_roundtrip() -> None:
    b = MemoryBackend(16)
    assert isinstance(b, Backend)
    assert b.read(0, 16) == bytes(16 * 512)
    b.write(3, b"\xaa" * 1024)
    assert b.read(3, 2) == b"\xaa" * 1024
    assert b.read(2, 1) == bytes(512)
    assert b.lba_status(0, 10) == [LbaExtent(0, 3, D), LbaExtent(3, 2, M), LbaExtent(5, 11, D)]
    assert b.lba_status(4, 2) == [LbaExtent(4, 1, M), LbaExtent(5, 11, D)]
    b.punch(3, 1)
    assert b.read(3, 1) == bytes(512)
    assert b.lba_status(0, 10)[1] == LbaExtent(4, 1, M)


def test_memory_backend_refuses_out_of_range_and_partial_blocks() -> None:
    b = MemoryBackend(8)
    with pytest.raises(OutOfRangeError):
        b.read(7, 2)
    with pytest.raises(OutOfRangeError):
        b.write(8, bytes(512))
    with pytest.raises(OutOfRangeError):
        b.write(0, bytes(100))
    with pytest.raises(OutOfRangeError):
        b.punch(0, 9)
    ro = MemoryBackend(8, read_only=True)
    with pytest.raises(ReadOnlyError):
        ro.write(0, bytes(512))


def test_memory_backend_write_same_and_fua_counters() -> None:
    b = MemoryBackend(8)
    b.write_same(2, 3, b"\x5a" * 512, fua=True)
    assert b.read(2, 3) == b"\x5a" * 1536
    assert b.read(5, 1) == bytes(512)
    assert b.fua_writes == 1
    b.flush()
    assert b.flushes == 1


def _blocks_allocated(path: Path) -> int:
    return os.stat(path).st_blocks


def test_file_backend_punch_really_deallocates(image: Path) -> None:
    with FileBackend(image, size_bytes=4 << 20) as b:
        assert (b.num_blocks, b.block_size) == (8192, 512)
        assert _blocks_allocated(image) == 0
        b.write(0, os.urandom(1 << 20))
        b.flush()
        allocated = _blocks_allocated(image)
        assert allocated >= 2048  # st_blocks counts 512-byte units
        assert b.lba_status(0, 8) == [LbaExtent(0, 2048, M), LbaExtent(2048, 6144, D)]
        b.punch(256, 1024)  # 512 KiB in the middle, 4 KiB aligned
        assert b.read(256, 1024) == bytes(512 * 1024)
        assert _blocks_allocated(image) <= allocated - 1024
        assert b.lba_status(0, 8) == [
            LbaExtent(0, 256, M),
            LbaExtent(256, 1024, D),
            LbaExtent(1280, 768, M),
            LbaExtent(2048, 6144, D),
        ]
        fd = os.open(image, os.O_RDONLY)
        try:
            assert os.lseek(fd, 0, os.SEEK_HOLE) == 256 * 512
        finally:
            os.close(fd)
        assert b.lba_status(300, 2) == [LbaExtent(300, 980, D), LbaExtent(1280, 768, M)]


def test_file_backend_lba_status_partial_filesystem_block_is_mapped(image: Path) -> None:
    with FileBackend(image, size_bytes=1 << 20) as b:
        b.write(9, b"\x01" * 512)  # lands in the filesystem block of LBAs 8..15
        st = b.lba_status(0, 10)
        assert st[0] == LbaExtent(0, 8, D)
        assert st[1].state is M and st[1].lba == 8 and st[1].blocks >= 8
        assert sum(e.blocks for e in st) == b.num_blocks


def test_file_backend_fua_and_flush(image: Path) -> None:
    with FileBackend(image, size_bytes=1 << 20) as b:
        b.write(1, b"\x11" * 512, fua=True)
        b.flush()
    with open(image, "rb") as f:
        f.seek(512)
        assert f.read(512) == b"\x11" * 512


def test_file_backend_fua_fallback_without_rwf_dsync(image: Path) -> None:
    with FileBackend(image, size_bytes=1 << 20) as b:
        b._dsync_flag = False  # the pwrite + fdatasync path
        b.write(2, b"\x22" * 512, fua=True)
        assert b.read(2, 1) == b"\x22" * 512


def test_file_backend_punch_falls_back_to_zeros(image: Path) -> None:
    with FileBackend(image, size_bytes=1 << 20) as b:
        b.write(0, b"\x33" * 4096)
        b._punch_mode = "zeros"
        b.punch(1, 2)
        assert b.read(0, 4) == b"\x33" * 512 + bytes(1024) + b"\x33" * 512


def test_file_backend_write_same_large(image: Path) -> None:
    with FileBackend(image, size_bytes=8 << 20) as b:
        b.write_same(1, 5000, b"\x7e" * 512)
        assert b.read(0, 1) == bytes(512)
        assert b.read(1, 5000) == b"\x7e" * 512 * 5000
        assert b.read(5001, 1) == bytes(512)


def test_file_backend_nowait_paths(image: Path) -> None:
    with FileBackend(image, size_bytes=1 << 20) as b:
        b.write(0, b"\x44" * 4096)
        got = b.try_read_nowait(0, 8)
        assert got is None or got == b"\x44" * 4096
        if b.try_write_nowait(8, b"\x55" * 512):
            assert b.read(8, 1) == b"\x55" * 512
        assert b.try_write_nowait(9, b"\x66" * 512, fua=True) is False
        with pytest.raises(OutOfRangeError):
            b.try_read_nowait(2047, 2)


def test_file_backend_read_only_and_errors(image: Path, tmp_path: Path) -> None:
    image.write_bytes(bytes(4096))
    with FileBackend(image, read_only=True) as b:
        assert b.read_only and b.num_blocks == 8
        with pytest.raises(ReadOnlyError):
            b.write(0, bytes(512))
        with pytest.raises(ReadOnlyError):
            b.punch(0, 1)
    from sgguard.target.backend import BackendIOError

    with pytest.raises(BackendIOError, match="No such file"):
        FileBackend(tmp_path / "missing.img")
    with pytest.raises(BackendIOError, match="block size"):
        FileBackend(image, block_size=1000)


def test_file_backend_refresh_sees_new_size(image: Path) -> None:
    with FileBackend(image, size_bytes=1 << 20) as b:
        assert b.num_blocks == 2048
        os.truncate(image, 2 << 20)
        assert b.num_blocks == 2048
        assert b.refresh() == 4096
        b.write(4095, bytes(512))
        os.truncate(image, 1 << 19)
        assert b.refresh() == 1024
        with pytest.raises(OutOfRangeError):
            b.read(1024, 1)


def test_file_backend_4k_blocks(image: Path) -> None:
    with FileBackend(image, size_bytes=1 << 20, block_size=4096) as b:
        assert b.num_blocks == 256
        b.write(255, b"\x99" * 4096)
        with pytest.raises(OutOfRangeError):
            b.write(256, b"\x99" * 4096)
        assert b.lba_status(250, 4) == [LbaExtent(250, 5, D), LbaExtent(255, 1, M)]


def test_file_backend_concurrent_threads(image: Path) -> None:
    with FileBackend(image, size_bytes=4 << 20) as b:
        errors: list[BaseException] = []

        def worker(n: int) -> None:
            try:
                pattern = bytes([n + 1]) * 4096
                for i in range(64):
                    lba = (n * 64 + i) * 8
                    b.write(lba, pattern, fua=(i % 16 == 0))
                    assert b.read(lba, 8) == pattern
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        for n in range(8):
            assert b.read(n * 512, 512) == bytes([n + 1]) * (512 * 512)


def test_block_device_backend_on_loop(loop_device: str, tmp_path: Path) -> None:
    backing = tmp_path / "loop.img"
    with FileBackend(loop_device) as b:
        assert b.is_block_device
        assert b.block_size == 512
        assert b.num_blocks == (16 << 20) // 512
        assert b.refresh() == b.num_blocks
        b.write(0, os.urandom(4 << 20), fua=True)
        b.flush()
        assert _blocks_allocated(backing) >= 8192
        b.punch(0, 4096)  # fallocate(PUNCH_HOLE) on the loop device: a discard
        b.flush()
        assert b.read(0, 4096) == bytes(2 << 20)
        assert b.read(4096, 1) != bytes(512)
        # The loop driver turned the discard into a hole in its backing file.
        assert _blocks_allocated(backing) <= 4096 + 64
        assert b.lba_status(0, 4) == [LbaExtent(0, b.num_blocks, M)]
        b.discard(4096, 8)  # BLKDISCARD: contents unspecified afterwards, but it must work


def test_file_backend_fua_uses_rwf_dsync_or_fdatasync(
    image: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real_pwritev, real_fdatasync = os.pwritev, os.fdatasync

    def pwritev(fd: int, bufs: list[memoryview], off: int, flags: int = 0) -> int:
        calls.append(f"pwritev flags={flags}")
        return real_pwritev(fd, bufs, off, flags)

    def fdatasync(fd: int) -> None:
        calls.append("fdatasync")
        real_fdatasync(fd)

    monkeypatch.setattr(os, "pwritev", pwritev)
    monkeypatch.setattr(os, "fdatasync", fdatasync)
    with FileBackend(image, size_bytes=1 << 20) as b:
        b.write(0, bytes(512))
        assert calls == []  # a plain write: pwrite, no sync
        b.write(0, bytes(512), fua=True)
        assert calls == [f"pwritev flags={os.RWF_DSYNC}"]
        calls.clear()
        b._dsync_flag = False
        b.write(0, bytes(512), fua=True)
        assert calls == ["fdatasync"]
        calls.clear()
        b.flush()
        assert calls == ["fdatasync"]


def test_slice_backend_confines_and_translates() -> None:
    base = MemoryBackend(100)
    s = SliceBackend(base, 10 * 512, 20 * 512)
    assert isinstance(s, Backend)
    assert (s.num_blocks, s.first_lba) == (20, 10)
    s.write(0, b"\x01" * 512)
    s.write(19, b"\x02" * 512)
    assert base.read(10, 1) == b"\x01" * 512
    assert base.read(29, 1) == b"\x02" * 512
    for lba, blocks in [(20, 1), (19, 2), (-1, 1), (0, 21), (2**63, 2**63)]:
        with pytest.raises(OutOfRangeError):
            s.read(lba, blocks)
        with pytest.raises(OutOfRangeError):
            s.punch(lba, blocks)
    with pytest.raises(OutOfRangeError):
        s.write(19, bytes(1024))
    assert base.read(30, 1) == bytes(512) and base.read(9, 1) == bytes(512)
    assert s.lba_status(0, 10) == [LbaExtent(0, 1, M), LbaExtent(1, 18, D), LbaExtent(19, 1, M)]
    base.write(30, b"\x03" * 512)  # a neighbour's write does not show in the slice's status
    assert s.lba_status(19, 10) == [LbaExtent(19, 1, M)]


def test_slice_backend_rejects_bad_geometry() -> None:
    base = MemoryBackend(100)
    with pytest.raises(OutOfRangeError):
        SliceBackend(base, 100, 512)
    with pytest.raises(OutOfRangeError):
        SliceBackend(base, 99 * 512, 2 * 512)
    with pytest.raises(ValueError):
        SliceBackend(base, 0, 512, block_size=4096)
    ro = SliceBackend(base, 0, 512, read_only=True)
    with pytest.raises(ReadOnlyError):
        ro.write(0, bytes(512))


@settings(max_examples=200, deadline=None)
@given(
    start=st.integers(0, 63),
    length=st.integers(0, 64),
    ops=st.lists(
        st.tuples(st.sampled_from(["w", "p", "r", "s"]), st.integers(-5, 80), st.integers(-2, 80)),
        max_size=20,
    ),
)
def test_slice_backend_never_touches_outside(
    start: int, length: int, ops: list[tuple[str, int, int]]
) -> None:
    length = min(length, 64 - start)
    base = MemoryBackend(64, data=bytes(range(256)) * 128)
    before = bytes(base.buffer)
    s = SliceBackend(base, start * 512, length * 512)
    for op, lba, blocks in ops:
        try:
            if op == "w":
                s.write(lba, b"\xee" * (512 * max(blocks, 0)))
            elif op == "p":
                s.punch(lba, blocks)
            elif op == "s":
                s.write_same(lba, blocks, b"\xdd" * 512)
            else:
                assert len(s.read(lba, blocks)) == 512 * blocks
        except OutOfRangeError:
            assert lba < 0 or blocks < 0 or lba + blocks > length
    after = bytes(base.buffer)
    assert after[: start * 512] == before[: start * 512]
    assert after[(start + length) * 512 :] == before[(start + length) * 512 :]


def test_concat_backend_spans_parts() -> None:
    base = MemoryBackend(100)
    lv = slice_backend(base, [(10 * 512, 5 * 512), (50 * 512, 3 * 512), (60 * 512, 2 * 512)])
    assert isinstance(lv, ConcatBackend) and isinstance(lv, Backend)
    assert lv.num_blocks == 10
    lv.write(3, bytes([1]) * 512 + bytes([2]) * 512 + bytes([3]) * 512 * 3 + bytes([4]) * 512)
    assert base.read(13, 2) == bytes([1]) * 512 + bytes([2]) * 512
    assert base.read(50, 3) == bytes([3]) * 1536
    assert base.read(60, 1) == bytes([4]) * 512
    assert lv.read(3, 6) == base.read(13, 2) + base.read(50, 3) + base.read(60, 1)
    assert lv.lba_status(0, 10) == [LbaExtent(0, 3, D), LbaExtent(3, 6, M), LbaExtent(9, 1, D)]
    assert lv.lba_status(4, 1) == [LbaExtent(4, 5, M)]
    lv.punch(4, 2)
    assert lv.lba_status(0, 10)[1:3] == [LbaExtent(3, 1, M), LbaExtent(4, 2, D)]
    lv.write_same(0, 10, b"\x09" * 512)
    assert lv.read(0, 10) == b"\x09" * 5120
    assert lv.try_read_nowait(0, 10) == b"\x09" * 5120
    assert lv.try_write_nowait(0, bytes(512)) is True
    assert lv.try_write_nowait(4, bytes(1024)) is False  # would split: slow path
    with pytest.raises(OutOfRangeError):
        lv.write(9, bytes(1024))
    with pytest.raises(OutOfRangeError):
        lv.read(10, 1)
    assert slice_backend(base, [(0, 512)]).num_blocks == 1
    with pytest.raises(OutOfRangeError):
        slice_backend(base, [])


@settings(max_examples=150, deadline=None)
@given(
    cuts=st.lists(st.tuples(st.integers(0, 8), st.integers(0, 6)), min_size=1, max_size=4),
    ops=st.lists(
        st.tuples(st.sampled_from(["w", "p", "r", "s"]), st.integers(-3, 40), st.integers(-2, 40)),
        max_size=15,
    ),
)
def test_concat_backend_never_touches_outside(
    cuts: list[tuple[int, int]], ops: list[tuple[str, int, int]]
) -> None:
    base = MemoryBackend(64, data=bytes(range(256)) * 128)
    before = bytes(base.buffer)
    extents = []
    pos = 0
    for gap, length in cuts:
        pos += gap
        extents.append((pos, length))
        pos += length
    inside = set()
    for start, length in extents:
        inside.update(range(start, start + length))
    lv = slice_backend(base, [(s * 512, n * 512) for s, n in extents])
    for op, lba, blocks in ops:
        try:
            if op == "w":
                lv.write(lba, b"\xee" * (512 * max(blocks, 0)))
            elif op == "p":
                lv.punch(lba, blocks)
            elif op == "s":
                lv.write_same(lba, blocks, b"\xdd" * 512)
            else:
                assert len(lv.read(lba, blocks)) == 512 * blocks
        except OutOfRangeError:
            assert lba < 0 or blocks < 0 or lba + blocks > lv.num_blocks
    after = bytes(base.buffer)
    for blk in range(64):
        if blk not in inside:
            assert after[blk * 512 : (blk + 1) * 512] == before[blk * 512 : (blk + 1) * 512]


def test_slice_backend_over_a_gpt_partition_of_an_image(tmp_path: Path) -> None:
    from sgguard.topology import GptPartitionSpec, build_gpt_image, resolve_slice

    img = tmp_path / "shared.img"
    layout = build_gpt_image(
        img, 64 << 20, [GptPartitionSpec(16 << 20, "a"), GptPartitionSpec(None, "b")]
    )
    part = resolve_slice(layout, "name=b")
    before = img.read_bytes()
    with FileBackend(img) as disk:
        lu = SliceBackend(disk, part.start_byte, part.size_bytes)
        assert lu.num_blocks * 512 == part.size_bytes
        lu.write(0, b"\x61" * 512)
        lu.write(lu.num_blocks - 1, b"\x62" * 512, fua=True)
        with pytest.raises(OutOfRangeError):
            lu.write(lu.num_blocks, b"\x63" * 512)
        lu.punch(0, 1)
        assert lu.read(0, 1) == bytes(512)
        assert lu.lba_status(lu.num_blocks - 1, 4) == [LbaExtent(lu.num_blocks - 1, 1, M)]
    data = img.read_bytes()
    assert data[part.end_byte - 512 : part.end_byte] == b"\x62" * 512
    assert data[: part.start_byte] == before[: part.start_byte]
    assert data[part.end_byte :] == before[part.end_byte :]
    from sgguard.topology import read_layout

    assert read_layout(img).partitions == layout.partitions  # tables untouched
