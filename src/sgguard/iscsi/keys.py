"""Login and text negotiation: one table of every key and how it is negotiated.

Owns the operational key table of RFC 7143 13 (plus RFC 7143 13.24-13.26
iSCSIProtocolLevel, TaskReporting and the obsoleted marker keys, and the
extension keys real initiators send: `X-...`, `X#...`, e.g. Microsoft's
`X-com.microsoft.*`, answered NotUnderstood per RFC 7143 6.2), the rules that
combine an initiator's offer with the target's value (boolean AND/OR, numeric
minimum/maximum with ranges, list selection, declarative keys, Irrelevant
and Reject answers, RFC 7143 6.2), and the typed result `SessionParams`.

Security keys (AuthMethod, CHAP_*) are listed so the table is complete, but the
login state machine (`sgguard.iscsi.connection`) answers them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

__all__ = [
    "KEYS",
    "KeyDef",
    "KeyKind",
    "NegotiationError",
    "Negotiator",
    "SessionParams",
    "TargetPreferences",
    "parse_number",
]


class KeyKind(enum.Enum):
    """How a key's result is computed (RFC 7143 6.2.1, 6.2.2)."""

    BOOLEAN_AND = "and"
    BOOLEAN_OR = "or"
    NUMBER_MIN = "min"
    NUMBER_MAX = "max"
    LIST = "list"
    DECLARATIVE = "declarative"
    NUMBER_DECLARATIVE = "numeric-declarative"
    SECURITY = "security"
    OBSOLETE = "obsolete"


class Sender(enum.Enum):
    INITIATOR = "initiator"
    TARGET = "target"
    BOTH = "both"


@dataclass(frozen=True, slots=True)
class KeyDef:
    """One row of the key table."""

    name: str
    kind: KeyKind
    default: str
    low: int = 0
    high: int = 0
    values: tuple[str, ...] = ()
    sender: Sender = Sender.BOTH
    leading_only: bool = False  # LO: only on the leading connection, never in FFP
    initialize_only: bool = False  # IO: only in the login phase
    irrelevant_in_discovery: bool = False
    constant_answer: str | None = None  # obsolete keys: the fixed reply


