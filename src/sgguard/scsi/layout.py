"""Declare a CDB layout once, get a compiled decoder, encoder and sizes from it.

Owns the layout machinery behind `sgguard.scsi.cdb`: a CDB class is a frozen,
slotted dataclass whose annotations list every field of the CDB in the order
the standard prints them, most significant bit of byte 0 first. Value fields
are dataclass fields (`u(bits)`, `flag()`), constant fields (operation code,
service action, additional CDB length) and reserved or obsolete bits are
`ClassVar` entries (`const(bits, value)`, `reserved(bits)`). `@layout(length)`
walks that declaration, checks that the bits add up to the CDB length, and
compiles (with `exec`, once, at import) a straight-line decoder and encoder
for it, so that decoding READ (10) costs a few hundred nanoseconds.

Field-level errors are `CdbError(field, byte, bit, message)`: the `byte` and
`bit` are the field pointer of SPC-5 (Field pointer sense key
specific data), pointing at the most significant bit of the offending field.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

__all__ = [
    "Cdb",
    "CdbError",
    "FieldInfo",
    "Layout",
    "ParameterListError",
    "const",
    "flag",
    "layout",
    "reserved",
    "u",
]

_META = "sgguard.layout"


class CdbError(ValueError):
    """A CDB field is wrong: reserved bits set, truncated CDB, wrong length, bad value.

    Maps to CHECK CONDITION, ILLEGAL REQUEST, INVALID FIELD IN CDB (or PARAMETER
    LIST LENGTH ERROR, INVALID COMMAND OPERATION CODE where the caller says so),
    with the sense-key-specific field pointer `byte`/`bit` (bit None: whole byte).
    """

    def __init__(self, field: str, byte: int, bit: int | None, message: str) -> None:
        self.field = field
        self.byte = byte
        self.bit = bit
        self.message = message
        where = f"byte {byte}" + (f" bit {bit}" if bit is not None else "")
        super().__init__(f"{field} ({where}): {message}")

    def sense(self, *, descriptor: bool = False) -> bytes:
        """ILLEGAL REQUEST sense data with this error's field pointer (`sense_for_cdb_error`)."""
        from sgguard.scsi.sense import sense_for_cdb_error

        return sense_for_cdb_error(
            self, descriptor=descriptor, in_cdb=not isinstance(self, ParameterListError)
        )


class ParameterListError(CdbError):
    """A parameter list (data-out) is malformed: INVALID FIELD IN PARAMETER LIST (C/D = 0)."""


@dataclass(frozen=True, slots=True)
class _Spec:
    kind: str  # "field" | "flag" | "const" | "reserved"
    bits: int
    value: int = 0  # const value
    maximum: int | None = None  # inclusive upper bound for field values
    choices: frozenset[int] | None = None
    doc: str = ""


def u(bits: int, *, maximum: int | None = None, choices: Any = None, doc: str = "") -> Any:
    """An unsigned integer field of `bits` bits (default 0)."""
    spec = _Spec(
        "field",
        bits,
        maximum=maximum,
        choices=frozenset(choices) if choices is not None else None,
        doc=doc,
    )
    return dataclasses.field(default=0, metadata={_META: spec})


def flag(doc: str = "") -> Any:
    """A one-bit boolean field (default False)."""
    return dataclasses.field(default=False, metadata={_META: _Spec("flag", 1, doc=doc)})


def const(bits: int, value: int) -> Any:
    """A constant field (operation code, service action): checked on decode, emitted on encode.

    Declare it as `name: ClassVar[int] = const(8, 0x28)`; after `@layout` the
    class attribute holds the plain value.
    """
    return _Spec("const", bits, value=value)


def reserved(bits: int, doc: str = "reserved") -> Any:
    """Reserved (or obsolete) bits: must be zero on decode, zero on encode."""
    return _Spec("reserved", bits, doc=doc)


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """Where one field of a layout lives: for field pointers, docs and the CLI."""

    name: str
    kind: str
    byte: int  # most significant byte of the field
    bit: int  # most significant bit of the field within `byte` (7..0)
    bits: int
    start: int  # bit offset from the MSB of byte 0


@dataclass(frozen=True, slots=True)
class Layout:
    """The compiled form of one CDB layout."""

    name: str
    length: int
    fields: tuple[FieldInfo, ...]
    decode: Callable[[Any], Any]
    encode: Callable[[Any], bytes]
    consts: Mapping[str, int]

    def field(self, name: str) -> FieldInfo:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)


