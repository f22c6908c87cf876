"""The kernel's SCSI pass-through ioctl policy as an executable model, era by era.

Owns `evaluate(case) -> Outcome` and `model_for(kernel)`. The decision for one
(node, open mode, capability, unpriv_sgio, ioctl, opcode) follows the kernel's
call path step by step in `_decide` (each step cites its kernel function); a
`KernelModel` precomputes those decisions per release into tables indexed by the
CDB's first byte (the filter never looks further), so `evaluate` is a few dict
and tuple lookups. Escape with `node_start`/`node_blocks` decodes the CDB (via
`sgguard.scsi.cdb.lba_ranges`) only for requests that the policy let through
from a partition or partial dm map.

Decisions, with their sources (torvalds/linux):

* Filter (`blk_verify_command`, block/scsi_ioctl.c; `scsi_cmd_allowed`,
  drivers/scsi/scsi_ioctl.c from 5.15): CAP_SYS_RAWIO passes everything; else
  an opcode in R passes; in W it passes when the file is open for writing; else
  EPERM. Only byte 0 is examined. RHEL's `unpriv_sgio` queue flag lifts it.
* Block-device SG_IO (`sg_io` -> `blk_fill_sghdr_rq`): before ~4.11 a filter
  refusal reached the process as EFAULT (`if (blk_fill_sghdr_rq(...)) return
  -EFAULT;`). The outcome stays EPERM (the policy's answer); `errno` says EFAULT.
* Partitions (`sd_ioctl` -> `scsi_verify_blk_ioctl`, 3.0.18/3.2.2/3.3 on; open
  coded in `sd_ioctl` from 5.15): without CAP_SYS_RAWIO, a whitelist of harmless
  ioctls, then (0478fe68685a) none: -ENOIOCTLCMD, which `vfs_ioctl` shows as
  ENOTTY (EINVAL before 07d106d0a33d). Before the fix the partition's ioctl went
  to the whole disk (`scsi_cmd_ioctl(disk->queue, disk, ...)`).
* device-mapper: before ec8013beddd7 `linear_ioctl` forwarded every ioctl to the
  underlying device with the *table's* open mode (`lc->dev->mode`, read-write
  for LVM), so a read-only opener got the W list too. ec8013beddd7 made a map
  that does not start at 0 or cover the whole device call
  `scsi_verify_blk_ioctl(NULL, cmd)` (the partition whitelist). e980f62353c6
  (`dm_blk_ioctl` + `dm_prepare_ioctl`/`linear_prepare_ioctl`) requires
  CAP_SYS_RAWIO for such maps (-ENOIOCTLCMD) and passes the caller's mode.
  Measured on 6.1: dm-partial behaves like a partition, dm-whole like the disk.
* /dev/sgN (`sg_ioctl`): SG_IO goes through `sg_new_write`, which filters only
  read-only opens (`sg_allow_access`); SCSI_IOCTL_SEND_COMMAND always reaches
  `sg_scsi_ioctl`'s filter with the open mode; ioctls sg does not know get EPERM
  on a read-only open ("don't know so take safe approach"), capability or not;
  on O_RDWR they go to `scsi_ioctl`, which from 5.15 sends START STOP UNIT for
  CDROMEJECT/CDROMCLOSETRAY and before passed them to the HBA's ioctl hook.
* CDROMEJECT/CDROMCLOSETRAY on sd: `scsi_cmd_ioctl`/`scsi_ioctl` send START STOP
  UNIT (LoEj=1, Start=0/1) with no filter and no capability check.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from sgguard.errors import InputError
from sgguard.kernel.cases import (
    CDB_IOCTLS,
    Case,
    CommandFacts,
    Decision,
    Ioctl,
    Node,
    OpenMode,
    Outcome,
    Result,
)
from sgguard.kernel.eras import (
    BOUNDARIES,
    PARTITION_WHITELIST,
    Feature,
    Flags,
    era_name,
    filter_lists,
    flags_for,
)
from sgguard.kernel.version import KernelVersion, parse_kernel

if TYPE_CHECKING:
    from sgguard.scsi.model import CommandDef

__all__ = [
    "Decision",
    "KernelModel",
    "clear_outcome_caches",
    "evaluate",
    "evaluate_many",
    "model_for",
]

CAP = "capable(CAP_SYS_RAWIO)"
_WHITELIST = frozenset(Ioctl(name) for name in PARTITION_WHITELIST)
START_STOP_UNIT = 0x1B


@dataclass(slots=True)
class _Step:
    """Mutable trace while walking the kernel's call path."""

    path: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def done(
        self,
        outcome: Result,
        rule: str,
        errno: str | None = None,
        whole_disk: bool = False,
    ) -> Decision:
        if errno is None and outcome is not Result.ALLOWED:
            errno = outcome.value
        return Decision(outcome, rule, errno, tuple(self.path), tuple(self.notes), whole_disk)


