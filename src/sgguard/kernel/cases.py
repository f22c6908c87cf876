"""Kernel policy cases and outcomes: the typed values and their JSON-lines form.

Owns `Case` (what a process asks of the kernel), `Outcome` (what the kernel's
SCSI pass-through policy does with it), the vocabularies (`Node`, `OpenMode`,
`Ioctl`, `Result`) and the conversion from and to the JSON objects of
shared/spec/kernel-cases.md, with errors that name the field.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sgguard.errors import InputError
from sgguard.ioctls import IOCTL_NUMBERS, Ioctl

__all__ = [
    "CDB_IOCTLS",
    "IOCTL_NUMBERS",
    "OUTPUT_FIELDS",
    "Case",
    "CommandFacts",
    "Decision",
    "Ioctl",
    "Node",
    "OpenMode",
    "Outcome",
    "Result",
    "case_from_json",
    "case_to_json",
    "group_length",
    "outcome_to_json",
]


class Node(enum.StrEnum):
    """The device node the process opened."""

    DISK = "disk"  # /dev/sdX
    PARTITION = "partition"  # /dev/sdX1
    SG = "sg"  # /dev/sgN of the same logical unit
    DM_PARTIAL = "dm-partial"  # dm-linear over part of the disk
    DM_WHOLE = "dm-whole"  # dm-linear over all of the disk, starting at 0


class OpenMode(enum.StrEnum):
    RO = "ro"  # O_RDONLY | O_NONBLOCK
    RW = "rw"  # O_RDWR | O_NONBLOCK


CDB_IOCTLS: frozenset[Ioctl] = frozenset({Ioctl.SG_IO, Ioctl.SCSI_IOCTL_SEND_COMMAND})


class Result(enum.StrEnum):
    """What the process sees, in the spec's vocabulary (plus EINVAL, see below)."""

    ALLOWED = "allowed"
    EPERM = "EPERM"
    ENOTTY = "ENOTTY"
    # Not a policy refusal: before 5.15 /dev/sgN hands CDROMEJECT/CDROMCLOSETRAY to the
    # host adapter's own ioctl hook, and HBAs without one (virtio_scsi) answer EINVAL.
    EINVAL = "EINVAL"


# The kernel's scsi_command_size_tbl (COMMAND_SIZE): CDB length per opcode group.
_GROUP_LENGTH = (6, 10, 10, 12, 16, 12, 10, 10)
# Groups whose length SPC fixes; groups 3 (reserved, 0x7f variable length), 6 and 7
# (vendor specific) accept any length from 6 to SCSI_MAX_VARLEN_CDB_SIZE (260).
_FIXED_GROUPS = frozenset({0, 1, 2, 4, 5})
MAX_CDB = 260


def group_length(opcode: int) -> int:
    """The CDB length the kernel's COMMAND_SIZE() gives an opcode."""
    return _GROUP_LENGTH[(opcode >> 5) & 7]


@dataclass(frozen=True, slots=True)
class Case:
    """One request: a process on a kernel opens a node and issues an ioctl.

    `cdb` is present exactly for SG_IO and SCSI_IOCTL_SEND_COMMAND.
    `node_start`/`node_blocks` place the opened node on the whole disk (logical blocks).
    """

    kernel: str
    node: Node
    open: OpenMode
    cap_sys_rawio: bool
    ioctl: Ioctl
    cdb: bytes | None = None
    unpriv_sgio: bool = False
    node_start: int | None = None
    node_blocks: int | None = None

    def __post_init__(self) -> None:
        if self.ioctl in CDB_IOCTLS:
            if self.cdb is None:
                raise InputError(f"{self.ioctl} needs a CDB", where="field 'cdb'")
            _check_cdb(self.cdb)
        elif self.cdb is not None:
            raise InputError(f"{self.ioctl} carries no CDB", where="field 'cdb'")
        if (self.node_start is None) != (self.node_blocks is None):
            raise InputError("node_start and node_blocks go together", where="field 'node_blocks'")
        if self.node_blocks is not None and self.node_blocks <= 0:
            raise InputError("must be a positive number of blocks", where="field 'node_blocks'")
        if self.node_start is not None and self.node_start < 0:
            raise InputError("must not be negative", where="field 'node_start'")

    @property
    def opcode(self) -> int | None:
        return self.cdb[0] if self.cdb else None


