"""Per-slice command policy: decisions over the real command table, config parsing, records."""

from __future__ import annotations

import pytest

from sgguard.errors import InputError
from sgguard.policy import DEFAULT_DENY_EFFECTS, Policy, Refusal, Verdict, parse_opkey
from sgguard.scsi import table
from sgguard.scsi.model import CommandDef, Effect


def row(opcode: int, sa: int | None = None) -> CommandDef:
    found = table.lookup(opcode, sa)
    assert found is not None, f"no table row {opcode:#x}/{sa}"
    return found


READ_10 = 0x28
WRITE_10 = 0x2A
WRITE_BUFFER = 0x3B
FORMAT_UNIT = 0x04
INQUIRY = 0x12
UNMAP = 0x42


def test_policy_default_allows_emulated_media_commands() -> None:
    p = Policy()
    for op in (READ_10, WRITE_10, UNMAP, FORMAT_UNIT, INQUIRY):
        assert p.decide(row(op), emulated=True).allowed, hex(op)


def test_policy_default_refuses_what_is_not_emulated() -> None:
    d = Policy().decide(row(WRITE_BUFFER), emulated=False)
    assert not d.allowed and "not confined" in d.rule and "FIRMWARE" in d.rule
    assert (d.sense_key, d.asc, d.ascq) == (0x5, 0x20, 0x00)


def test_policy_default_refuses_dangerous_effects_even_when_emulated() -> None:
    for op in (0x85, 0xB5, 0x3B):  # ATA PASS-THROUGH (16), SECURITY PROTOCOL OUT, WRITE BUFFER
        r = row(op)
        assert r.effects & DEFAULT_DENY_EFFECTS, r.name
        d = Policy().decide(r, emulated=True)
        assert not d.allowed and d.rule.startswith("deny-list effect"), r.name


def test_policy_vendor_specific_opcodes_are_refused() -> None:
    for op in (0xC0, 0xD5, 0xFF):
        d = Policy().decide(row(op), emulated=False)
        assert not d.allowed


def test_policy_read_only_beats_allow_lists() -> None:
    p = Policy(read_only=True, allow_opcodes=frozenset({WRITE_10}))
    d = p.decide(row(WRITE_10), emulated=True)
    assert not d.allowed and d.rule == "read-only slice"
    assert (d.sense_key, d.asc, d.ascq) == (0x7, 0x27, 0x00)
    assert p.decide(row(READ_10), emulated=True).allowed
    assert not p.decide(row(UNMAP), emulated=True).allowed  # erases


def test_policy_deny_list_by_opcode_and_service_action() -> None:
    p = Policy(deny_opcodes=frozenset({UNMAP, (0x9E, 0x12)}))
    assert not p.decide(row(UNMAP), emulated=True).allowed
    assert not p.decide(row(0x9E, 0x12), emulated=True).allowed  # GET LBA STATUS
    assert p.decide(row(0x9E, 0x10), emulated=True).allowed  # READ CAPACITY (16)


def test_policy_allow_list_cannot_enable_a_command_without_emulation() -> None:
    p = Policy(allow_opcodes=frozenset({WRITE_BUFFER}))
    assert not p.decide(row(WRITE_BUFFER), emulated=False).allowed


def test_policy_deny_effects() -> None:
    p = Policy(deny_effects=Effect.ERASES)
    assert not p.decide(row(FORMAT_UNIT), emulated=True).allowed
    assert p.decide(row(WRITE_10), emulated=True).allowed


def test_policy_default_deny_with_allow_effects() -> None:
    p = Policy(default=Verdict.DENY, allow_effects=Effect.READS_MEDIA)
    assert p.decide(row(READ_10), emulated=True).allowed
    assert p.decide(row(INQUIRY), emulated=True).allowed  # no effects: always allowed
    d = p.decide(row(WRITE_10), emulated=True)
    assert not d.allowed and d.rule.startswith("default deny")


def test_policy_unknown_row() -> None:
    assert not Policy().decide(None, emulated=True).allowed


def test_policy_from_mapping() -> None:
    p = Policy.from_mapping(
        {
            "deny": ["0x42", "0x9e/0x12", 0x3B],
            "allow": [],
            "deny_effects": ["erases", "FIRMWARE"],
            "read_only": True,
            "default": "deny",
        }
    )
    assert p.deny_opcodes == frozenset({0x42, (0x9E, 0x12), 0x3B})
    assert p.deny_effects == Effect.ERASES | Effect.FIRMWARE
    assert p.read_only and p.default is Verdict.DENY
    assert Policy.from_mapping({}).deny_effects == DEFAULT_DENY_EFFECTS


@pytest.mark.parametrize(
    ("spec", "where"),
    [
        ({"deny": "0x42"}, "policy.deny"),
        ({"deny": ["0x142"]}, "policy.deny"),
        ({"deny": ["0x9e/0x10000"]}, "policy.deny"),
        ({"deny": ["read"]}, "policy.deny"),
        ({"deny_effects": ["EXPLODES"]}, "policy.deny_effects"),
        ({"read_only": "yes"}, "policy.read_only"),
        ({"default": "maybe"}, "policy.default"),
        ({"denied": []}, "policy"),
    ],
)
def test_policy_from_mapping_errors_name_the_key(spec: dict[str, object], where: str) -> None:
    with pytest.raises(InputError) as info:
        Policy.from_mapping(spec)
    assert str(info.value).startswith(where + ":")
    assert "\n" not in str(info.value)


def test_parse_opkey() -> None:
    assert parse_opkey("0x2a") == 0x2A
    assert parse_opkey(" 0x9E/0x12 ") == (0x9E, 0x12)
    with pytest.raises(ValueError):
        parse_opkey("0x100")


def test_refusal_message() -> None:
    rec = Refusal(
        "iqn.i,i,0x1", "iqn.t,t,0x1", 0, "iqn.t/p1", "WRITE BUFFER", 0x3B, None, "why", 5, 0x20, 0
    )
    msg = rec.message()
    assert "WRITE BUFFER (0x3b)" in msg and "iqn.i,i,0x1" in msg and "why" in msg
