"""sgguard.config: the TOML schema, errors naming the key path, building a portal group."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from sgguard.config import (
    build_portal_group,
    default_config,
    ensure_default_image,
    load_config,
    parse_config,
    parse_size_text,
)
from sgguard.errors import InputError
from sgguard.topology import GptPartitionSpec, build_gpt_image, read_layout

GOOD = """
[server]
portals = ["127.0.0.1:3260", "[::1]:3261"]
queue_depth = 32

[discovery]
allowed_initiators = ["iqn.2026-11.test:a"]

[[backing]]
name = "disk0"
path = "disk0.img"

[[backing]]
name = "mem"
memory = "8MiB"

[[slice]]
name = "p1"
backing = "disk0"
select = "name=one"

[[slice]]
name = "m"
backing = "mem"
select = "range=1MiB:4MiB"

[[target]]
name = "iqn.2026-11.test:t1"
chap = { user = "u", secret = "twelve-bytes!" }
  [[target.lun]]
  lun = 0
  slice = "p1"
  policy = { deny = ["0x35"] }
  [[target.lun]]
  lun = 1
  slice = "m"
  read_only = true
"""


def test_config_good_file_builds_a_group(tmp_path: Path) -> None:
    build_gpt_image(tmp_path / "disk0.img", 16 << 20, [GptPartitionSpec(4 << 20, name="one")])
    (tmp_path / "c.toml").write_text(GOOD)
    cfg = load_config(tmp_path / "c.toml")
    assert cfg.server.portals == ("127.0.0.1:3260", "[::1]:3261")
    assert cfg.targets[0].chap is not None and cfg.discovery_initiators == {"iqn.2026-11.test:a"}
    built = build_portal_group(cfg, data_dir=str(tmp_path / "state"))
    try:
        target = built.group.targets["iqn.2026-11.test:t1"]
        assert sorted(target.luns) == [0, 1]
        lu0 = target.luns[0]
        part = read_layout(tmp_path / "disk0.img").partitions[0]
        assert lu0.backend.num_blocks * 512 == part.size_bytes  # type: ignore[attr-defined]
        assert target.luns[1].read_only  # type: ignore[attr-defined]
        assert built.group.discovery_auth is not None
        assert "name=one" in built.descriptions["p1"] or "one" in built.descriptions["p1"]
    finally:
        built.close()


@pytest.mark.parametrize(
    ("patch", "where"),
    [
        (('slice = "p1"\n  policy', 'slice = "nope"\n  policy'), "target[0].lun[0].slice"),
        (('queue_depth = 32', 'queue_depth = 0'), "server.queue_depth"),
        (('queue_depth = 32', 'queue_depth = "x"'), "server.queue_depth"),
        (('portals = ["127.0.0.1:3260", "[::1]:3261"]', 'portals = ["127.0.0.1:99999"]'), "server.portals[0]"),
        (('secret = "twelve-bytes!"', 'secret = "short"'), "target[0].chap.secret"),
        (('name = "iqn.2026-11.test:t1"', 'name = "not-an-iqn"'), "target[0].name"),
        (('backing = "mem"', 'backing = "nope"'), "slice[1].backing"),
        (('memory = "8MiB"', 'memory = "8 parsecs"'), "backing[1].memory"),
        (('read_only = true', 'read_only = "yes"'), "target[0].lun[1].read_only"),
        (('policy = { deny = ["0x35"] }', 'policy = { deny = ["0x335"] }'), "target[0].lun[0].policy.deny"),
        (('[discovery]', '[discovery]\nbogus = 1'), "discovery"),
        (('allowed_initiators = ["iqn.2026-11.test:a"]', 'allowed_initiators = ["bob"]'), "discovery.allowed_initiators[0]"),
    ],
)  # fmt: skip
def test_config_errors_name_the_key_path(
    tmp_path: Path, patch: tuple[str, str], where: str
) -> None:
    text = GOOD.replace(*patch)
    assert text != GOOD
    with pytest.raises(InputError) as exc:
        cfg = parse_config(tomllib.loads(text), base_dir=str(tmp_path))
        build_portal_group(cfg)
    assert where in str(exc.value)


def test_config_duplicate_names_and_missing_targets() -> None:
    with pytest.raises(InputError, match="no \\[\\[target\\]\\]"):
        parse_config({})
    doc = tomllib.loads(GOOD.replace('name = "mem"', 'name = "disk0"'))
    with pytest.raises(InputError, match=r"backing\[1\]\.name"):
        parse_config(doc)


def test_config_bad_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        load_config(tmp_path / "none.toml")
    (tmp_path / "bad.toml").write_text("[[target]\n")
    with pytest.raises(InputError, match="not valid TOML"):
        load_config(tmp_path / "bad.toml")


def test_config_missing_backing_file_is_an_input_error(tmp_path: Path) -> None:
    text = GOOD
    with pytest.raises(InputError, match=r"backing\[0\]\.path"):
        build_portal_group(parse_config(tomllib.loads(text), base_dir=str(tmp_path)))


@pytest.mark.parametrize(
    ("text", "n"), [("4096", 4096), ("64MiB", 64 << 20), ("1G", 1 << 30), (512, 512)]
)
def test_config_sizes(text: object, n: int) -> None:
    assert parse_size_text(text, "x") == n


def test_config_default_image_created_once(tmp_path: Path) -> None:
    image, created = ensure_default_image(tmp_path / "data")
    assert created and image.stat().st_size == 1 << 30
    names = [p.name for p in read_layout(image).partitions]
    assert names == ["part1", "part2"]
    mtime = image.stat().st_mtime_ns
    again, created2 = ensure_default_image(tmp_path / "data")
    assert again == image and not created2 and image.stat().st_mtime_ns == mtime
    cfg = default_config(tmp_path / "data")
    assert [t.name for t in cfg.targets] == [
        "iqn.2026-11.io.sgguard:disk0.part1",
        "iqn.2026-11.io.sgguard:disk0.part2",
    ]
    built = build_portal_group(cfg)
    try:
        sizes = [t.luns[0].backend.num_blocks for t in built.group.targets.values()]  # type: ignore[attr-defined]
        assert all(s > 0 for s in sizes)
    finally:
        built.close()


XCOPY_SITE = """
[[backing]]
name = "mem"
memory = "4MiB"

