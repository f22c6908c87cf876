"""What an iSCSI target node offers: its name, LUN map, portal group, ACL and CHAP secrets.

Owns `Target` (one iSCSI target node, RFC 7143 4.2.7: a name, a target portal
group tag, a map LUN -> logical unit, the initiators it admits and its CHAP
credentials) and REPORT LUNS generated from the LUN map (SPC-4 6.33, SAM-5 4.7
LUN formats), which the transport answers for every LUN so the list is the one
the target really serves.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field

from sgguard.iscsi.chap import ChapCredentials
from sgguard.iscsi.pdu import encode_lun
from sgguard.target.api import LogicalUnitProtocol

__all__ = ["Target", "report_luns_data"]


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


def report_luns_data(luns: list[int] | tuple[int, ...]) -> bytes:
    """SPC-4 6.33 REPORT LUNS parameter data: length header and one 8-byte LUN each."""
    body = b"".join(encode_lun(n) for n in sorted(luns))
    return struct.pack(">II", len(body), 0) + body
