"""sgguard.kernel: an executable model of the Linux SCSI pass-through ioctl policy, era by era.

Owns the kernel side of sgguard's knowledge: given a case (kernel release, device
node, open mode, CAP_SYS_RAWIO, ioctl, CDB), what the kernel does with it
(`evaluate`), which kernel function decided (`Outcome.rule`), and whether an
allowed request escapes the opened node (`Outcome.escape`). Modules: `version`
(release strings), `eras` (filter lists and era boundaries), `cases` (typed
cases/outcomes and their JSON-lines form, shared/spec/kernel-cases.md), `policy`
(the decision logic and per-release tables), `matrix` (the lab's case matrix and
its summary).
"""

from __future__ import annotations

from sgguard.kernel.cases import (
    Case,
    Ioctl,
    Node,
    OpenMode,
    Outcome,
    Result,
    case_from_json,
    case_to_json,
    outcome_to_json,
)
from sgguard.kernel.matrix import matrix_cases, summarize
from sgguard.kernel.policy import evaluate, model_for
from sgguard.kernel.version import KernelVersion, parse_kernel

__all__ = [
    "Case",
    "Ioctl",
    "KernelVersion",
    "Node",
    "OpenMode",
    "Outcome",
    "Result",
    "case_from_json",
    "case_to_json",
    "evaluate",
    "matrix_cases",
    "model_for",
    "outcome_to_json",
    "parse_kernel",
    "summarize",
]
