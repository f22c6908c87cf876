"""What an iSCSI target node offers: its name, LUN map, portal group, ACL and CHAP secrets.

Owns `Target` (one iSCSI target node, RFC 7143 4.2.7: a name, a target portal
group tag, a map LUN -> logical unit, the initiators it admits and its CHAP
credentials). REPORT LUNS (SPC-5 6.33) lists this map: the logical units get it
through their `report_luns` seam, LUNs without a unit through
`sgguard.target.lu.no_unit_response`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sgguard.iscsi.chap import ChapCredentials
from sgguard.target.api import LogicalUnitProtocol

__all__ = ["Target"]


@dataclass(frozen=True, slots=True)
class Target:
    """One target node. `allowed_initiators` None admits every initiator name."""

    name: str
    luns: Mapping[int, LogicalUnitProtocol]
    alias: str = ""
    portal_group_tag: int = 1
    allowed_initiators: frozenset[str] | None = None
    chap: ChapCredentials | None = None
    mutual_chap: ChapCredentials | None = None
    lun_labels: Mapping[int, str] = field(default_factory=dict)

    def admits(self, initiator_name: str) -> bool:
        return self.allowed_initiators is None or initiator_name in self.allowed_initiators