_K = KeyKind
KEYS: dict[str, KeyDef] = {
    k.name: k
    for k in (
        # RFC 7143 13.1 HeaderDigest and DataDigest
        KeyDef("HeaderDigest", _K.LIST, "None", values=("None", "CRC32C"), initialize_only=True),
        KeyDef("DataDigest", _K.LIST, "None", values=("None", "CRC32C"), initialize_only=True),
        # RFC 7143 13.2 MaxConnections
        KeyDef(
            "MaxConnections",
            _K.NUMBER_MIN,
            "1",
            1,
            65535,
            leading_only=True,
            irrelevant_in_discovery=True,
        ),
        # RFC 7143 13.3 SendTargets (a text command, handled by the connection)
        KeyDef("SendTargets", _K.DECLARATIVE, "", sender=Sender.INITIATOR),
        # RFC 7143 13.4-13.9 names, aliases, addresses, portal group tag
        KeyDef("TargetName", _K.DECLARATIVE, "", sender=Sender.INITIATOR, initialize_only=True),
        KeyDef("InitiatorName", _K.DECLARATIVE, "", sender=Sender.INITIATOR, initialize_only=True),
        KeyDef("TargetAlias", _K.DECLARATIVE, "", sender=Sender.TARGET),
        KeyDef("InitiatorAlias", _K.DECLARATIVE, "", sender=Sender.INITIATOR),
        KeyDef("TargetAddress", _K.DECLARATIVE, "", sender=Sender.TARGET),
        KeyDef(
            "TargetPortalGroupTag",
            _K.NUMBER_DECLARATIVE,
            "1",
            0,
            65535,
            sender=Sender.TARGET,
            initialize_only=True,
        ),
        # RFC 7143 13.10-13.20 operational keys
        KeyDef(
            "InitialR2T",
            _K.BOOLEAN_OR,
            "Yes",
            values=("Yes", "No"),
            leading_only=True,
            irrelevant_in_discovery=True,
        ),
        KeyDef(
            "ImmediateData",
            _K.BOOLEAN_AND,
            "Yes",
            values=("Yes", "No"),
            leading_only=True,
            irrelevant_in_discovery=True,
        ),
        KeyDef("MaxRecvDataSegmentLength", _K.NUMBER_DECLARATIVE, "8192", 512, (1 << 24) - 1),
        KeyDef(
            "MaxBurstLength",
            _K.NUMBER_MIN,
            "262144",
            512,
            (1 << 24) - 1,
            leading_only=True,
            irrelevant_in_discovery=True,
        ),
        KeyDef(
            "FirstBurstLength",
            _K.NUMBER_MIN,
            "65536",
            512,
            (1 << 24) - 1,
            leading_only=True,
            irrelevant_in_discovery=True,
        ),
        KeyDef("DefaultTime2Wait", _K.NUMBER_MAX, "2", 0, 3600, leading_only=True),
        KeyDef("DefaultTime2Retain", _K.NUMBER_MIN, "20", 0, 3600, leading_only=True),
        KeyDef(
            "MaxOutstandingR2T",
            _K.NUMBER_MIN,
            "1",
            1,
            65535,
            leading_only=True,
            irrelevant_in_discovery=True,
        ),
        KeyDef(
            "DataPDUInOrder",
            _K.BOOLEAN_OR,
            "Yes",
            values=("Yes", "No"),
            leading_only=True,
            irrelevant_in_discovery=True,
        ),
        KeyDef(
            "DataSequenceInOrder",
            _K.BOOLEAN_OR,
            "Yes",
            values=("Yes", "No"),
            leading_only=True,
            irrelevant_in_discovery=True,
        ),
        KeyDef("ErrorRecoveryLevel", _K.NUMBER_MIN, "0", 0, 2, leading_only=True),
        KeyDef(
            "SessionType",
            _K.DECLARATIVE,
            "Normal",
            values=("Discovery", "Normal"),
            sender=Sender.INITIATOR,
            leading_only=True,
            initialize_only=True,
        ),
        # RFC 7143 13.24 iSCSIProtocolLevel (RFC 7144), 13.23 TaskReporting
        KeyDef("iSCSIProtocolLevel", _K.NUMBER_MIN, "0", 0, 31, leading_only=True),
        KeyDef(
            "TaskReporting",
            _K.LIST,
            "RFC3720",
            values=("RFC3720", "ResponseFence", "FastAbort"),
            leading_only=True,
            irrelevant_in_discovery=True,
        ),
        # RFC 7143 13.26 obsoleted keys: markers answered with fixed values
        KeyDef("OFMarker", _K.OBSOLETE, "No", constant_answer="No"),
        KeyDef("IFMarker", _K.OBSOLETE, "No", constant_answer="No"),
        KeyDef("OFMarkInt", _K.OBSOLETE, "", constant_answer="Reject"),
        KeyDef("IFMarkInt", _K.OBSOLETE, "", constant_answer="Reject"),
        # RFC 7143 12: security keys (answered by the login state machine)
        KeyDef(
            "AuthMethod",
            _K.SECURITY,
            "None",
            values=("None", "CHAP", "KRB5", "SRP", "SPKM1", "SPKM2"),
        ),
        KeyDef("CHAP_A", _K.SECURITY, ""),
        KeyDef("CHAP_I", _K.SECURITY, ""),
        KeyDef("CHAP_C", _K.SECURITY, ""),
        KeyDef("CHAP_N", _K.SECURITY, ""),
        KeyDef("CHAP_R", _K.SECURITY, ""),
    )
}

# Keys whose values are not answered even when offered (declarations).
_NO_ANSWER = frozenset({"InitiatorName", "InitiatorAlias", "TargetName", "SessionType"})


class NegotiationError(ValueError):
    """A negotiation the login must fail: the key named broke an RFC rule."""


