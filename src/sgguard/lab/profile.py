"""Lab profiles: load a profile folder (or the model as one) and diff two of them.

Owns the profile folder's reading side (cases.jsonl, attacks.jsonl, tools.jsonl,
kernel.json, selftest.json, run.json), the pseudo-profile `model:<kernel>` (the
policy model's outcomes for the matrix of that kernel), what counts as an escape
in a measured case (the policy let a command that reads or changes the medium or
the device through from a partition or partial dm map), and the diff: every case
whose outcome changed (escape gained/lost, regression gained/lost, other), every
attack whose verdict changed, every tool whose result changed, and each side's
disagreements with the model. The diff itself is a pure function of two profiles.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sgguard.errors import InputError, UsageError

__all__ = [
    "CaseKey",
    "Diff",
    "Profile",
    "case_key",
    "command_labels",
    "diff_profiles",
    "escape_if_allowed",
    "kernel_label",
    "load_profile",
    "model_outcomes",
]

Json = dict[str, Any]
CaseKey = tuple[str, str, bool, str, str, bool, int | None, int | None]

_PARTIAL_NODES = ("partition", "dm-partial")
_DENIED = ("EPERM", "ENOTTY", "EACCES")


def case_key(c: Json) -> CaseKey:
    """Identity of a case across kernels (everything but `kernel`)."""
    return (
        str(c["node"]),
        str(c["open"]),
        bool(c["cap_sys_rawio"]),
        str(c["ioctl"]),
        str(c.get("cdb") or ""),
        bool(c.get("unpriv_sgio", False)),
        c.get("node_start"),
        c.get("node_blocks"),
    )


def kernel_label(release: str) -> str:
    """`6.1.0-56-amd64` -> `6.1`, `6.12.117+deb12-amd64` -> `6.12`."""
    m = re.match(r"(\d+)\.(\d+)", release)
    if not m:
        raise InputError(f"cannot read a kernel version from {release!r}")
    return f"{m.group(1)}.{m.group(2)}"


def command_labels(cdb_hex: str) -> tuple[str, tuple[str, ...], bool]:
    """(primary name, every other name (aliases), may read/change medium or device)."""
    if not cdb_hex:
        return ("", (), False)
    cdb = bytes.fromhex(cdb_hex)
    try:
        from sgguard.scsi import table
    except ImportError:  # the table is another area's; degrade to the opcode
        return (f"opcode {cdb[0]:02x}h", (), True)
    row = table.command_for_cdb(cdb)
    rows = table.for_opcode(cdb[0])
    names: list[str] = []
    for r in ([row] if row else []) + list(rows):
        for v in r.variants:
            if v.name not in names:
                names.append(v.name)
    if not names:
        return (f"opcode {cdb[0]:02x}h (unassigned)", (), True)
    effects = (row.effects if row else None) or None
    dangerous = True
    if row is not None:
        dangerous = bool(effects) and bool(row.effects.dangerous)
    elif rows:
        dangerous = any(r.effects.dangerous for r in rows)
    return (names[0], tuple(names[1:]), dangerous)


def escape_if_allowed(c: Json) -> bool:
    """Would this case be an escape if the policy let it through?

    From a partition or partial dm map, any command that can read or change the
    medium or the device (per the command table; unknown opcodes count), and the
    eject ioctls (they change the whole device's state).
    """
    if c["node"] not in _PARTIAL_NODES:
        return False
    if c["ioctl"] in ("CDROMEJECT", "CDROMCLOSETRAY"):
        return True
    if c["ioctl"] in ("SG_IO", "SCSI_IOCTL_SEND_COMMAND"):
        return command_labels(c.get("cdb") or "")[2]
    return False


@dataclass(slots=True)
class Profile:
    """A measured profile (folder) or the model's pseudo-profile."""

    name: str
    kernel: str  # "6.1"
    cases: dict[CaseKey, Json]
    attacks: dict[str, Json] = field(default_factory=dict)
    tools: dict[str, Json] = field(default_factory=dict)
    info: Json = field(default_factory=dict)
    is_model: bool = False
    path: Path | None = None


def _read_jsonl(path: Path) -> list[Json]:
    rows: list[Json] = []
    if not path.exists():
        return rows
    with path.open() as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise InputError(f"not JSON: {exc.msg}", where=f"{path}:{n}") from exc
    return rows


def model_outcomes(kernel: str, cases: Iterable[Json] | None = None) -> list[Json]:
    """The model's outcome lines for `cases` (default: the model's matrix for `kernel`)."""
    try:
        from sgguard import kernel as kmodel
    except ImportError as exc:  # pragma: no cover - depends on another area
        raise UsageError(f"the policy model (sgguard.kernel) is not available: {exc}") from exc
    if cases is None:
        objs = [kmodel.case_to_json(c) for c in kmodel.matrix_cases(kernel)]
    else:
        objs = [dict(c, kernel=kernel) for c in cases]
    out: list[Json] = []
    for obj in objs:
        spec = {k: obj[k] for k in obj if k in _CASE_FIELDS}
        case = kmodel.case_from_json(spec)
        outcome = kmodel.evaluate(case)
        line = kmodel.outcome_to_json(case, outcome)
        out.append(line)
    return out


_CASE_FIELDS = (
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


def load_profile(spec: str) -> Profile:
    """A profile folder, or `model:<kernel>` for the policy model."""
    if spec.startswith("model:"):
        kernel = spec.split(":", 1)[1]
        if not kernel:
            raise UsageError("model: needs a kernel version, e.g. model:6.1")
        lines = model_outcomes(kernel)
        return Profile(
            name=spec,
            kernel=kernel,
            cases={case_key(c): c for c in lines},
            is_model=True,
        )
    path = Path(spec)
    if not path.is_dir():
        raise UsageError(f"{spec}: no such profile folder (or use model:<kernel>)")
    if not (path / "cases.jsonl").exists() and not (path / "kernel.json").exists():
        raise UsageError(f"{spec}: not a lab profile (no cases.jsonl or kernel.json)")
    info: Json = {}
    if (path / "kernel.json").exists():
        info = json.loads((path / "kernel.json").read_text())
    cases = _read_jsonl(path / "cases.jsonl")
    kernel = str(info.get("kernel") or "")
    if not kernel and cases:
        kernel = str(cases[0].get("kernel", ""))
    if not kernel and info.get("release"):
        kernel = kernel_label(str(info["release"]))
    return Profile(
        name=str(path),
        kernel=kernel,
        cases={case_key(c): c for c in cases},
        attacks={a["id"]: a for a in _read_jsonl(path / "attacks.jsonl")},
        tools={t["id"]: t for t in _read_jsonl(path / "tools.jsonl")},
        info=info,
        path=path,
    )


@dataclass(frozen=True, slots=True)
class CaseChange:
    key: CaseKey
    case: Json
    a: str  # outcome in A ("absent" when the case is missing there)
    b: str
    kind: str  # escape-gained, escape-lost, regression-gained, regression-lost, changed, only-a, only-b


@dataclass(slots=True)
class Diff:
    a: str
    b: str
    cases: list[CaseChange] = field(default_factory=list)
    attacks: list[Json] = field(default_factory=list)
    tools: list[Json] = field(default_factory=list)
    model_a: list[Json] = field(default_factory=list)
    model_b: list[Json] = field(default_factory=list)

    @property
    def count(self) -> int:
        return (
            len(self.cases)
            + len(self.attacks)
            + len(self.tools)
            + len(self.model_a)
            + len(self.model_b)
        )

    def by_kind(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.cases:
            out[c.kind] = out.get(c.kind, 0) + 1
        return out


def _classify(case: Json, a: str, b: str) -> str:
    if a == "absent":
        return "only-b"
    if b == "absent":
        return "only-a"
    a_ok, b_ok = a == "allowed", b == "allowed"
    if a_ok == b_ok:
        return "changed"  # e.g. EPERM <-> ENOTTY
    if escape_if_allowed(case):
        return "escape-gained" if b_ok else "escape-lost"
    return "regression-gained" if a_ok else "regression-lost"


def diff_cases(a: dict[CaseKey, Json], b: dict[CaseKey, Json]) -> list[CaseChange]:
    changes: list[CaseChange] = []
    for key in sorted(set(a) | set(b), key=lambda k: tuple(str(x) for x in k)):
        ca, cb = a.get(key), b.get(key)
        oa = str(ca["outcome"]) if ca else "absent"
        ob = str(cb["outcome"]) if cb else "absent"
        if oa != ob:
            case = ca or cb or {}
            changes.append(CaseChange(key, case, oa, ob, _classify(case, oa, ob)))
    return changes


def model_lines(p: Profile) -> dict[CaseKey, Json]:
    """The model's outcome line for every case of a measured profile (by case key)."""
    if p.is_model or not p.cases or not p.kernel:
        return {}
    lines = model_outcomes(p.kernel, list(p.cases.values()))
    return dict(zip(p.cases.keys(), lines, strict=True))


def model_disagreements(p: Profile, lines: dict[CaseKey, Json] | None = None) -> list[Json]:
    """Cases of a measured profile where the model for its kernel says otherwise."""
    if lines is None:
        lines = model_lines(p)
    if not lines:
        return []
    out: list[Json] = []
    for key, measured in p.cases.items():
        model = lines[key]
        if measured.get("outcome") == "not-run":
            continue
        if str(model["outcome"]) != str(measured["outcome"]):
            out.append(
                {
                    "case": {k: measured[k] for k in measured if k in _CASE_FIELDS},
                    "measured": measured["outcome"],
                    "errno": measured.get("errno"),
                    "model": model["outcome"],
                    "rule": model.get("rule"),
                }
            )
    return out


def diff_profiles(a: Profile, b: Profile, *, with_model: bool = True) -> Diff:
    d = Diff(a.name, b.name)
    d.cases = diff_cases(a.cases, b.cases)
    for aid in sorted(set(a.attacks) | set(b.attacks)):
        x, y = a.attacks.get(aid), b.attacks.get(aid)
        if x is None or y is None:
            continue
        fx = (x["outcome"], x["escape"], x.get("bytes_changed"), x.get("bytes_read"))
        fy = (y["outcome"], y["escape"], y.get("bytes_changed"), y.get("bytes_read"))
        if fx != fy:
            kind = "changed"
            if x["escape"] != y["escape"]:
                kind = "escape-gained" if y["escape"] else "escape-lost"
            d.attacks.append({"id": aid, "a": x, "b": y, "kind": kind})
    for tid in sorted(set(a.tools) | set(b.tools)):
        x, y = a.tools.get(tid), b.tools.get(tid)
        if x is None or y is None:
            continue
        tx = (x["exit"], x.get("failing_ioctl"), x.get("failing_errno"))
        ty = (y["exit"], y.get("failing_ioctl"), y.get("failing_errno"))
        if tx != ty:
            kind = "changed"
            if x["works"] != y["works"]:
                kind = "regression-gained" if x["works"] else "regression-lost"
            d.tools.append({"id": tid, "a": x, "b": y, "kind": kind})
    if with_model:
        d.model_a = model_disagreements(a)
        d.model_b = model_disagreements(b)
    return d


def render_diff(d: Diff) -> str:
    """Text listing of a diff, one changed item a line."""
    lines = [f"--- {d.a}", f"+++ {d.b}"]
    kinds = d.by_kind()
    lines.append(
        f"cases changed: {len(d.cases)}"
        + (" (" + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) + ")" if kinds else "")
    )
    for c in d.cases:
        case = c.case
        name = command_labels(case.get("cdb") or "")[0]
        what = f"{case['ioctl']}" + (f" {case.get('cdb')} {name}" if case.get("cdb") else "")
        lines.append(
            f"  {c.kind:18} {case['node']:10} {case['open']} "
            f"cap_sys_rawio={'yes' if case['cap_sys_rawio'] else 'no '} {what}: {c.a} -> {c.b}"
        )
    lines.append(f"attacks changed: {len(d.attacks)}")
    for x in d.attacks:
        lines.append(
            f"  {x['kind']:18} {x['id']}: {x['a']['outcome']}/escape={x['a']['escape']}"
            f" -> {x['b']['outcome']}/escape={x['b']['escape']}"
        )
    lines.append(f"tools changed: {len(d.tools)}")
    for x in d.tools:
        lines.append(
            f"  {x['kind']:18} {x['id']}: exit {x['a']['exit']} ({x['a'].get('failing_ioctl')})"
            f" -> exit {x['b']['exit']} ({x['b'].get('failing_ioctl')})"
        )
    for label, rows in ((d.a, d.model_a), (d.b, d.model_b)):
        lines.append(f"model disagreements in {label}: {len(rows)}")
        for r in rows:
            c = r["case"]
            lines.append(
                f"  {c['node']:10} {c['open']} cap_sys_rawio={'yes' if c['cap_sys_rawio'] else 'no '} "
                f"{c['ioctl']} {c.get('cdb') or ''}: measured {r['measured']}, model {r['model']}"
                f" ({r.get('rule')})"
            )
    lines.append(f"total differences: {d.count}")
    return "\n".join(lines) + "\n"