def _filter_name(flags: Flags) -> str:
    return "scsi_cmd_allowed" if Feature.SCSI_IOCTL_MERGED in flags else "blk_verify_command"


def _enoioctlcmd(flags: Flags) -> str:
    """What the process sees for -ENOIOCTLCMD (vfs_ioctl)."""
    return "ENOTTY" if Feature.VFS_ENOTTY in flags else "EINVAL"


def _filter(
    step: _Step,
    flags: Flags,
    lists: tuple[frozenset[int], frozenset[int]],
    opcode: int,
    writable: bool,
    cap: bool,
    unpriv: bool,
) -> tuple[bool, str]:
    """blk_verify_command / scsi_cmd_allowed: (allowed, rule)."""
    name = _filter_name(flags)
    step.path.append(name)
    if cap:
        return True, name  # "root can do any command": capable() is its first test
    if unpriv:
        step.notes.append("unpriv_sgio (RHEL queue flag) lifts the opcode filter")
        return True, name
    read_ok, write_ok = lists
    if opcode in read_ok:
        return True, name
    if opcode in write_ok:
        if writable:
            return True, name
        step.notes.append(f"opcode {opcode:02x}h is write-safe only: needs a writable open")
        return False, name
    return False, name


def _decide(
    flags: Flags,
    lists: tuple[frozenset[int], frozenset[int]],
    node: Node,
    writable: bool,
    cap: bool,
    unpriv: bool,
    ioctl: Ioctl,
    opcode: int,
) -> Decision:
    """Walk the kernel's path for one request (opcode ignored for non-CDB ioctls)."""
    step = _Step()
    merged = Feature.SCSI_IOCTL_MERGED in flags
    if node is Node.SG:
        return _decide_sg(step, flags, lists, writable, cap, unpriv, ioctl, opcode)

    whole_disk = False  # the request reaches the whole disk from a partial node
    mode_writable = writable
    bdev_is_partition = node is Node.PARTITION
    if node in (Node.DM_PARTIAL, Node.DM_WHOLE):
        step.path.append("dm_blk_ioctl")
        partial = node is Node.DM_PARTIAL
        if Feature.DM_REFACTOR not in flags:
            # drivers/md/dm-linear.c linear_ioctl: __blkdev_driver_ioctl(lc->dev->bdev,
            # lc->dev->mode, ...): the table's mode, not the caller's.
            step.path.append("linear_ioctl")
            if not writable:
                step.notes.append("linear_ioctl passes the table's read-write mode to the disk")
            mode_writable = True
            if partial and Feature.PARTITION_FIX in flags:
                # ec8013beddd7: a map not starting at 0 / not covering the device.
                step.path.append("scsi_verify_blk_ioctl")
                if ioctl not in _WHITELIST and not cap:
                    step.notes.append("partial dm map: only the whitelisted ioctls pass")
                    return step.done(
                        Result.ENOTTY, "scsi_verify_blk_ioctl", errno=_enoioctlcmd(flags)
                    )
        else:
            # dm_prepare_ioctl -> linear_prepare_ioctl returns 1 for a partial map.
            step.path.append("dm_prepare_ioctl")
            if partial and not cap:
                step.notes.append("partial dm map needs CAP_SYS_RAWIO for any ioctl")
                return step.done(Result.ENOTTY, "dm_blk_ioctl", errno=_enoioctlcmd(flags))
        whole_disk = partial
    elif bdev_is_partition:
        whole_disk = True

    step.path.append("sd_ioctl")
    if bdev_is_partition and Feature.PARTITION_FIX in flags:
        if Feature.PARTITION_ALL_ENOTTY not in flags:
            step.path.append("scsi_verify_blk_ioctl")
            if ioctl not in _WHITELIST and not cap:
                step.notes.append("partition: only the whitelisted ioctls pass")
                return step.done(Result.ENOTTY, "scsi_verify_blk_ioctl", errno=_enoioctlcmd(flags))
        elif not cap:
            rule = "sd_ioctl" if merged else "scsi_verify_blk_ioctl"
            if not merged:
                step.path.append(rule)
            step.notes.append("partition: every SCSI ioctl needs CAP_SYS_RAWIO")
            return step.done(Result.ENOTTY, rule, errno=_enoioctlcmd(flags))

    if ioctl is Ioctl.SG_IO or ioctl is Ioctl.SCSI_IOCTL_SEND_COMMAND:
        if ioctl is Ioctl.SG_IO:
            step.path.extend(("scsi_ioctl", "sg_io") if merged else ("scsi_cmd_ioctl", "sg_io"))
        else:
            step.path.extend(
                ("scsi_ioctl", "sg_scsi_ioctl") if merged else ("scsi_cmd_ioctl", "sg_scsi_ioctl")
            )
        ok, rule = _filter(step, flags, lists, opcode, mode_writable, cap, unpriv)
        if ok:
            return step.done(Result.ALLOWED, rule, whole_disk=whole_disk)
        errno = None
        if ioctl is Ioctl.SG_IO and Feature.SG_IO_EPERM not in flags:
            errno = "EFAULT"
            step.notes.append("sg_io turns blk_fill_sghdr_rq's refusal into EFAULT")
        return step.done(Result.EPERM, rule, errno=errno)
    if ioctl in (Ioctl.CDROMEJECT, Ioctl.CDROMCLOSETRAY):
        fn = "scsi_ioctl" if merged else "scsi_cmd_ioctl"
        step.path.append(fn)
        step.notes.append(_start_stop_note(ioctl))
        return step.done(Result.ALLOWED, fn, whole_disk=whole_disk)
    if ioctl in (Ioctl.SCSI_IOCTL_GET_IDLUN, Ioctl.SCSI_IOCTL_GET_BUS_NUMBER):
        # sd_ioctl sends these two straight to scsi_ioctl.
        step.path.append("scsi_ioctl")
        return step.done(Result.ALLOWED, "scsi_ioctl", whole_disk=whole_disk)
    if ioctl in (Ioctl.SCSI_IOCTL_GET_PCI, Ioctl.SCSI_IOCTL_PROBE_HOST):
        # Before 5.15: scsi_cmd_ioctl answers -ENOTTY and sd_ioctl falls back to scsi_ioctl.
        step.path.append("scsi_ioctl")
        return step.done(Result.ALLOWED, "scsi_ioctl", whole_disk=whole_disk)
    # SG_GET_VERSION_NUM, SG_{GET,SET}_TIMEOUT, SG_{GET,SET}_RESERVED_SIZE, SG_EMULATED_HOST
    fn = "scsi_ioctl" if merged else "scsi_cmd_ioctl"
    step.path.append(fn)
    return step.done(Result.ALLOWED, fn, whole_disk=whole_disk)