def parse_number(value: str) -> int:
    """RFC 7143 6.1 numerical values: decimal or 0x-hex."""
    v = value.strip()
    if v[:2] in ("0x", "0X"):
        return int(v[2:], 16)
    if not v.isdigit():
        raise ValueError(value)
    return int(v)


@dataclass(frozen=True, slots=True)
class TargetPreferences:
    """The target's side of every negotiable key."""

    header_digest: tuple[str, ...] = ("None", "CRC32C")
    data_digest: tuple[str, ...] = ("None", "CRC32C")
    max_connections: int = 1
    initial_r2t: bool = False
    immediate_data: bool = True
    max_recv_data_segment_length: int = 262144
    max_burst_length: int = 1048576
    first_burst_length: int = 262144
    default_time2wait: int = 2
    default_time2retain: int = 20
    max_outstanding_r2t: int = 16
    data_pdu_in_order: bool = True
    data_sequence_in_order: bool = True
    error_recovery_level: int = 0
    protocol_level: int = 1

    def value(self, key: str) -> str:
        v: object = {
            "MaxConnections": self.max_connections,
            "InitialR2T": self.initial_r2t,
            "ImmediateData": self.immediate_data,
            "MaxBurstLength": self.max_burst_length,
            "FirstBurstLength": self.first_burst_length,
            "DefaultTime2Wait": self.default_time2wait,
            "DefaultTime2Retain": self.default_time2retain,
            "MaxOutstandingR2T": self.max_outstanding_r2t,
            "DataPDUInOrder": self.data_pdu_in_order,
            "DataSequenceInOrder": self.data_sequence_in_order,
            "ErrorRecoveryLevel": self.error_recovery_level,
            "iSCSIProtocolLevel": self.protocol_level,
        }[key]
        if isinstance(v, bool):
            return "Yes" if v else "No"
        return str(v)

    def accepts(self, key: str) -> tuple[str, ...]:
        if key == "HeaderDigest":
            return self.header_digest
        if key == "DataDigest":
            return self.data_digest
        if key == "TaskReporting":
            return ("RFC3720",)
        return ()


@dataclass(frozen=True, slots=True)
class SessionParams:
    """The negotiated values a session and connection run with (RFC 7143 13)."""

    header_digest: bool = False
    data_digest: bool = False
    max_connections: int = 1
    initial_r2t: bool = True
    immediate_data: bool = True
    max_burst_length: int = 262144
    first_burst_length: int = 65536
    default_time2wait: int = 2
    default_time2retain: int = 20
    max_outstanding_r2t: int = 1
    data_pdu_in_order: bool = True
    data_sequence_in_order: bool = True
    error_recovery_level: int = 0
    initiator_mrdsl: int = 8192  # what the initiator accepts: bounds our Data-In
    target_mrdsl: int = 8192  # what we declared: bounds the initiator's PDUs
    protocol_level: int = 0


_PARAM_FIELD = {
    "MaxConnections": "max_connections",
    "InitialR2T": "initial_r2t",
    "ImmediateData": "immediate_data",
    "MaxBurstLength": "max_burst_length",
    "FirstBurstLength": "first_burst_length",
    "DefaultTime2Wait": "default_time2wait",
    "DefaultTime2Retain": "default_time2retain",
    "MaxOutstandingR2T": "max_outstanding_r2t",
    "DataPDUInOrder": "data_pdu_in_order",
    "DataSequenceInOrder": "data_sequence_in_order",
    "ErrorRecoveryLevel": "error_recovery_level",
    "iSCSIProtocolLevel": "protocol_level",
}