def _check_cdb(cdb: bytes) -> None:
    n = len(cdb)
    if n < 6 or n > MAX_CDB:
        raise InputError(f"a CDB is 6 to {MAX_CDB} bytes, this one is {n}", where="field 'cdb'")
    opcode = cdb[0]
    group = opcode >> 5
    if group in _FIXED_GROUPS and n != _GROUP_LENGTH[group]:
        raise InputError(
            f"opcode {opcode:02x}h (group {group}) has a {_GROUP_LENGTH[group]}-byte CDB, "
            f"this one is {n} bytes",
            where="field 'cdb'",
        )


@dataclass(frozen=True, slots=True)
class Decision:
    """The policy's answer for one (release, node, mode, capability, ioctl, opcode).

    `rule`: the kernel function that decided (`capable(CAP_SYS_RAWIO)` when the
    capability was what let the request through). `errno`: what the process sees
    (it differs from the outcome's name for EFAULT from old block-layer SG_IO and
    EINVAL for ENOIOCTLCMD before 07d106d0a33d). `whole_disk`: the request was
    forwarded from a partition or partial dm map to the whole disk's driver.
    `estimated`: an uncertain era boundary decided the outcome.
    """

    outcome: Result
    rule: str
    errno: str | None
    path: tuple[str, ...]
    notes: tuple[str, ...] = ()
    whole_disk: bool = False
    estimated: bool = False
    era: str = ""