def _start_stop_note(ioctl: Ioctl) -> str:
    start = 1 if ioctl is Ioctl.CDROMCLOSETRAY else 0
    return f"sends START STOP UNIT (LoEj=1, Start={start}) to the device"


_SG_OWN = frozenset(
    {
        Ioctl.SG_GET_VERSION_NUM,
        Ioctl.SG_GET_TIMEOUT,
        Ioctl.SG_SET_TIMEOUT,
        Ioctl.SG_GET_RESERVED_SIZE,
        Ioctl.SG_SET_RESERVED_SIZE,
        Ioctl.SG_EMULATED_HOST,
    }
)
# sg_ioctl lets these through to scsi_ioctl even on a read-only open.
_SG_PASS = frozenset(
    {Ioctl.SCSI_IOCTL_GET_IDLUN, Ioctl.SCSI_IOCTL_GET_BUS_NUMBER, Ioctl.SCSI_IOCTL_PROBE_HOST}
)


def _decide_sg(
    step: _Step,
    flags: Flags,
    lists: tuple[frozenset[int], frozenset[int]],
    writable: bool,
    cap: bool,
    unpriv: bool,
    ioctl: Ioctl,
    opcode: int,
) -> Decision:
    """drivers/scsi/sg.c sg_ioctl (sg_ioctl_common in newer kernels)."""
    step.path.append("sg_ioctl")
    merged = Feature.SCSI_IOCTL_MERGED in flags
    if ioctl is Ioctl.SG_IO:
        step.path.append("sg_new_write")
        if writable:
            # sg_new_write: `if (read_only && sg_allow_access(...))`: O_RDWR is unfiltered.
            return step.done(Result.ALLOWED, "sg_new_write")
        step.path.append("sg_allow_access")
        ok, _ = _filter(step, flags, lists, opcode, False, cap, unpriv)
        return step.done(Result.ALLOWED if ok else Result.EPERM, "sg_allow_access")
    if ioctl is Ioctl.SCSI_IOCTL_SEND_COMMAND:
        if not merged and not writable:
            step.path.append("sg_allow_access")
        step.path.extend(("scsi_ioctl", "sg_scsi_ioctl") if merged else ("sg_scsi_ioctl",))
        ok, rule = _filter(step, flags, lists, opcode, writable, cap, unpriv)
        if not merged and not writable:
            rule = "sg_allow_access"
        return step.done(Result.ALLOWED if ok else Result.EPERM, rule)
    if ioctl in _SG_OWN:
        return step.done(Result.ALLOWED, "sg_ioctl")
    if ioctl in _SG_PASS:
        step.path.append("scsi_ioctl")
        return step.done(Result.ALLOWED, "scsi_ioctl")
    # CDROMEJECT, CDROMCLOSETRAY, SCSI_IOCTL_GET_PCI: sg's `default:` case.
    if not writable:
        step.notes.append("sg_ioctl refuses ioctls it does not know on a read-only open")
        return step.done(Result.EPERM, "sg_ioctl")
    step.path.append("scsi_ioctl")
    if ioctl is Ioctl.SCSI_IOCTL_GET_PCI:
        return step.done(Result.ALLOWED, "scsi_ioctl")
    if merged:
        step.notes.append(_start_stop_note(ioctl))
        return step.done(Result.ALLOWED, "scsi_ioctl")
    step.notes.append(
        "scsi_ioctl hands it to the host adapter's ioctl hook; without one (virtio_scsi) EINVAL"
    )
    return step.done(Result.EINVAL, "scsi_ioctl")


