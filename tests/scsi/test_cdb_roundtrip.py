"""Hypothesis round trips both ways, and garbage in, for every CDB layout."""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sgguard.scsi import cdb
from sgguard.scsi.layout import Cdb, Layout
from sgguard.scsi.model import DeviceType

CLASSES = sorted(cdb.layout_classes().items())
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _spec(cls: type[Cdb], name: str) -> Any:
    import dataclasses

    for f in dataclasses.fields(cls):
        if f.name == name:
            return f.metadata["sgguard.layout"]
    raise KeyError(name)


def _objects(cls: type[Cdb]) -> st.SearchStrategy[Cdb]:
    lay = cls.LAYOUT
    kw: dict[str, st.SearchStrategy[Any]] = {}
    for f in lay.fields:
        if f.kind == "flag":
            kw[f.name] = st.booleans()
        elif f.kind == "field":
            spec = _spec(cls, f.name)
            if spec.choices is not None:
                kw[f.name] = st.sampled_from(sorted(spec.choices))
            else:
                hi = (1 << f.bits) - 1
                if spec.maximum is not None:
                    hi = min(hi, spec.maximum)
                kw[f.name] = st.integers(0, hi)
    return st.builds(cls, **kw)


def _valid_bytes(lay: Layout, data: bytes) -> bytes:
    """Random bytes with the constants written in and reserved bits cleared."""
    n = lay.length
    value = int.from_bytes(data[:n].ljust(n, b"\0"), "big")
    for f in lay.fields:
        shift = 8 * n - f.start - f.bits
        mask = ((1 << f.bits) - 1) << shift
        if f.kind == "reserved":
            value &= ~mask
        elif f.kind == "const":
            value = (value & ~mask) | (lay.consts[f.name] << shift)
    return value.to_bytes(n, "big")


_ANY_OBJECT = st.sampled_from([cls for _n, cls in CLASSES]).flatmap(_objects)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_ANY_OBJECT)
def test_cdb_decode_encode_roundtrip_objects(obj: Cdb) -> None:
    raw = cdb.encode(obj)
    assert len(raw) == type(obj).LAYOUT.length
    assert type(obj).LAYOUT.decode(raw) == obj


@FAST
@given(st.binary(min_size=32, max_size=32))
def test_cdb_encode_decode_roundtrip_bytes(noise: bytes) -> None:
    for _name, cls in CLASSES:
        raw = _valid_bytes(cls.LAYOUT, noise)
        try:
            obj = cls.LAYOUT.decode(raw)
        except cdb.CdbError as exc:  # only value constraints may refuse valid-looking bytes
            assert "defined values" in exc.message or "maximum" in exc.message
            continue
        assert cdb.encode(obj) == raw


@settings(max_examples=400, deadline=None)
@given(st.binary(min_size=0, max_size=40), st.sampled_from(list(DeviceType)))
def test_cdb_garbage_decodes_or_raises_cdb_error(raw: bytes, dt: DeviceType) -> None:
    try:
        obj = cdb.decode(raw, dt)
    except cdb.CdbError as exc:
        assert exc.field and exc.byte >= 0
        return
    assert cdb.encode(obj) == raw
    try:
        ranges = cdb.lba_ranges(obj)
    except cdb.CdbError:
        return
    for r in ranges:
        assert r.lba >= 0 and r.blocks >= 0


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 255), st.binary(min_size=0, max_size=40))
def test_cdb_garbage_with_every_opcode(op: int, rest: bytes) -> None:
    raw = bytes([op]) + rest
    for dt in DeviceType:
        with contextlib.suppress(cdb.CdbError):
            cdb.decode(raw, dt)


PARAM_CLASSES = (
    cdb.Unmap(parameter_list_length=0xFFFF),
    cdb.ExtendedCopy(service_action=0, parameter_list_length=0xFFFF),
    cdb.WriteScattered16(number_of_lba_range_descriptors=3),
    cdb.PopulateToken(parameter_list_length=0xFFFF),
    cdb.WriteUsingToken(parameter_list_length=0xFFFF),
    cdb.ReassignBlocks(),
    cdb.AtaPassThrough16(command=0x06, features_7_0=1, count_7_0=1, protocol=6),
)


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=0, max_size=700))
def test_lba_ranges_garbage_parameter_lists(data: bytes) -> None:
    for obj in PARAM_CLASSES:
        try:
            ranges = cdb.lba_ranges(obj, data)
        except cdb.CdbError:
            continue
        for r in ranges:
            assert r.lba >= 0 and r.blocks >= 0


def test_cdb_encode_refuses_every_oversized_field() -> None:
    import dataclasses

    for _name, cls in CLASSES:
        choices = {
            f.name: min(_spec(cls, f.name).choices)
            for f in cls.LAYOUT.fields
            if f.kind == "field" and _spec(cls, f.name).choices is not None
        }
        base = cls(**choices)
        for f in cls.LAYOUT.fields:
            if f.kind != "field":
                continue
            spec = _spec(cls, f.name)
            if spec.choices is not None:
                continue
            bad = dataclasses.replace(base, **{f.name: 1 << f.bits})  # type: ignore[type-var]
            try:
                cdb.encode(bad)
            except cdb.CdbError as exc:
                assert exc.field == f.name and exc.byte == f.byte
            else:
                raise AssertionError(f"{cls.__name__}.{f.name} accepted an oversized value")