class Negotiator:
    """Answers an initiator's operational keys over one login (or one text exchange).

    `respond` takes the pairs of one request and returns the reply pairs; the
    accumulated result is `params()`. A key offered twice in one login raises
    `NegotiationError` (RFC 7143 6.2: renegotiation is a protocol error).
    """

    def __init__(self, prefs: TargetPreferences, *, discovery: bool = False) -> None:
        self.prefs = prefs
        self.discovery = discovery
        self.values: dict[str, str] = {}
        self.seen: set[str] = set()
        self.declared_mrdsl = False

    def respond(
        self, pairs: list[tuple[str, str]], *, full_feature: bool = False
    ) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for key, value in pairs:
            if key in self.seen and not full_feature:
                raise NegotiationError(f"key {key} offered twice")
            self.seen.add(key)
            answer = self._answer(key, value, full_feature)
            if answer is not None:
                out.append((key, answer))
        return out

    def _answer(self, key: str, value: str, full_feature: bool) -> str | None:
        kd = KEYS.get(key)
        if kd is None:
            return "NotUnderstood"  # RFC 7143 6.2: unknown and X- / X# keys
        if kd.kind is KeyKind.SECURITY:
            return "Irrelevant"  # only reached outside the security stage
        if value in ("NotUnderstood", "Irrelevant", "Reject"):
            return None  # an answer to something we declared; nothing to reply
        if kd.constant_answer is not None:
            return kd.constant_answer
        if kd.sender is Sender.TARGET:
            return "Reject"
        if full_feature and (kd.leading_only or kd.initialize_only):
            return "Reject"
        if kd.name in _NO_ANSWER or kd.name == "SendTargets":
            self.values[key] = value
            return None
        if self.discovery and kd.irrelevant_in_discovery:
            return "Irrelevant"
        if kd.kind is KeyKind.NUMBER_DECLARATIVE:
            try:
                n = parse_number(value)
            except ValueError:
                return "Reject"
            if not kd.low <= n <= kd.high:
                return "Reject"
            self.values[key] = str(n)
            if key == "MaxRecvDataSegmentLength":
                self.declared_mrdsl = True
                return str(self.prefs.max_recv_data_segment_length)
            return None
        if kd.kind in (KeyKind.BOOLEAN_AND, KeyKind.BOOLEAN_OR):
            if value not in ("Yes", "No"):
                return "Reject"
            ours = self.prefs.value(key) == "Yes"
            theirs = value == "Yes"
            result = (ours and theirs) if kd.kind is KeyKind.BOOLEAN_AND else (ours or theirs)
            text = "Yes" if result else "No"
            self.values[key] = text
            return text
        if kd.kind in (KeyKind.NUMBER_MIN, KeyKind.NUMBER_MAX):
            try:
                n = parse_number(value)
            except ValueError:
                return "Reject"
            if not kd.low <= n <= kd.high:
                return "Reject"
            ours_n = parse_number(self.prefs.value(key))
            r = min(n, ours_n) if kd.kind is KeyKind.NUMBER_MIN else max(n, ours_n)
            self.values[key] = str(r)
            return str(r)
        if kd.kind is KeyKind.LIST:
            accepted = self.prefs.accepts(key)
            for choice in value.split(","):
                if choice in accepted:
                    self.values[key] = choice
                    return choice
            return "Reject"
        return "NotUnderstood"  # pragma: no cover - every kind handled above

    def declarations(self) -> list[tuple[str, str]]:
        """Keys the target must declare if the initiator did not ask (its MRDSL)."""
        if self.declared_mrdsl:
            return []
        self.declared_mrdsl = True
        return [("MaxRecvDataSegmentLength", str(self.prefs.max_recv_data_segment_length))]

    def params(self, base: SessionParams | None = None) -> SessionParams:
        p = base or SessionParams()
        changes: dict[str, object] = {}
        for key, value in self.values.items():
            if key == "HeaderDigest":
                changes["header_digest"] = value == "CRC32C"
            elif key == "DataDigest":
                changes["data_digest"] = value == "CRC32C"
            elif key == "MaxRecvDataSegmentLength":
                changes["initiator_mrdsl"] = int(value)
            elif key in _PARAM_FIELD:
                fieldname = _PARAM_FIELD[key]
                changes[fieldname] = value == "Yes" if value in ("Yes", "No") else int(value)
        changes["target_mrdsl"] = (
            self.prefs.max_recv_data_segment_length if self.declared_mrdsl else p.target_mrdsl
        )
        p = replace(p, **changes)  # type: ignore[arg-type]
        if p.first_burst_length > p.max_burst_length:
            p = replace(p, first_burst_length=p.max_burst_length)
        return p