# --- Escape -------------------------------------------------------------------

_OPCODE_EFFECTS: dict[bytes, CommandFacts] = {}
# Effects a pure LBA range confines (checked against node_start/node_blocks); any
# other effect acts on the whole device.
_RANGED = frozenset({"READS_MEDIA", "WRITES_MEDIA", "ERASES"})


def _effect_names(effects: object) -> tuple[str, ...]:
    from sgguard.scsi.model import Effect

    assert isinstance(effects, Effect)
    return tuple(e.name for e in Effect if e.value and e in effects and e.name)


def _command_info(cdb: bytes) -> CommandFacts:
    """What the CDB is on a disk (SBC): name, aliases, effects, whether it is LBA-confined.

    The CDB's own command decides: an opcode whose service action the CDB leaves
    undefined for disks (48h with service action 00h) is rejected by the device and
    has no effect, although the filter would pass the opcode's other service actions.
    """
    info = _OPCODE_EFFECTS.get(cdb)
    if info is not None:
        return info
    from sgguard.scsi.model import DeviceType
    from sgguard.scsi.table import command_for_cdb, for_opcode, service_action_of

    opcode = cdb[0]
    row: CommandDef | None = command_for_cdb(cdb)
    same_opcode = for_opcode(opcode)
    name: str | None = None
    aliases: list[str] = []
    effects: tuple[str, ...] = ()
    if row is not None:
        variant = row.variant(DeviceType.SBC)
        name = variant.name if variant is not None else row.name
        # A command only other device types define (READ TOC on a disk) does nothing.
        effects = _effect_names(variant.effects) if variant is not None else ()
        # Aliases: other device types' names for the same (opcode, service action) and
        # rows of the opcode that a device type defines without a service action.
        alias_rows = [row, *(r for r in same_opcode if r is not row and r.service_action is None)]
    else:
        sa = service_action_of(cdb, DeviceType.SBC)
        what = f"service action {sa:02X}h" if sa is not None else "this CDB"
        name = f"{opcode:02X}h {what} (not defined for disks)"
        alias_rows = list(same_opcode)
    for r in alias_rows:
        for v in r.variants:
            if v.name != name and v.name not in aliases:
                aliases.append(v.name)
    touches = bool(effects)
    ranged = touches and all(e in _RANGED for e in effects)
    info = CommandFacts(name, tuple(aliases), effects, touches, ranged)
    if len(_OPCODE_EFFECTS) > 100_000:
        _OPCODE_EFFECTS.clear()
    _OPCODE_EFFECTS[cdb] = info
    return info


