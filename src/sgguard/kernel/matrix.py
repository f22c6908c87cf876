"""The lab's policy matrix: the cases a real guest runs, and their summary per cell.

Owns `matrix_cases(kernel)` (every opcode 00h-FFh through SG_IO, a set of CDBs
through SCSI_IOCTL_SEND_COMMAND and every other ioctl of the cases spec, on every
node kind, both open modes, with and without CAP_SYS_RAWIO) and `summarize(kernel)`,
the node x open mode x capability view of SG_IO over all 256 opcodes: counts per
outcome and which dangerous commands (by the command table's effect classes, with
the alias under which the kernel's filter lets them through) each cell allows.

CDBs are the opcode followed by zeros at the kernel's COMMAND_SIZE() length for
the opcode's group (6, 10, 10, 12, 16, 12, 10, 10 bytes), like the 6.1 oracle.
0x7f (variable length; group 3 is "reserved" to COMMAND_SIZE) is sent at 16
bytes: its real CDBs are 32 bytes or more, but the filter refuses 0x7f by its
first byte alone in every era, and 16 (BLK_MAX_CDB) is the longest CDB that
block-device SG_IO accepts in every era (up to 3.16 `sg_io` refused longer ones
with EINVAL before the filter ran), so the case measures the policy everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sgguard.kernel.cases import CDB_IOCTLS, Case, Ioctl, Node, OpenMode, Result, group_length
from sgguard.kernel.eras import FILTER_ENTRIES
from sgguard.kernel.policy import evaluate, model_for

__all__ = [
    "MATRIX_SEND_COMMAND_OPCODES",
    "MatrixCell",
    "MatrixSummary",
    "matrix_cases",
    "matrix_cdb",
    "summarize",
]

# SCSI_IOCTL_SEND_COMMAND carries one CDB per filter class and alias that matters:
# TEST UNIT READY (R), READ (10) (R, reads), WRITE (10) (W), UNMAP (R as READ
# SUB-CHANNEL), WRITE BUFFER (never), ATA PASS-THROUGH (12) (W as BLANK).
MATRIX_SEND_COMMAND_OPCODES: tuple[int, ...] = (0x00, 0x28, 0x2A, 0x42, 0x3B, 0xA1)
VARIABLE_LENGTH_CDB = 16


def matrix_cdb(opcode: int) -> bytes:
    """The zero-filled CDB the matrix sends for an opcode."""
    length = VARIABLE_LENGTH_CDB if opcode == 0x7F else group_length(opcode)
    return bytes([opcode]) + bytes(length - 1)


def matrix_cases(kernel: str) -> list[Case]:
    """The lab's policy matrix for one kernel (20 cells x 274 requests = 5,480 cases)."""
    model_for(kernel)  # refuse an unknown version up front
    cdbs = [matrix_cdb(op) for op in range(256)]
    send = [matrix_cdb(op) for op in MATRIX_SEND_COMMAND_OPCODES]
    others = [i for i in Ioctl if i not in CDB_IOCTLS]
    cases: list[Case] = []
    for node in Node:
        for mode in OpenMode:
            for cap in (False, True):
                cases.extend(Case(kernel, node, mode, cap, Ioctl.SG_IO, c) for c in cdbs)
                cases.extend(
                    Case(kernel, node, mode, cap, Ioctl.SCSI_IOCTL_SEND_COMMAND, c) for c in send
                )
                cases.extend(Case(kernel, node, mode, cap, i) for i in others)
    return cases


@dataclass(frozen=True, slots=True)
class DangerousCommand:
    """A command with an effect that a cell lets through."""

    opcode: int
    name: str  # its SBC (disk) name
    alias: str | None  # the name the kernel's filter knows it by, when different
    effects: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MatrixCell:
    node: Node
    open: OpenMode
    cap_sys_rawio: bool
    counts: dict[str, int]
    escapes: int
    estimated: int
    rules: dict[str, int]
    dangerous: tuple[DangerousCommand, ...] = field(default=())

    def by_effect(self) -> dict[str, list[DangerousCommand]]:
        """Commands grouped under their most severe effect, most severe group first."""
        out: dict[str, list[DangerousCommand]] = {e: [] for e in SEVERITY}
        for d in self.dangerous:
            worst = min(d.effects, key=lambda e: SEVERITY.index(e) if e in SEVERITY else 99)
            out.setdefault(worst, []).append(d)
        return {e: cmds for e, cmds in out.items() if cmds}


@dataclass(frozen=True, slots=True)
class MatrixSummary:
    kernel: str
    era: str
    uncertain: tuple[str, ...]
    cells: tuple[MatrixCell, ...]


def _squash(name: str) -> str:
    """READ (10), READ_10 and GPCMD_READ_10 compare equal."""
    name = name.upper().removeprefix("GPCMD_")
    return "".join(ch for ch in name if ch.isalnum())


# Most severe first: a command is listed under the first of its effects.
SEVERITY: tuple[str, ...] = (
    "ATA_PASSTHROUGH",
    "FIRMWARE",
    "SECURITY",
    "ERASES",
    "WRITES_MEDIA",
    "RESERVATIONS",
    "DEVICE_STATE",
    "UNKNOWN",
    "READS_MEDIA",
)


def _opcode_commands() -> dict[int, tuple[DangerousCommand, ...]]:
    """Per opcode, every SBC meaning (all service actions) that has an effect."""
    from sgguard.scsi.model import DeviceType, Effect
    from sgguard.scsi.table import for_opcode

    kernel_names: dict[int, str] = {}
    for e in FILTER_ENTRIES:
        kernel_names.setdefault(e.opcode, e.constant)
    out: dict[int, tuple[DangerousCommand, ...]] = {}
    for op in range(256):
        found: list[DangerousCommand] = []
        rows = for_opcode(op)
        mmc_name: str | None = None
        for r in rows:
            v = r.variant(DeviceType.MMC)
            if v is not None and r.service_action is None:
                mmc_name = v.name
        for r in rows:
            v = r.variant(DeviceType.SBC)
            if v is None or not v.effects:
                continue
            names = tuple(e.name for e in Effect if e.value and e in v.effects and e.name)
            alias = mmc_name if mmc_name and _squash(mmc_name) != _squash(v.name) else None
            constant = kernel_names.get(op, "")
            if (
                alias is None
                and constant.startswith("GPCMD_")
                and _squash(constant) != _squash(v.name)
            ):
                alias = constant  # the name the kernel's filter table gives the opcode
            found.append(DangerousCommand(op, v.name, alias, names))
        out[op] = tuple(found)
    return out


def summarize(kernel: str) -> MatrixSummary:
    """SG_IO over all 256 opcodes, per node x open mode x capability."""
    model = model_for(kernel)
    commands = _opcode_commands()
    cells: list[MatrixCell] = []
    for node in Node:
        for mode in OpenMode:
            for cap in (False, True):
                counts = {r.value: 0 for r in Result}
                rules: dict[str, int] = {}
                escapes = estimated = 0
                dangerous: list[DangerousCommand] = []
                for op in range(256):
                    out = evaluate(Case(kernel, node, mode, cap, Ioctl.SG_IO, matrix_cdb(op)))
                    counts[out.outcome.value] += 1
                    rules[out.rule] = rules.get(out.rule, 0) + 1
                    estimated += out.estimated
                    if out.outcome is Result.ALLOWED:
                        escapes += out.escape
                        dangerous.extend(commands[op])
                cells.append(
                    MatrixCell(node, mode, cap, counts, escapes, estimated, rules, tuple(dangerous))
                )
    return MatrixSummary(kernel, model.era, tuple(f.value for f in model.uncertain), tuple(cells))