[[slice]]
name = "a"
backing = "mem"
select = "range=1MiB:1MiB"

[[slice]]
name = "b"
backing = "mem"
select = "range=2MiB:1MiB"

[[slice]]
name = "c"
backing = "mem"
select = "range=3MiB:1MiB"

[[target]]
name = "iqn.2026-11.test:a"
allowed_initiators = ["iqn.2026-11.test:tenant1"]
  [[target.lun]]
  lun = 0
  slice = "a"

[[target]]
name = "iqn.2026-11.test:b"
allowed_initiators = ["iqn.2026-11.test:tenant1"]
  [[target.lun]]
  lun = 0
  slice = "b"

[[target]]
name = "iqn.2026-11.test:c"
allowed_initiators = ["iqn.2026-11.test:tenant2"]
  [[target.lun]]
  lun = 0
  slice = "c"
"""


def _xcopy_one_block(src_naa: bytes, dst_naa: bytes) -> tuple[bytes, bytes]:
    import struct

    def cscd(naa: bytes) -> bytes:
        out = bytearray(32)
        out[0] = 0xE4
        out[4:8] = bytes((0x01, 0x03, 0x00, 16))
        out[8:24] = naa
        out[29:32] = (512).to_bytes(3, "big")
        return bytes(out)

    seg = struct.pack(">BBHHHxxHQQ", 0x02, 0, 0x18, 0, 1, 1, 0, 0)
    cs = cscd(src_naa) + cscd(dst_naa)
    param = struct.pack(">BBHxxxxII", 1, 0, len(cs), len(seg), 0) + cs + seg
    return struct.pack(">BBxxxxxxxxIxx", 0x83, 0x00, len(param)), param


def test_config_extended_copy_only_between_targets_the_initiator_may_use() -> None:
    from sgguard.scsi.sense import decode_sense
    from sgguard.target.api import Nexus, Status

    built = build_portal_group(parse_config(tomllib.loads(XCOPY_SITE), source="site.toml"))
    try:
        units = {n[-1]: t.luns[0] for n, t in built.group.targets.items()}
        mem = units["a"].backend.base  # type: ignore[attr-defined]
        mem.buffer[1 << 20 : (1 << 20) + 512] = b"\x11" * 512
        nexus = Nexus(
            "iqn.2026-11.test:tenant1,i,0x1",
            "iqn.2026-11.test:a,t,0x1",
            0,
            initiator_name="iqn.2026-11.test:tenant1",
        )
        for unit in units.values():
            unit.execute(bytes(6), b"", nexus)  # consume the power-on unit attention
        naa = {k: u.identity.naa for k, u in units.items()}  # type: ignore[attr-defined]
        cdb, param = _xcopy_one_block(naa["a"], naa["b"])
        assert units["a"].execute(cdb, param, nexus).status == Status.GOOD
        assert bytes(mem.buffer[2 << 20 : (2 << 20) + 512]) == b"\x11" * 512
        cdb, param = _xcopy_one_block(naa["a"], naa["c"])
        refused = units["a"].execute(cdb, param, nexus)
        assert refused.status == Status.CHECK_CONDITION
        sense = decode_sense(bytes(refused.sense))
        assert (sense.asc, sense.ascq) == (0x0D, 0x02)  # COPY TARGET DEVICE NOT REACHABLE
        assert bytes(mem.buffer[3 << 20 : (3 << 20) + 512]) == bytes(512)
    finally:
        built.close()