def _escapes_range(cdb: bytes, start: int, blocks: int) -> tuple[bool, str | None]:
    """Do the blocks a CDB addresses fall outside [start, start+blocks)? (escape, note)."""
    from sgguard.scsi.cdb import decode, lba_ranges

    try:
        ranges = lba_ranges(decode(cdb))
    except Exception as exc:  # a CDB the codec refuses: its range is unknown
        return True, f"range unknown ({exc}): counted as outside the node"
    end = start + blocks
    for r in ranges:
        if r.to_end:
            return True, None
        if r.blocks and (r.lba < start or r.lba + r.blocks > end):
            return True, None
    return False, None


# --- Models per release ---------------------------------------------------------


_NODES = tuple(Node)
_IOCTLS = tuple(Ioctl)


class KernelModel:
    """One release's policy: precomputed decision tables and the outcome cache."""

    __slots__ = (
        "_alternatives",
        "_outcomes",
        "_tables",
        "era",
        "flags",
        "lists",
        "uncertain",
        "version",
    )

    def __init__(self, version: KernelVersion) -> None:
        self.version = version
        self.flags, self.uncertain = flags_for(version)
        relevant = {b.feature for b in BOUNDARIES if b.outcome_relevant}
        self.uncertain = tuple(f for f in self.uncertain if f in relevant)
        self.lists = filter_lists(self.flags)
        self.era = era_name(self.flags)
        # Each uncertain feature flipped, with its filter lists: for `estimated`.
        self._alternatives = [
            (f, fl, filter_lists(fl)) for f in self.uncertain for fl in (self.flags.flipped(f),)
        ]
        self._tables: dict[tuple[Node, bool, bool, bool, Ioctl], list[Decision | None]] = {}
        self._outcomes: dict[tuple[int, bytes | None, int | None, int | None], Outcome] = {}

    def decisions(
        self, node: Node, writable: bool, cap: bool, unpriv: bool, ioctl: Ioctl
    ) -> tuple[Decision, ...]:
        """256 decisions (one per first CDB byte) for CDB ioctls, else one."""
        table = self._table(node, writable, cap, unpriv, ioctl)
        return tuple(self._fill(table, node, writable, cap, unpriv, ioctl, op) if d is None else d
                     for op, d in enumerate(table))  # fmt: skip

    def _table(
        self, node: Node, writable: bool, cap: bool, unpriv: bool, ioctl: Ioctl
    ) -> list[Decision | None]:
        key = (node, writable, cap, unpriv, ioctl)
        table = self._tables.get(key)
        if table is None:
            table = [None] * (256 if ioctl in CDB_IOCTLS else 1)
            self._tables[key] = table
        return table

    def _fill(
        self,
        table: list[Decision | None],
        node: Node,
        writable: bool,
        cap: bool,
        unpriv: bool,
        ioctl: Ioctl,
        op: int,
    ) -> Decision:
        """Decide one entry of a table (tables fill lazily, one opcode at a time)."""
        flags, lists = self.flags, self.lists
        d = _decide(flags, lists, node, writable, cap, unpriv, ioctl, op)
        if cap:
            # Name the capability when it is what let the request through.
            plain = _decide(flags, lists, node, writable, False, unpriv, ioctl, op)
            if plain.outcome is not d.outcome and d.outcome is Result.ALLOWED:
                d = replace(d, rule=CAP, path=(*d.path, CAP))
        moved = [
            f.value
            for f, fl, ls in self._alternatives
            if _decide(fl, ls, node, writable, cap, unpriv, ioctl, op).outcome is not d.outcome
        ]
        if moved:
            notes = (*d.notes, "estimated: decided by the uncertain boundary " + ", ".join(moved))
            d = replace(d, notes=notes, estimated=True)
        d = replace(d, era=self.era)
        table[op] = d
        return d

    def evaluate(self, case: Case) -> Outcome:
        cdb = case.cdb
        op = cdb[0] if cdb is not None else 0
        key = (
            case.node,
            case.open is OpenMode.RW,
            case.cap_sys_rawio,
            case.unpriv_sgio,
            case.ioctl,
        )
        table = self._tables.get(key)
        if table is None:
            table = self._table(*key)
        d = table[op]
        if d is None:
            d = self._fill(table, *key, op)
        okey = (id(d), cdb, case.node_start, case.node_blocks)
        hit = self._outcomes.get(okey)
        if hit is not None:
            return hit
        outcome = self._outcome(d, case)
        if len(self._outcomes) > 200_000:
            self._outcomes.clear()
        self._outcomes[okey] = outcome
        return outcome

    def _outcome(self, d: Decision, case: Case) -> Outcome:
        cdb = case.cdb
        facts: CommandFacts | None = None
        if cdb is not None:
            facts = _command_info(cdb)
            touches, ranged = facts.touches, facts.ranged
        else:
            touches, ranged = case.ioctl in _START_STOP, False  # START STOP UNIT: device state
        if not (touches and d.whole_disk and d.outcome is Result.ALLOWED):
            return Outcome(d, False, facts)
        if case.node_start is None or case.node_blocks is None or not ranged or cdb is None:
            return Outcome(d, True, facts)
        escape, note = _escapes_range(cdb, case.node_start, case.node_blocks)
        return Outcome(d, escape, facts, (note,) if note else ())


_START_STOP = frozenset({Ioctl.CDROMEJECT, Ioctl.CDROMCLOSETRAY})


_MODELS: dict[str, KernelModel] = {}


def model_for(kernel: str) -> KernelModel:
    """The (cached) model of a release; InputError for an unknown version."""
    model = _MODELS.get(kernel)
    if model is None:
        try:
            version = parse_kernel(kernel)
        except InputError as exc:
            raise InputError(str(exc), where="field 'kernel'") from None
        model = KernelModel(version)
        _MODELS[kernel] = model
    return model


def clear_outcome_caches() -> None:
    """Forget memoized outcomes and command facts (the decision tables stay)."""
    for model in _MODELS.values():
        model._outcomes.clear()
    _OPCODE_EFFECTS.clear()


def evaluate(case: Case) -> Outcome:
    """What the kernel named by `case.kernel` does with the case."""
    model = _MODELS.get(case.kernel)
    if model is None:
        model = model_for(case.kernel)
    return model.evaluate(case)


def evaluate_many(cases: list[Case]) -> list[Outcome]:
    """evaluate() over a list (one model lookup per distinct kernel)."""
    return [evaluate(c) for c in cases]
