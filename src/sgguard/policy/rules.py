"""Per-slice command policy: which commands a confined logical unit will carry out.

Owns `Policy` (allow/deny lists by opcode or (opcode, service action), allow/deny
lists by `Effect` class, read-only slices, a default), its `Decision` for one row
of the command table, and `Refusal`, the log record a logical unit emits for
every refused command (who, what, why). Decisions are pure and depend only on
the command table row and whether the logical unit emulates the command per
slice, so a logical unit computes them once per row when it is built and pays
nothing per command.

The safe default: commands the logical unit emulates within its slice run
(FORMAT UNIT and SANITIZE OVERWRITE / BLOCK ERASE / EXIT FAILURE MODE among
them: the unit confines them to the slice's own blocks); commands it does not
emulate (device-level commands that would reach the whole shared disk: SANITIZE
CRYPTOGRAPHIC ERASE, WRITE BUFFER, SECURITY PROTOCOL, ATA PASS-THROUGH, WRITE
LONG, vendor specific opcodes, ...) are refused, and so is anything whose
effects include `DEFAULT_DENY_EFFECTS`, whatever the allow lists say about
effects. A policy still denies the emulated erasing commands by opcode
(`deny = ["0x48"]`, `["0x04"]`) or by effect (`deny_effects = ["ERASES"]`). Refusals are ILLEGAL REQUEST, INVALID COMMAND OPERATION CODE (SPC-5
4.5.6), except writes to a read-only slice: DATA PROTECT, WRITE PROTECTED
(SBC-4 4.11).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sgguard.errors import InputError
from sgguard.scsi.model import CommandDef, Effect

__all__ = [
    "DEFAULT_DENY_EFFECTS",
    "WRITE_EFFECTS",
    "Decision",
    "OpKey",
    "Policy",
    "Refusal",
    "Verdict",
    "parse_opkey",
]

OpKey = int | tuple[int, int]
"""An opcode (any service action) or an (opcode, service action) pair."""

DEFAULT_DENY_EFFECTS = Effect.FIRMWARE | Effect.SECURITY | Effect.ATA_PASSTHROUGH | Effect.UNKNOWN
WRITE_EFFECTS = Effect.WRITES_MEDIA | Effect.ERASES

# Sense triples (sense key, ASC, ASCQ): SPC-5 4.5.6 and annex D.
_ILLEGAL_REQUEST_INVALID_OPCODE = (0x05, 0x20, 0x00)
_DATA_PROTECT_WRITE_PROTECTED = (0x07, 0x27, 0x00)


class Verdict(enum.Enum):
    ALLOW = "allow"
    DENY = "deny"


@dataclass(frozen=True, slots=True)
class Decision:
    """What the policy says about one command table row, and which rule said it."""

    verdict: Verdict
    rule: str
    sense_key: int = 0
    asc: int = 0
    ascq: int = 0

    @property
    def allowed(self) -> bool:
        return self.verdict is Verdict.ALLOW


@dataclass(frozen=True, slots=True)
class Refusal:
    """A log record: a logical unit refused a command. The I/O shell writes it to its log."""

    initiator: str
    target: str
    lun: int
    unit: str  # the logical unit's name (target/slice)
    command: str  # the command's name from the command table
    opcode: int
    service_action: int | None
    rule: str
    sense_key: int
    asc: int
    ascq: int

    def message(self) -> str:
        sa = "" if self.service_action is None else f"/{self.service_action:#x}"
        return (
            f"refused {self.command} ({self.opcode:#04x}{sa}) from {self.initiator} "
            f"on {self.unit} lun {self.lun}: {self.rule} "
            f"(sense {self.sense_key:#x}/{self.asc:#04x}/{self.ascq:#04x})"
        )


def _matches(keys: frozenset[OpKey], opcode: int, service_action: int | None) -> bool:
    if opcode in keys:
        return True
    return service_action is not None and (opcode, service_action) in keys


def _key_text(opcode: int, service_action: int | None) -> str:
    return f"{opcode:#04x}" if service_action is None else f"{opcode:#04x}/{service_action:#x}"


@dataclass(frozen=True, slots=True)
class Policy:
    """A per-slice command policy. Rules are applied in this order, first match wins:

    1. unknown opcode (no table row): deny;
    2. `read_only` and the command writes or erases media: deny (DATA PROTECT);
    3. `deny_opcodes`: deny;
    4. not emulated by the logical unit: deny (it would reach the whole device);
    5. `allow_opcodes`: allow;
    6. effects in `deny_effects` (default `DEFAULT_DENY_EFFECTS`): deny;
    7. commands without effects: allow;
    8. effects all within `allow_effects`: allow;
    9. `default`.
    """

    allow_opcodes: frozenset[OpKey] = field(default_factory=frozenset)
    deny_opcodes: frozenset[OpKey] = field(default_factory=frozenset)
    allow_effects: Effect = Effect.NONE
    deny_effects: Effect = DEFAULT_DENY_EFFECTS
    read_only: bool = False
    default: Verdict = Verdict.ALLOW

    def decide(self, row: CommandDef | None, *, emulated: bool) -> Decision:
        """The decision for one table row; `emulated`: the logical unit implements it per slice."""
        if row is None:
            return Decision(Verdict.DENY, "unknown opcode", *_ILLEGAL_REQUEST_INVALID_OPCODE)
        op, sa = row.opcode, row.service_action
        effects = row.effects
        if self.read_only and effects & WRITE_EFFECTS:
            return Decision(Verdict.DENY, "read-only slice", *_DATA_PROTECT_WRITE_PROTECTED)
        if _matches(self.deny_opcodes, op, sa):
            return Decision(
                Verdict.DENY,
                f"deny-list opcode {_key_text(op, sa)}",
                *_ILLEGAL_REQUEST_INVALID_OPCODE,
            )
        if not emulated:
            if effects.dangerous:
                why = f"device-level command not confined to the slice (effects {_effect_names(effects)})"
            else:
                why = "not implemented by the slice logical unit"
            return Decision(Verdict.DENY, why, *_ILLEGAL_REQUEST_INVALID_OPCODE)
        if _matches(self.allow_opcodes, op, sa):
            return Decision(Verdict.ALLOW, f"allow-list opcode {_key_text(op, sa)}")
        hit = effects & self.deny_effects
        if hit:
            return Decision(
                Verdict.DENY,
                f"deny-list effect {_effect_names(hit)}",
                *_ILLEGAL_REQUEST_INVALID_OPCODE,
            )
        if not effects.dangerous:
            return Decision(Verdict.ALLOW, "no effect on media or device")
        if effects & ~self.allow_effects == Effect.NONE:
            return Decision(Verdict.ALLOW, f"allow-list effect {_effect_names(effects)}")
        if self.default is Verdict.ALLOW:
            return Decision(Verdict.ALLOW, "default: emulated within the slice")
        return Decision(
            Verdict.DENY,
            f"default deny (effects {_effect_names(effects)})",
            *_ILLEGAL_REQUEST_INVALID_OPCODE,
        )

    @classmethod
    def from_mapping(cls, spec: Mapping[str, object], *, where: str = "policy") -> Policy:
        """Build a policy from a config mapping (keys: allow, deny, allow_effects,
        deny_effects, read_only, default); opcodes as "0x3b" or "0x9e/0x12",
        effects by their `Effect` names. Errors raise `InputError` naming the key."""
        known = {"allow", "deny", "allow_effects", "deny_effects", "read_only", "default"}
        for key in spec:
            if key not in known:
                raise InputError(
                    f"unknown policy key {key!r} (known: {', '.join(sorted(known))})", where=where
                )
        read_only = spec.get("read_only", False)
        if not isinstance(read_only, bool):
            raise InputError("read_only must be true or false", where=f"{where}.read_only")
        default_text = spec.get("default", "allow")
        try:
            default = Verdict(default_text)
        except ValueError:
            raise InputError(
                f"default must be 'allow' or 'deny', not {default_text!r}", where=f"{where}.default"
            ) from None
        return cls(
            allow_opcodes=frozenset(_opkeys(spec.get("allow", ()), f"{where}.allow")),
            deny_opcodes=frozenset(_opkeys(spec.get("deny", ()), f"{where}.deny")),
            allow_effects=_effects(
                spec.get("allow_effects", ()), f"{where}.allow_effects", Effect.NONE
            ),
            deny_effects=_effects(
                spec.get("deny_effects", None), f"{where}.deny_effects", DEFAULT_DENY_EFFECTS
            ),
            read_only=read_only,
            default=default,
        )


def _effect_names(effects: Effect) -> str:
    return "|".join(m.name for m in Effect if m.value and m in effects and m.name) or "NONE"


def parse_opkey(text: str) -> OpKey:
    """Parse "0x3b" (an opcode) or "0x9e/0x12" (opcode/service action); raise ValueError."""
    op_text, _, sa_text = text.strip().partition("/")
    op = int(op_text, 0)
    if not 0 <= op <= 0xFF:
        raise ValueError(f"opcode {op_text!r} is not 0..0xff")
    if not sa_text:
        return op
    sa = int(sa_text, 0)
    if not 0 <= sa <= 0xFFFF:
        raise ValueError(f"service action {sa_text!r} is not 0..0xffff")
    return (op, sa)


def _opkeys(value: object, where: str) -> Iterable[OpKey]:
    if not isinstance(value, list | tuple):
        raise InputError('must be a list of opcodes like "0x3b" or "0x9e/0x12"', where=where)
    out: list[OpKey] = []
    for item in value:
        if isinstance(item, int) and 0 <= item <= 0xFF:
            out.append(item)
            continue
        if not isinstance(item, str):
            raise InputError(f"{item!r} is not an opcode", where=where)
        try:
            out.append(parse_opkey(item))
        except ValueError as exc:
            raise InputError(f"{item!r}: {exc}", where=where) from None
    return out


def _effects(value: object, where: str, default: Effect) -> Effect:
    if value is None:
        return default
    if not isinstance(value, list | tuple):
        raise InputError("must be a list of effect names", where=where)
    out = Effect.NONE
    for item in value:
        if not isinstance(item, str) or item.upper() not in Effect.__members__:
            names = ", ".join(m for m in Effect.__members__ if m != "NONE")
            raise InputError(f"unknown effect {item!r} (known: {names})", where=where)
        out |= Effect[item.upper()]
    return out
