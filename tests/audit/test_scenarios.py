"""Each finding class on real guest captures (6.1, 6.12) plus scenario overlays: exact findings."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from sgguard.audit.analysis import Report, analyze
from sgguard.audit.hostfs import RootedFS
from sgguard.audit.hostview import HostView, NodeKind
from sgguard.audit.policy import KernelPolicy
from sgguard.audit.reader import _Reader, read_host

from .conftest import FIXTURES

POLICY = KernelPolicy()
Tree = Callable[[str], Path]
SDA = "whole disk sda (QEMU QEMU HARDDISK, SCSI 0:0:0:0)"
SDB = "whole disk sdb (QEMU QEMU HARDDISK, SCSI 0:0:1:0)"
SRV = "host filesystem /srv/data (ext4 on /dev/sda3)"
VM_A = "vm tenant-a (pid 4101, qemu-system-x86)"
VM_B = "vm tenant-b (pid 4102, qemu-system-x86)"


def audit(root: Path) -> Report:
    return analyze(read_host(root), POLICY)


def rows(report: Report) -> list[tuple[str, str, str, str, str]]:
    return [
        (f.rule.id, f.severity.label, str(f.principal), f.node, f.access) for f in report.findings
    ]


@pytest.mark.parametrize("base", ["linux-6.1", "linux-6.12"])
def test_audit_real_capture_reads_topology(base: str) -> None:
    facts = read_host(FIXTURES / base)
    assert facts.kernel is not None and facts.kernel.release.startswith(base[6:] + ".")
    blocks = {b.name: b for b in facts.blocks}
    assert (
        blocks["sda1"].start,
        blocks["sda1"].size,
        blocks["sda1"].partition,
        blocks["sda1"].parent,
    ) == (
        2048,
        32768,
        1,
        "sda",
    )
    assert (blocks["sda3"].start, blocks["sda3"].size) == (67584, 40960)
    assert blocks["dm-0"].dm_name == "tenant-a" and blocks["dm-0"].dm_uuid == "SGGUARD-LAB-tenant-a"
    assert blocks["dm-0"].slaves == ("sdb",) and blocks["sdb"].holders == ("dm-0", "dm-1")
    assert blocks["sr0"].removable is True and blocks["sda"].removable is False
    scsi = {s.hctl: s for s in facts.scsi}
    assert [(scsi[h].device_type, scsi[h].block, scsi[h].sg) for h in sorted(scsi)] == [
        (0, ("sda",), "sg0"),
        (0, ("sdb",), "sg1"),
        (5, ("sr0",), "sg2"),
    ]
    assert scsi["0:0:0:0"].sg_dev == (21, 0)
    view = HostView(facts)
    places = {
        p: view.place_of_path(p)
        for p in (
            "/dev/sda",
            "/dev/sda2",
            "/dev/sg1",
            "/dev/mapper/tenant-a",
            "/dev/mapper/shared-whole",
            "/dev/vda",
        )
    }
    assert {p: (v.kind, v.disk, v.start, v.size) if v else None for p, v in places.items()} == {
        "/dev/sda": (NodeKind.DISK, "sda", 0, 131072),
        "/dev/sda2": (NodeKind.PARTITION, "sda", 34816, 32768),
        "/dev/sg1": (NodeKind.SG, "sdb", 0, 65536),
        "/dev/mapper/tenant-a": (NodeKind.DM_PARTIAL, "sdb", 2048, 32768),
        "/dev/mapper/shared-whole": (NodeKind.DM_WHOLE, "sdb", 0, 65536),
        "/dev/vda": None,
    }
    assert [(m.source, m.target) for m in facts.mounts if m.source.startswith("/dev/")] == [
        ("/dev/sda3", "/srv/data")
    ]


@pytest.mark.parametrize("base", ["linux-6.1", "linux-6.12"])
def test_audit_stock_guest_is_clean(base: str) -> None:
    report = audit(FIXTURES / base)
    assert report.findings == ()
    assert "no SCSI devices found" not in report.notes
    assert [s.source for s in report.skipped] == ["container device rules"]


def test_audit_clean_vms_on_partitions_without_passthrough(tree: Tree) -> None:
    report = audit(tree("clean-vms-6.12"))
    assert report.findings == ()
    assert {d.name for d in report.facts.domains} == {"web", "db"}
    assert len(report.facts.processes) == 2


def test_audit_two_vms_on_partitions_vulnerable_kernel_cross_tenant(tree: Tree) -> None:
    report = audit(tree("two-vms-3.2"))
    assert rows(report) == [
        ("SGG001", "critical", VM_A, "/dev/sda1", "rw"),
        ("SGG001", "critical", VM_B, "/dev/sda2", "rw"),
    ]
    a, b = report.findings
    assert a.reach == SDA and b.reach == SDA
    assert a.reaches == (f"{VM_B}: /dev/sda2 (sda2 on sda (sectors 34816-67583))", SRV)
    assert b.reaches == (f"{VM_A}: /dev/sda1 (sda1 on sda (sectors 2048-34815))", SRV)
    assert "blk_verify_command" in a.why and "kernel 3.2.1" in a.why
    assert any(x.startswith("UNMAP (42h") for x in a.aliases)
    assert any(x.startswith("ATA PASS-THROUGH (12) (A1h") for x in a.aliases)
    assert "sgguard serve" in a.remedy and "upgrade the kernel" in a.remedy


def test_audit_two_vms_on_partitions_6_1_blocked_info(tree: Tree) -> None:
    report = audit(tree("two-vms-6.1"))
    assert rows(report) == [
        ("SGG004", "info", VM_A, "/dev/sda1", "rw"),
        ("SGG004", "info", VM_B, "/dev/sda2", "rw"),
    ]
    f = report.findings[0]
    assert f.reach == "own slice only: sda1 on sda (sectors 2048-34815)"
    assert f.sends == () and f.reaches == ()
    assert "ENOTTY" in f.why and "cannot get SG_IO version number" in f.why
    assert "sgguard serve" in f.remedy


@pytest.mark.parametrize(
    "release", ["3.2.1", "4.19.0-27-amd64", "6.1.0-56-amd64", "6.12.117+deb12-amd64"]
)
def test_audit_rawio_qemu_on_partition_critical_every_era(tree: Tree, release: str) -> None:
    root = tree("rawio-6.12")
    (root / "proc/sys/kernel/osrelease").write_text(release + "\n")
    report = audit(root)
    assert rows(report) == [
        ("SGG002", "critical", "vm legacy-db (pid 6101, qemu-system-x86)", "/dev/sda1", "rw"),
    ]
    f = report.findings[0]
    assert f.capabilities == ("CAP_SYS_RAWIO",) and f.reach == SDA and f.reaches == (SRV,)
    assert "rawio" in f.remedy


def test_audit_disk_group_user_read_only_whole_disk_alias_hazard(tree: Tree) -> None:
    report = audit(tree("disk-group-ro-6.12"))
    assert rows(report) == [("SGG005", "high", "group disk (members alice)", "/dev/sda", "ro")]
    f = report.findings[0]
    # Named as the disk and as the kernel's (CD burner) filter knows them.
    for hazard in (
        "START STOP UNIT (1Bh)",
        "UNMAP (42h, admitted as READ SUB-CHANNEL)",
        "SANITIZE (48h, admitted as PLAY AUDIO TRACK INDEX)",
    ):
        assert hazard in f.aliases
    assert not any(a.startswith(("WRITE (10)", "ATA PASS-THROUGH")) for a in f.aliases)
    assert f.reaches == (SRV,) and "scsi_cmd_allowed" in f.why


def test_audit_disk_group_with_members_on_stock_udev_modes(tree: Tree) -> None:
    report = audit(tree("disk-group-rw-6.1"))
    group = "group disk (members alice, bob)"
    assert rows(report) == [
        ("SGG003", "critical", group, "/dev/sda", "rw"),
        ("SGG008", "critical", group, "/dev/sg0", "rw"),
        ("SGG008", "critical", group, "/dev/sg1", "rw"),
        ("SGG003", "high", group, "/dev/mapper/shared-whole", "rw"),
        ("SGG003", "high", group, "/dev/sdb", "rw"),
        ("SGG008", "low", group, "/dev/sg2", "rw"),  # the CD-ROM's sg node
    ]
    assert "CD/DVD drive (MMC)" in report.findings[-1].why
    shared = report.findings[0]
    assert shared.reaches == (
        "vm tenant-a (pid 7101, qemu-system-x86): /dev/sda1 (sda1 on sda (sectors 2048-34815))",
        "vm tenant-b (pid 7102, qemu-system-x86): /dev/sda2 (sda2 on sda (sectors 34816-67583))",
        SRV,
    )
    assert any("ATA PASS-THROUGH (12)" in a for a in shared.aliases)


def test_audit_world_accessible_and_acl_user(tree: Tree) -> None:
    report = audit(tree("world-6.12"))
    assert rows(report) == [
        ("SGG007", "critical", "world everyone (mode 0666)", "/dev/sdb", "rw"),
        ("SGG008", "critical", "user alice (uid 1000)", "/dev/sg0", "rw"),
        ("SGG007", "high", "world everyone (mode 0664)", "/dev/sg2", "ro"),
    ]
    assert report.findings[0].reach == SDB


def test_audit_sgio_unfiltered_on_mainline(tree: Tree) -> None:
    report = audit(tree("sgio-unfiltered-6.12"))
    assert rows(report) == [
        ("SGG006", "medium", "vm san (libvirt /etc/libvirt/qemu/san.xml)", "/dev/sdb", "rw"),
    ]
    assert "no queue/unpriv_sgio" in report.findings[0].why


def test_audit_partial_lv_vulnerable_and_whole_map_shared(tree: Tree) -> None:
    report = audit(tree("dm-3.2"))
    assert rows(report) == [
        (
            "SGG001",
            "critical",
            "vm lv-tenant (pid 8101, qemu-system-x86)",
            "/dev/mapper/tenant-a",
            "rw",
        ),
        (
            "SGG003",
            "critical",
            "vm whole-tenant (pid 8102, qemu-system-x86)",
            "/dev/mapper/shared-whole",
            "rw",
        ),
    ]
    assert report.findings[0].reach == SDB
    sdb = next(d for d in report.disks if d.disk == "sdb")
    assert (sdb.hctl, sdb.sectors, sdb.sg) == ("0:0:1:0", 65536, "sg1")
    assert sdb.slices == (
        "/dev/mapper/tenant-a: dm-partial dm-0 on sdb (sectors 2048-34815)",
        "/dev/mapper/shared-whole: dm-whole whole disk sdb",
    )
    assert sdb.users == (
        "vm lv-tenant (pid 8101, qemu-system-x86): /dev/mapper/tenant-a (rw, scsi-block)",
        "vm whole-tenant (pid 8102, qemu-system-x86): /dev/mapper/shared-whole (rw, scsi-hd)",
    )
    assert report.findings[1].reaches == (
        "vm lv-tenant (pid 8101, qemu-system-x86): /dev/mapper/tenant-a (dm-0 on sdb (sectors 2048-34815))",
    )


def test_audit_container_device_rule_on_partition(tree: Tree) -> None:
    report = audit(tree("container-3.2"))
    assert rows(report) == [
        (
            "SGG001",
            "critical",
            "container /docker/3f2a9c0e1b7d (cgroup v1 devices.list)",
            "/dev/sda1",
            "rw",
        ),
    ]
    assert report.findings[0].reaches == (SRV,)
    assert report.skipped == ()


def test_audit_cgroup_v2_is_named_as_unreadable(tree: Tree) -> None:
    root = tree("two-vms-6.1")
    (root / "sys/fs/cgroup").mkdir(parents=True, exist_ok=True)
    (root / "sys/fs/cgroup/cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    report = audit(root)
    assert [(s.source, s.reason) for s in report.skipped] == [
        (
            "container device rules",
            "cgroup v2 enforces device access with BPF programs, which cannot be read from files",
        ),
    ]


def test_audit_bad_input_is_named_skipped_source(tree: Tree) -> None:
    report = audit(tree("bad-input-6.1"))
    assert [(s.source, s.reason) for s in report.skipped] == [
        ("libvirt XML /etc/libvirt/qemu/broken.xml", "XML not well-formed at line 5 column 2"),
        ("/proc/4300/cmdline", "Is a directory"),
        ("/proc/4301/status", "status Uid line malformed: 'Uid:\\tnot-a-number'"),
        ("container device rules", "no cgroup filesystem at /sys/fs/cgroup"),
    ]
    # The process whose status was unreadable is still audited from its command line.
    assert rows(report) == [
        ("SGG004", "info", "vm odd (pid 4301, qemu-system-x86)", "/dev/sda1", "rw")
    ]


def test_audit_missing_sources_degrade(tmp_path: Path) -> None:
    report = audit(tmp_path)
    assert report.findings == ()
    assert "no SCSI devices found" in report.notes
    sources = [s.source for s in report.skipped]
    assert sources[:2] == ["/sys/class/block", "/proc/sys/kernel/osrelease"]
    assert "capture manifest sgguard-capture.json" in sources and "/etc/passwd" in sources


def test_audit_corrupt_manifest_and_sysfs_values(tree: Tree) -> None:
    root = tree("two-vms-3.2")
    (root / "sgguard-capture.json").write_text(
        '{"format": "sgguard-capture", "nodes": [{"path": "/dev/sda"}]}'
    )
    dev = next((root / "sys/devices").rglob("sda2/dev"))
    dev.write_text("garbage\n")
    report = audit(root)
    skipped = {s.source: s.reason for s in report.skipped}
    assert skipped["capture manifest sgguard-capture.json"] == "nodes[0] malformed: 'kind'"
    assert skipped["/sys/class/block/sda2"] == "not MAJOR:MINOR: 'garbage'"
    # Without sda2 in sysfs the path still names nothing: tenant-a's finding stays, tenant-b has none.
    assert rows(report) == [("SGG001", "critical", VM_A, "/dev/sda1", "rw")]


def test_audit_rhel_unpriv_sgio_unfiltered_is_high(tree: Tree) -> None:
    root = tree("sgio-unfiltered-6.12")
    (root / "proc/sys/kernel/osrelease").write_text("3.10.0-1160.el7.x86_64\n")
    queue = next((root / "sys/devices").rglob("block/sdb/queue"))
    (queue / "unpriv_sgio").write_text("1\n")
    report = audit(root)
    assert report.facts.kernel is not None and report.facts.kernel.unpriv_sgio
    assert rows(report) == [
        ("SGG006", "high", "vm san (libvirt /etc/libvirt/qemu/san.xml)", "/dev/sdb", "rw"),
    ]
    assert "lifts the opcode filter for every opener of sdb" in report.findings[0].why


def test_audit_kernel_unknown_cannot_decide_slices(tree: Tree) -> None:
    root = tree("two-vms-3.2")
    (root / "proc/sys/kernel/osrelease").unlink()
    report = audit(root)
    assert rows(report) == [
        ("SGG009", "info", VM_A, "/dev/sda1", "rw"),
        ("SGG009", "info", VM_B, "/dev/sda2", "rw"),
    ]
    assert report.skipped[0].source == "/proc/sys/kernel/osrelease"


def test_audit_cdrom_group_on_optical_drive_is_low(tree: Tree) -> None:
    root = tree("disk-group-ro-6.12")
    (root / "etc/group").write_text("root:x:0:\ndisk:x:6:\ncdrom:x:24:alice\n")
    report = audit(root)
    assert rows(report) == [("SGG003", "low", "group cdrom (members alice)", "/dev/sr0", "rw")]
    assert report.findings[0].reach == "whole disk sr0 (QEMU QEMU CD-ROM, SCSI 0:0:2:0)"


def test_audit_libvirt_live_status_xml_wins_and_defined_lun_on_partition(tree: Tree) -> None:
    root = tree("sgio-unfiltered-6.12")
    (root / "etc/libvirt/qemu/san.xml").unlink()
    defined = (FIXTURES / "scenarios/two-vms-6.1/etc/libvirt/qemu/tenant-a.xml").read_text()
    (root / "etc/libvirt/qemu/tenant-a.xml").write_text(defined.replace("/dev/sda1", "/dev/sda2"))
    run = root / "run/libvirt/qemu"
    run.mkdir(parents=True)
    (run / "tenant-a.xml").write_text(
        f"<domstatus state='running' reason='booted' pid='4101'>\n{defined}</domstatus>\n"
    )
    report = audit(root)
    (dom,) = report.facts.domains
    assert dom.running and dom.origin == "/run/libvirt/qemu/tenant-a.xml"
    assert rows(report) == [
        (
            "SGG004",
            "info",
            "vm tenant-a (libvirt /run/libvirt/qemu/tenant-a.xml)",
            "/dev/sda1",
            "rw",
        ),
    ]
    assert "device='lun'" in report.findings[0].why


def test_audit_container_partition_on_fixed_kernel_is_quiet(tree: Tree) -> None:
    root = tree("container-3.2")
    (root / "proc/sys/kernel/osrelease").write_text("6.1.0-56-amd64\n")
    report = audit(root)
    assert report.findings == ()
    assert any(n.startswith("container capabilities are not read") for n in report.notes)


def test_audit_without_dm_table_places_maps_by_sysfs_sizes(tree: Tree) -> None:
    root = tree("dm-3.2")
    (root / "dmsetup-table.txt").unlink()
    report = audit(root)
    assert ("capture dmsetup-table.txt", "No such file or directory") in [
        (s.source, s.reason) for s in report.skipped
    ]
    view = HostView(report.facts)
    partial = view.place_of_path("/dev/mapper/tenant-a")
    whole = view.place_of_path("/dev/mapper/shared-whole")
    assert partial is not None and whole is not None
    assert (partial.kind, partial.start, partial.size) == (NodeKind.DM_PARTIAL, None, 32768)
    assert (whole.kind, whole.start) == (NodeKind.DM_WHOLE, 0)
    assert [r[0] for r in rows(report)] == ["SGG001", "SGG003"]
    assert report.findings[1].reaches == (
        "vm lv-tenant (pid 8101, qemu-system-x86): /dev/mapper/tenant-a (dm-0 on sdb (sectors unknown))",
    )


BY_ID = "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_SGGLAB0001-part1"


def test_audit_source_through_dev_disk_by_id_symlink(tree: Tree) -> None:
    root = tree("sgio-unfiltered-6.12")
    xml = root / "etc/libvirt/qemu/san.xml"
    xml.write_text(
        xml.read_text().replace("/dev/sdb", BY_ID).replace(" sgio='unfiltered'", " rawio='yes'")
    )
    manifest = root / "sgguard-capture.json"
    doc = json.loads(manifest.read_text())
    doc["nodes"].append(
        {
            "path": BY_ID,
            "kind": "symlink",
            "target": "../../sda1",
            "mode": "0777",
            "uid": 0,
            "gid": 0,
        }
    )
    manifest.write_text(json.dumps(doc))
    report = audit(root)
    assert rows(report) == [
        ("SGG002", "critical", "vm san (libvirt /etc/libvirt/qemu/san.xml)", BY_ID, "rw")
    ]
    assert report.findings[0].reach == SDA


def test_audit_live_symlinks_to_nodes_are_recorded(tmp_path: Path) -> None:
    (tmp_path / "dev/disk/by-id").mkdir(parents=True)
    (tmp_path / "dev/vg0").mkdir()
    (tmp_path / "dev/disk/by-id/wwn-0x5000-part2").symlink_to("../../sdb2")
    (tmp_path / "dev/vg0/lv1").symlink_to("../dm-3")
    r = _Reader(RootedFS(tmp_path))
    links = r.links_to_nodes(
        ["/dev/disk/by-id/wwn-0x5000-part2", "/dev/vg0/lv1", "/dev/root", "/dev/sdb2", "tmpfs"], ()
    )
    assert [(n.path, n.kind, n.target) for n in links] == [
        ("/dev/disk/by-id/wwn-0x5000-part2", "symlink", "../../sdb2"),
        ("/dev/vg0/lv1", "symlink", "../dm-3"),
    ]
    assert r.skipped == []
