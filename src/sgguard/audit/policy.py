"""The audit's bridge to the kernel policy model: one opener on one node kind -> `PassThrough`.

Owns the questions the audit asks `sgguard.kernel.evaluate`: for every operation
code, SG_IO with that opcode followed by zeros (the kernel's COMMAND_SIZE length,
as the cases spec's sample does) from an opener of the given node kind, open mode
and capability; and SG_GET_VERSION_NUM, QEMU scsi-block's probe. It summarises the
allowed opcodes as command classes (the `Effect`s of `sgguard.scsi.table`'s SBC
rows) and names the dangerous ones the way the filter and the disk each know
them (42h READ SUB-CHANNEL is UNMAP, 48h PLAY AUDIO TRACK INDEX is SANITIZE, A1h
BLANK is ATA PASS-THROUGH (12)). Answers are cached per question.
"""

from __future__ import annotations

from sgguard.audit.analysis import PassThrough
from sgguard.audit.hostview import NodeKind
from sgguard.kernel import evaluate
from sgguard.kernel.cases import Case, Ioctl, Node, OpenMode, Result, group_length
from sgguard.kernel.eras import FILTER_ENTRIES
from sgguard.scsi.model import DeviceType, Effect
from sgguard.scsi.table import for_opcode

__all__ = ["KernelPolicy", "command_classes", "hazards"]

READ_10 = 0x28
# Effects that let a holder change or destroy data or the device.
HAZARD = (
    Effect.WRITES_MEDIA
    | Effect.ERASES
    | Effect.DEVICE_STATE
    | Effect.FIRMWARE
    | Effect.SECURITY
    | Effect.ATA_PASSTHROUGH
    | Effect.RESERVATIONS
)
CLASS_NAMES: tuple[tuple[Effect, str], ...] = (
    (Effect.READS_MEDIA, "read"),
    (Effect.WRITES_MEDIA, "write"),
    (Effect.ERASES, "erase/unmap"),
    (Effect.DEVICE_STATE, "device state"),
    (Effect.FIRMWARE, "firmware/buffer"),
    (Effect.RESERVATIONS, "reservations"),
    (Effect.SECURITY, "security"),
    (Effect.ATA_PASSTHROUGH, "ATA pass-through"),
)
_NODE = {
    NodeKind.DISK: Node.DISK,
    NodeKind.PARTITION: Node.PARTITION,
    NodeKind.SG: Node.SG,
    NodeKind.DM_PARTIAL: Node.DM_PARTIAL,
    NodeKind.DM_WHOLE: Node.DM_WHOLE,
}


# The kernel filter's own names for opcodes it admits as CD/DVD (MMC) commands.
_FILTER_MMC: dict[int, str] = {}
for _e in FILTER_ENTRIES:
    if _e.constant.startswith("GPCMD_"):
        _FILTER_MMC.setdefault(_e.opcode, _e.constant)


def _sbc(opcode: int) -> tuple[str, Effect, str | None]:
    """(disk name, disk effects over all service actions, the filter's name when it differs).

    The disk name is the SBC/SPC name of the opcode's dangerous service actions (their
    common stem, "SANITIZE", or the first and how many more); the filter's name is
    the MMC name the table gives the opcode, or the kernel filter's GPCMD_ constant.
    """
    rows = for_opcode(opcode)
    effects = Effect.NONE
    plain: list[str] = []
    names: list[str] = []
    for r in rows:
        v = r.variant(DeviceType.SBC)
        if v is None:
            continue
        effects |= v.effects
        (names if v.effects & HAZARD else plain).append(v.name)
    names = names or plain[:1]
    if not names:
        return f"{opcode:02X}h", effects, None
    stems = {n.split(" (")[0] for n in names}
    if len(names) == 1:
        name = names[0]
    elif len(stems) == 1:
        name = stems.pop()
    else:
        name = f"{names[0]} and {len(names) - 1} more service actions"
    mmc = next(
        (
            v.name
            for r in rows
            if r.service_action is None
            for v in [r.variant(DeviceType.MMC)]
            if v
        ),
        None,
    )
    other = mmc if mmc is not None and _plain(mmc) != _plain(name) else _FILTER_MMC.get(opcode)
    if other is not None and _plain(other) == _plain(name):
        other = None  # the same command under the filter's spelling, not an alias
    return name, effects, other


def _plain(name: str) -> str:
    text = name.removeprefix("GPCMD_").replace("_", " ").replace("(", "").replace(")", "")
    return " ".join(text.upper().split())


def command_classes(allowed: frozenset[int]) -> tuple[str, ...]:
    counts: dict[str, int] = {}
    for op in allowed:
        _name, eff, _mmc = _sbc(op)
        for flag, label in CLASS_NAMES:
            if eff & flag:
                counts[label] = counts.get(label, 0) + 1
    return tuple(f"{label} ({counts[label]})" for _f, label in CLASS_NAMES if label in counts)


def hazards(allowed: frozenset[int], *, aliases_only: bool) -> tuple[str, ...]:
    """Allowed commands that change or destroy data, named as filter and disk know them."""
    out: list[str] = []
    for op in sorted(allowed):
        name, eff, mmc = _sbc(op)
        if not eff & HAZARD:
            continue
        if mmc is not None:
            out.append(f"{name} ({op:02X}h, admitted as {mmc})")
        elif not aliases_only:
            out.append(f"{name} ({op:02X}h)")
    return tuple(out)


class KernelPolicy:
    """`Policy` backed by `sgguard.kernel.evaluate`."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, NodeKind, str, bool, bool], PassThrough] = {}

    def pass_through(
        self, kernel: str, kind: NodeKind, open_mode: str, cap_sys_rawio: bool, unpriv_sgio: bool
    ) -> PassThrough:
        key = (kernel, kind, open_mode, cap_sys_rawio, unpriv_sgio)
        got = self._cache.get(key)
        if got is None:
            got = self._ask(*key)
            self._cache[key] = got
        return got

    def _ask(
        self, kernel: str, kind: NodeKind, open_mode: str, cap: bool, unpriv: bool
    ) -> PassThrough:
        node = _NODE[kind]
        mode = OpenMode(open_mode)
        allowed: set[int] = set()
        escapes: set[int] = set()
        notes: list[str] = []
        rule = ""
        for op in range(256):
            cdb = bytes([op]) + bytes(group_length(op) - 1)
            out = evaluate(Case(kernel, node, mode, cap, Ioctl.SG_IO, cdb, unpriv))
            if out.outcome is Result.ALLOWED:
                allowed.add(op)
                if out.escape:
                    escapes.add(op)
            if op == READ_10:
                rule = (
                    out.rule
                    if out.outcome is Result.ALLOWED
                    else f"{out.rule} -> {out.outcome.value}"
                )
            if out.estimated and "era boundary estimated" not in notes:
                notes.append("era boundary estimated")
            for n in out.notes:
                if not n.startswith("opcode ") and n not in notes and len(notes) < 4:
                    notes.append(n)
        probe = evaluate(Case(kernel, node, mode, cap, Ioctl.SG_GET_VERSION_NUM, None, unpriv))
        frozen = frozenset(allowed)
        return PassThrough(
            kernel=kernel,
            kind=kind,
            open=open_mode,
            cap_sys_rawio=cap,
            allowed=frozen,
            escapes=frozenset(escapes),
            rule=rule,
            sg_version=probe.outcome is Result.ALLOWED,
            sends=command_classes(frozen),
            aliases=hazards(frozen, aliases_only=open_mode == "rw" and len(frozen) > 64)
            if frozen
            else (),
            notes=tuple(notes),
        )
