"""sgguard.policy: per-slice command policy (allow / deny by opcode or effect class, read-only).

See `sgguard.policy.rules`.
"""

from __future__ import annotations

from sgguard.policy.rules import (
    DEFAULT_DENY_EFFECTS,
    WRITE_EFFECTS,
    Decision,
    OpKey,
    Policy,
    Refusal,
    Verdict,
    parse_opkey,
)

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