@dataclass(frozen=True, slots=True)
class Cdb:
    """Base of every decoded CDB. `LAYOUT` is set by `@layout` on the subclasses."""

    LAYOUT: ClassVar[Layout]

    def to_bytes(self) -> bytes:
        return self.LAYOUT.encode(self)

    def fields(self) -> dict[str, int | bool]:
        """The value fields of this CDB, in the order of the standard."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def _top_bit(v: int) -> int:
    return v.bit_length() - 1


def _reserved_error(field: str, byte: int, masked: int) -> CdbError:
    return CdbError(field, byte, _top_bit(masked), f"reserved bits set (0x{masked:02x})")


def _length_error(name: str, expected: int, got: int) -> CdbError:
    if got < expected:
        return CdbError(
            "cdb length", 0, None, f"{name} needs {expected} bytes, got {got} (truncated CDB)"
        )
    return CdbError("cdb length", 0, None, f"{name} is {expected} bytes long, got {got}")


def _const_error(field: str, byte: int, bit: int, expected: int, got: int) -> CdbError:
    return CdbError(field, byte, bit, f"must be 0x{expected:x}, got 0x{got:x}")


def _value_error(field: str, byte: int, bit: int, got: int, why: str) -> CdbError:
    return CdbError(field, byte, bit, f"value {got} {why}")


def _encode_error(field: str, byte: int, bit: int, got: object, bits: int) -> CdbError:
    return CdbError(
        field, byte, bit, f"value {got!r} does not fit the {bits}-bit field (0..{(1 << bits) - 1})"
    )


def _extract(start: int, bits: int) -> str:
    """Python expression extracting bits [start, start+bits) from locals b0, b1, ..."""
    first = start // 8
    end = start + bits
    last = (end - 1) // 8
    nbytes = last - first + 1
    if nbytes == 1:
        expr = f"b{first}"
    elif nbytes <= 4:
        parts = [f"(b{j} << {8 * (last - j)})" for j in range(first, last)]
        expr = "(" + " | ".join([*parts, f"b{last}"]) + ")"
    else:
        expr = f"_from_bytes(cdb[{first}:{last + 1}], 'big')"
    shift = 8 * (last + 1) - end
    if shift:
        expr = f"({expr} >> {shift})"
    if bits != 8 * nbytes or shift:
        expr = f"({expr} & {(1 << bits) - 1})"
    return expr


T = TypeVar("T")


def layout(length: int) -> Callable[[type[T]], type[T]]:
    """Compile the declaration of a CDB class (see the module docstring)."""

    def wrap(cls: type[T]) -> type[T]:
        _compile(cls, length)
        return cls

    return wrap


def _compile(cls: Any, length: int) -> None:
    name = cls.__name__
    dc_fields = {f.name: f for f in dataclasses.fields(cls)}
    infos: list[FieldInfo] = []
    specs: list[tuple[FieldInfo, _Spec]] = []
    pos = 0
    for attr in cls.__annotations__:
        if attr == "LAYOUT":
            continue
        if attr in dc_fields:
            spec = dc_fields[attr].metadata.get(_META)
        else:
            spec = cls.__dict__.get(attr)
        if not isinstance(spec, _Spec):
            raise TypeError(f"{name}.{attr}: not a layout field")
        info = FieldInfo(attr, spec.kind, pos // 8, 7 - (pos % 8), spec.bits, pos)
        infos.append(info)
        specs.append((info, spec))
        pos += spec.bits
    if pos != 8 * length:
        raise TypeError(f"{name}: fields add up to {pos} bits, expected {8 * length}")
    value_fields = [f.name for f in dataclasses.fields(cls)]
    declared = [i.name for i, s in specs if s.kind in ("field", "flag")]
    if declared != value_fields:
        raise TypeError(f"{name}: dataclass fields {value_fields} != layout fields {declared}")

    g: dict[str, Any] = {
        "_cls": cls,
        "_new": object.__new__,
        "_from_bytes": int.from_bytes,
        "_reserved_error": _reserved_error,
        "_length_error": _length_error,
        "_const_error": _const_error,
        "_value_error": _value_error,
        "_encode_error": _encode_error,
    }

    # ---- decoder
    bnames = [f"b{i}" for i in range(length)]
    lines = [
        "def decode(cdb):",
        "    try:",
        f"        {', '.join(bnames)}, = cdb",
        "    except ValueError:",
        f"        raise _length_error({name!r}, {length}, len(cdb)) from None",
    ]
    # reserved masks per byte (keep the first reserved name that covers a byte)
    rmask: dict[int, int] = {}
    rname: dict[int, str] = {}
    args: list[str] = []
    for info, spec in specs:
        if spec.kind == "reserved":
            for k in range(spec.bits):
                bitpos = info.start + k
                byte = bitpos // 8
                rmask[byte] = rmask.get(byte, 0) | (1 << (7 - bitpos % 8))
                rname.setdefault(byte, spec.doc)
    for info, spec in specs:
        expr = _extract(info.start, spec.bits)
        if spec.kind == "const":
            lines.append(f"    if {expr} != {spec.value}:")
            lines.append(
                f"        raise _const_error({info.name!r}, {info.byte}, {info.bit},"
                f" {spec.value}, {expr})"
            )
        elif spec.kind == "flag":
            byte = info.start // 8
            mask = 1 << (7 - info.start % 8)
            args.append(f"(b{byte} & {mask}) != 0")
        elif spec.kind == "field":
            var = f"v_{info.name}"
            lines.append(f"    {var} = {expr}")
            if spec.maximum is not None:
                lines.append(f"    if {var} > {spec.maximum}:")
                lines.append(
                    f"        raise _value_error({info.name!r}, {info.byte}, {info.bit}, {var},"
                    f" 'is above the maximum {spec.maximum}')"
                )
            if spec.choices is not None:
                g[f"_choices_{info.name}"] = spec.choices
                lines.append(f"    if {var} not in _choices_{info.name}:")
                lines.append(
                    f"        raise _value_error({info.name!r}, {info.byte}, {info.bit}, {var},"
                    f" 'is not one of the defined values')"
                )
            args.append(var)
        if spec.kind == "reserved":
            continue
    for byte in sorted(rmask):
        m = rmask[byte]
        # insert reserved checks before the constructor, after const checks
        lines.append(f"    if b{byte} & {m}:")
        lines.append(f"        raise _reserved_error({rname[byte]!r}, {byte}, b{byte} & {m})")
    # Construct without the frozen dataclass __init__ (object.__setattr__ per field
    # costs twice as much as the slot descriptors' __set__).
    lines.append("    o = _new(_cls)")
    for fname, arg in zip(value_fields, args, strict=True):
        g[f"_set_{fname}"] = cls.__dict__[fname].__set__
        lines.append(f"    _set_{fname}(o, {arg})")
    lines.append("    return o")
    src = "\n".join(lines)
    exec(compile(src, f"<layout {name} decode>", "exec"), g)
    decode = g["decode"]

    # ---- encoder
    contrib: dict[int, list[str]] = {i: [] for i in range(length)}
    elines = ["def encode(o):"]
    for info, spec in specs:
        if spec.kind == "reserved":
            continue
        if spec.kind == "const":
            val = str(spec.value)
        else:
            var = f"v_{info.name}"
            elines.append(f"    {var} = o.{info.name}")
            if spec.kind == "flag":
                elines.append(f"    if {var} is True or {var} is False: {var} = int({var})")
            hi = (1 << spec.bits) - 1
            if spec.maximum is not None:
                hi = min(hi, spec.maximum)
            elines.append(f"    if type({var}) is not int or not 0 <= {var} <= {hi}:")
            elines.append(
                f"        raise _encode_error({info.name!r}, {info.byte}, {info.bit},"
                f" {var}, {spec.bits})"
            )
            if spec.choices is not None:
                elines.append(f"    if {var} not in _choices_{info.name}:")
                elines.append(
                    f"        raise _value_error({info.name!r}, {info.byte}, {info.bit}, {var},"
                    f" 'is not one of the defined values')"
                )
            val = var
        end = info.start + spec.bits
        last = (end - 1) // 8
        shift = 8 * (last + 1) - end
        for j in range(info.byte, last + 1):
            down = 8 * (last - j) - shift
            if down > 0:
                e = f"(({val} >> {down}) & 255)"
            elif down < 0:
                e = f"(({val} << {-down}) & 255)"
            else:
                e = f"({val} & 255)"
            if spec.kind == "const":
                e = str(eval(e))  # constant folding of a literal expression
                if e == "0":
                    continue
            contrib[j].append(e)
    parts = [" | ".join(contrib[i]) if contrib[i] else "0" for i in range(length)]
    elines.append(f"    return bytes(({', '.join(parts)},))")
    esrc = "\n".join(elines)
    exec(compile(esrc, f"<layout {name} encode>", "exec"), g)
    encode = g["encode"]

    consts = {i.name: s.value for i, s in specs if s.kind == "const"}
    for cname, cval in consts.items():
        setattr(cls, cname, cval)
    cls.LAYOUT = Layout(name, length, tuple(infos), decode, encode, consts)