@dataclass(frozen=True, slots=True)
class CommandFacts:
    """What a CDB is on a disk (SBC), from the command table."""

    name: str | None
    aliases: tuple[str, ...]
    effects: tuple[str, ...]  # Effect names; empty: no effect on medium or device
    touches: bool  # reads or changes the medium or the device
    ranged: bool  # every effect is confined to the LBA ranges it addresses


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a kernel's policy did with a case, and why.

    `outcome`: the spec's allowed/EPERM/ENOTTY (EINVAL: see `Result`); `rule`,
    `errno`, `path`, `estimated`, `era` and `whole_disk` come from the `Decision`;
    `escape`: an allowed request that reads or changes the medium or the device
    reached the whole disk from a partition or partial dm map (with
    node_start/node_blocks: only when the blocks it addresses fall outside the node);
    `command`, `aliases`, `effects` describe the CDB on a disk.
    """

    decision: Decision
    escape: bool
    facts: CommandFacts | None = None
    extra_notes: tuple[str, ...] = ()

    @property
    def outcome(self) -> Result:
        return self.decision.outcome

    @property
    def rule(self) -> str:
        return self.decision.rule

    @property
    def errno(self) -> str | None:
        return self.decision.errno

    @property
    def estimated(self) -> bool:
        return self.decision.estimated

    @property
    def era(self) -> str:
        return self.decision.era

    @property
    def path(self) -> tuple[str, ...]:
        return self.decision.path

    @property
    def whole_disk(self) -> bool:
        return self.decision.whole_disk

    @property
    def notes(self) -> tuple[str, ...]:
        return self.decision.notes + self.extra_notes if self.extra_notes else self.decision.notes

    @property
    def command(self) -> str | None:
        return self.facts.name if self.facts is not None else None

    @property
    def aliases(self) -> tuple[str, ...]:
        return self.facts.aliases if self.facts is not None else ()

    @property
    def effects(self) -> tuple[str, ...]:
        return self.facts.effects if self.facts is not None else ()


CASE_FIELDS = (
    "kernel",
    "node",
    "open",
    "cap_sys_rawio",
    "ioctl",
    "cdb",
    "unpriv_sgio",
    "node_start",
    "node_blocks",
)
# Fields a model or lab writes; accepted (and ignored) on input so that outcome files
# can be fed back in. An input `outcome` is kept as the observed one.
OUTPUT_FIELDS = frozenset(
    {
        "outcome",
        "rule",
        "escape",
        "estimated",
        "era",
        "errno",
        "command",
        "aliases",
        "effects",
        "path",
        "notes",
        "whole_disk",
        "observed",
        "match",
        "error",
    }
)

_NODES = {n.value: n for n in Node}
_OPENS = {o.value: o for o in OpenMode}
_IOCTLS = {i.value: i for i in Ioctl}


def _enum_field(obj: Mapping[str, Any], name: str, values: Mapping[str, Any]) -> Any:
    if name not in obj:
        raise InputError("missing field", where=f"field {name!r}")
    value = obj[name]
    if not isinstance(value, str) or value not in values:
        raise InputError(f"{value!r} is not one of {', '.join(values)}", where=f"field {name!r}")
    return values[value]


def _bool_field(obj: Mapping[str, Any], name: str, default: bool | None = None) -> bool:
    if name not in obj:
        if default is None:
            raise InputError("missing field", where=f"field {name!r}")
        return default
    value = obj[name]
    if not isinstance(value, bool):
        raise InputError(f"{value!r} is not true or false", where=f"field {name!r}")
    return value


def _int_field(obj: Mapping[str, Any], name: str) -> int | None:
    if name not in obj or obj[name] is None:
        return None
    value = obj[name]
    if not isinstance(value, int) or isinstance(value, bool):
        raise InputError(f"{value!r} is not an integer", where=f"field {name!r}")
    return value


def case_from_json(obj: object, default_kernel: str | None = None) -> Case:
    """Build a Case from one decoded JSON line; InputError names the bad field."""
    if not isinstance(obj, dict):
        raise InputError(f"a case is a JSON object, not {type(obj).__name__}")
    for key in obj:
        if key not in CASE_FIELDS and key not in OUTPUT_FIELDS:
            raise InputError("unknown field", where=f"field {str(key)!r}")
    kernel = obj.get("kernel", default_kernel)
    if kernel is None:
        raise InputError("missing field (and no --kernel given)", where="field 'kernel'")
    if not isinstance(kernel, str) or not kernel.strip():
        raise InputError(f"{kernel!r} is not a kernel version string", where="field 'kernel'")
    ioctl: Ioctl = _enum_field(obj, "ioctl", _IOCTLS)
    cdb: bytes | None = None
    if "cdb" in obj and obj["cdb"] is not None:
        raw = obj["cdb"]
        if not isinstance(raw, str):
            raise InputError(f"{raw!r} is not a hex string", where="field 'cdb'")
        text = raw.replace(" ", "")
        if len(text) % 2:
            raise InputError(f"{raw!r} has an odd number of hex digits", where="field 'cdb'")
        try:
            cdb = bytes.fromhex(text)
        except ValueError:
            raise InputError(f"{raw!r} is not valid hex", where="field 'cdb'") from None
    return Case(
        kernel=kernel.strip(),
        node=_enum_field(obj, "node", _NODES),
        open=_enum_field(obj, "open", _OPENS),
        cap_sys_rawio=_bool_field(obj, "cap_sys_rawio"),
        ioctl=ioctl,
        cdb=cdb,
        unpriv_sgio=_bool_field(obj, "unpriv_sgio", False),
        node_start=_int_field(obj, "node_start"),
        node_blocks=_int_field(obj, "node_blocks"),
    )


def case_to_json(case: Case) -> dict[str, Any]:
    """The case as a JSON object in the spec's field order (optional fields if set)."""
    # The enums are str subclasses: JSON writes them as their values.
    out: dict[str, Any] = {
        "kernel": case.kernel,
        "node": case.node,
        "open": case.open,
        "cap_sys_rawio": case.cap_sys_rawio,
        "ioctl": case.ioctl,
    }
    if case.cdb is not None:
        out["cdb"] = case.cdb.hex()
    if case.unpriv_sgio:
        out["unpriv_sgio"] = True
    if case.node_start is not None:
        out["node_start"] = case.node_start
        out["node_blocks"] = case.node_blocks
    return out


def outcome_to_json(case: Case, outcome: Outcome) -> dict[str, Any]:
    """One output line: the case's fields, then the outcome's."""
    out = case_to_json(case)
    d = outcome.decision
    out["outcome"] = d.outcome
    out["rule"] = d.rule
    out["escape"] = outcome.escape
    out["estimated"] = d.estimated
    out["era"] = d.era
    out["errno"] = d.errno
    facts = outcome.facts
    if facts is not None:
        out["command"] = facts.name
        out["aliases"] = list(facts.aliases)
        out["effects"] = list(facts.effects)
    out["whole_disk"] = d.whole_disk
    out["path"] = list(d.path)
    notes = outcome.notes
    if notes:
        out["notes"] = list(notes)
    return out
