"""Operational key negotiation: one table row per RFC 7143 rule."""

from __future__ import annotations

import pytest

from sgguard.iscsi.keys import KEYS, KeyKind, NegotiationError, Negotiator, TargetPreferences

PREFS = TargetPreferences(
    max_burst_length=1048576,
    first_burst_length=262144,
    max_outstanding_r2t=16,
    initial_r2t=False,
    immediate_data=True,
    max_recv_data_segment_length=262144,
)


@pytest.mark.parametrize(
    ("key", "offer", "answer"),
    [
        ("HeaderDigest", "CRC32C,None", "CRC32C"),
        ("HeaderDigest", "None,CRC32C", "None"),
        ("DataDigest", "MD5", "Reject"),
        ("InitialR2T", "Yes", "Yes"),  # OR
        ("InitialR2T", "No", "No"),
        ("ImmediateData", "No", "No"),  # AND
        ("ImmediateData", "Yes", "Yes"),
        ("ImmediateData", "yes", "Reject"),
        ("MaxBurstLength", "262144", "262144"),  # min
        ("MaxBurstLength", "16776192", "1048576"),
        ("MaxBurstLength", "511", "Reject"),
        ("MaxBurstLength", "0x100000", "1048576"),
        ("MaxBurstLength", "abc", "Reject"),
        ("FirstBurstLength", "65536", "65536"),
        ("DefaultTime2Wait", "0", "2"),  # max
        ("DefaultTime2Wait", "10", "10"),
        ("DefaultTime2Retain", "60", "20"),  # min
        ("DefaultTime2Retain", "3601", "Reject"),
        ("MaxOutstandingR2T", "1", "1"),
        ("MaxOutstandingR2T", "0", "Reject"),
        ("ErrorRecoveryLevel", "2", "0"),
        ("MaxConnections", "8", "1"),
        ("DataPDUInOrder", "No", "Yes"),
        ("DataSequenceInOrder", "No", "Yes"),
        ("MaxRecvDataSegmentLength", "65536", "262144"),  # declarative: we declare ours
        ("MaxRecvDataSegmentLength", "100", "Reject"),
        ("OFMarker", "Yes", "No"),
        ("IFMarkInt", "1024", "Reject"),
        ("iSCSIProtocolLevel", "0", "0"),
        ("iSCSIProtocolLevel", "2", "1"),
        ("TaskReporting", "ResponseFence,RFC3720", "RFC3720"),
        ("TaskReporting", "FastAbort", "Reject"),
        ("TargetPortalGroupTag", "1", "Reject"),  # target-only key
        ("TargetAlias", "x", "Reject"),
        ("X-com.microsoft.iSCSI", "1", "NotUnderstood"),
        ("X#foo", "1", "NotUnderstood"),
        ("NoSuchKey", "1", "NotUnderstood"),
    ],
)
def test_negotiate_key_answers(key: str, offer: str, answer: str) -> None:
    neg = Negotiator(PREFS)
    assert neg.respond([(key, offer)]) == [(key, answer)]


@pytest.mark.parametrize(
    "key",
    ["MaxBurstLength", "FirstBurstLength", "InitialR2T", "ImmediateData", "MaxOutstandingR2T"],
)
def test_negotiate_irrelevant_in_discovery(key: str) -> None:
    neg = Negotiator(PREFS, discovery=True)
    assert neg.respond([(key, "1024" if "Length" in key else "Yes")]) == [(key, "Irrelevant")]


def test_negotiate_declarations_without_answer() -> None:
    neg = Negotiator(PREFS)
    assert neg.respond([("InitiatorAlias", "host"), ("SessionType", "Normal")]) == []
    assert neg.declarations() == [("MaxRecvDataSegmentLength", "262144")]
    assert neg.declarations() == []


def test_negotiate_twice_is_protocol_error() -> None:
    neg = Negotiator(PREFS)
    neg.respond([("MaxBurstLength", "4096")])
    with pytest.raises(NegotiationError):
        neg.respond([("MaxBurstLength", "8192")])


def test_negotiate_leading_only_key_refused_in_full_feature() -> None:
    neg = Negotiator(PREFS)
    assert neg.respond([("MaxBurstLength", "4096")], full_feature=True) == [
        ("MaxBurstLength", "Reject")
    ]


def test_negotiated_params_are_consistent() -> None:
    neg = Negotiator(PREFS)
    neg.respond(
        [
            ("MaxBurstLength", "4096"),
            ("FirstBurstLength", "65536"),
            ("MaxRecvDataSegmentLength", "8192"),
            ("HeaderDigest", "CRC32C"),
            ("InitialR2T", "No"),
        ]
    )
    p = neg.params()
    assert p.max_burst_length == 4096
    assert p.first_burst_length == 4096  # never beyond MaxBurstLength
    assert p.initiator_mrdsl == 8192 and p.target_mrdsl == 262144
    assert p.header_digest and not p.data_digest and not p.initial_r2t


def test_key_table_covers_rfc7143_keys() -> None:
    rfc_keys = {
        "HeaderDigest", "DataDigest", "MaxConnections", "SendTargets", "TargetName",
        "InitiatorName", "TargetAlias", "InitiatorAlias", "TargetAddress",
        "TargetPortalGroupTag", "InitialR2T", "ImmediateData", "MaxRecvDataSegmentLength",
        "MaxBurstLength", "FirstBurstLength", "DefaultTime2Wait", "DefaultTime2Retain",
        "MaxOutstandingR2T", "DataPDUInOrder", "DataSequenceInOrder", "ErrorRecoveryLevel",
        "SessionType", "TaskReporting", "iSCSIProtocolLevel", "AuthMethod", "CHAP_A",
        "CHAP_I", "CHAP_C", "CHAP_N", "CHAP_R", "OFMarker", "IFMarker", "OFMarkInt", "IFMarkInt",
    }  # fmt: skip
    assert rfc_keys <= set(KEYS)
    assert all(isinstance(k.kind, KeyKind) for k in KEYS.values())
