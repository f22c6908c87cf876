"""`sgguard decode` through a real subprocess, and the kernel oracle CDBs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sgguard.scsi.cdb import UnknownCdb, decode
from sgguard.scsi.table import command_for_cdb

ORACLE = Path("/work/shared/oracle/linux-6.1-sample.jsonl")


def sg(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sgguard", "decode", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_decode_cli_read10_text() -> None:
    p = sg("28 00 00 00 08 00 00 00 08 00")
    assert p.returncode == 0, p.stderr
    assert "READ (10)" in p.stdout and "LBA 2048..2055 (8 blocks)" in p.stdout
    assert "reads media" in p.stdout and "transfer_length = 8" in p.stdout


def test_decode_cli_separators_are_equivalent() -> None:
    a = sg("--json", "28:00:00:00:08:00:00:00:08:00")
    b = sg("--json", "0x2800000008000000 0800")
    assert a.returncode == b.returncode == 0
    assert json.loads(a.stdout) == json.loads(b.stdout)


def test_decode_cli_json_write_same_to_end() -> None:
    p = sg("--json", "93 08 00 00 00 00 00 00 10 00 00 00 00 00 00 00")
    (doc,) = json.loads(p.stdout)
    assert doc["name"] == "WRITE SAME (16)" and doc["names"]["ssc"] == "ERASE (16)"
    assert doc["lba_ranges"] == [{"lba": 4096, "blocks": 0, "to_end": True}]
    assert "erases or unmaps" in doc["effects"]


def test_decode_cli_device_type_mmc_alias() -> None:
    p = sg("--device-type", "mmc", "--json", "42 00 00 00 00 00 00 00 18 00")
    (doc,) = json.loads(p.stdout)
    assert doc["name"] == "READ SUB-CHANNEL" and doc["names"]["sbc"] == "UNMAP"


def test_decode_cli_bad_hex_one_line_exit_2() -> None:
    p = sg("28 0g")
    assert p.returncode == 2
    assert p.stderr.count("\n") == 1 and "argument 1" in p.stderr and "'g'" in p.stderr
    assert "Traceback" not in p.stderr


def test_decode_cli_wrong_length_names_field() -> None:
    p = sg("12 00 00 00")
    assert p.returncode == 2 and "cdb length" in p.stderr and "Traceback" not in p.stderr


def test_decode_cli_reserved_bit_names_byte_and_bit() -> None:
    p = sg("28 00 00 00 00 00 00 00 01 00", "28 00 00 00 00 00 80 00 01 00")
    assert p.returncode == 2
    assert "READ (10)" in p.stdout
    assert "argument 2" in p.stderr and "byte 6 bit 7" in p.stderr


def test_decode_cli_sense() -> None:
    p = sg("--sense", "70 00 05 00 00 00 00 0a 00 00 00 00 24 00 00 cc 00 01")
    assert p.returncode == 0
    assert "INVALID FIELD IN CDB" in p.stdout and "CDB byte 1 bit 4" in p.stdout


def test_decode_cli_nothing_to_decode() -> None:
    p = sg()
    assert p.returncode == 2 and "nothing to decode" in p.stderr


def test_decode_kernel_oracle_cdbs_all_decode() -> None:
    seen = set()
    for line in ORACLE.read_text().splitlines():
        case = json.loads(line)
        if "cdb" in case:
            seen.add(case["cdb"])
    assert len(seen) >= 10
    for text in sorted(seen):
        raw = bytes.fromhex(text)
        obj = decode(raw)
        row = command_for_cdb(raw)
        if isinstance(obj, UnknownCdb):
            # e.g. 9Eh with service action 00h: SERVICE ACTION IN (16) defines no such command
            assert row is None or row.variant() is None or row.variant().layout is None, text  # type: ignore[union-attr]
        else:
            assert row is not None and row.variant().layout == type(obj).__name__  # type: ignore[union-attr]


def test_decode_cli_unmap_worst_case_without_data_out() -> None:
    p = sg("42 00 00 00 00 00 00 00 18 00")
    assert p.returncode == 0 and "worst case" in p.stdout


def test_decode_cli_bad_data_out_names_option() -> None:
    p = sg("42 00 00 00 00 00 00 00 28 00", "--data-out", "0026 0021 00000000")
    assert p.returncode == 2 and p.stderr.startswith("sgguard decode: error: --data-out: field")


def test_decode_cli_one_byte_per_argument_is_one_cdb() -> None:
    joined = sg("--json", "28", "00", "00", "00", "10", "00", "00", "00", "08", "00")
    single = sg("--json", "28000000100000000800")
    assert joined.returncode == 0, joined.stderr
    assert json.loads(joined.stdout) == json.loads(single.stdout)
    assert len(json.loads(joined.stdout)) == 1


def test_decode_cli_multi_byte_arguments_stay_separate_cdbs() -> None:
    result = sg("--json", "000000000000", "120000002400")
    assert result.returncode == 0, result.stderr
    assert [d["opcode"] for d in json.loads(result.stdout)] == [0x00, 0x12]
