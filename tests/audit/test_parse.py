"""Parsers of the audit's input formats: QEMU command lines, libvirt XML, dm tables, ACLs."""

from __future__ import annotations

import json
import os
import stat
import struct
from pathlib import Path

import pytest

from sgguard.audit import parse
from sgguard.audit.facts import AclTag
from sgguard.audit.hostfs import RootedFS
from sgguard.audit.reader import _Reader

# The <disk device='lun'> example of libvirt's domain XML documentation (formatdomain).
LIBVIRT_DOC_LUN = """<domain type='kvm'>
  <name>doc-example</name>
  <devices>
    <disk type='block' device='lun'>
      <driver name='qemu' type='raw'/>
      <source dev='/dev/sda'>
        <reservations managed='no'>
          <source type='unix' path='/path/to/qemu-pr-helper' mode='client'/>
        </reservations>
      </source>
      <target dev='sda' bus='scsi'/>
      <address type='drive' controller='0' bus='0' target='3' unit='0'/>
    </disk>
    <disk type='block' device='lun' rawio='yes' sgio='unfiltered'>
      <source dev='/dev/sdb1'/>
      <target dev='sdb' bus='scsi'/>
      <shareable/>
      <readonly/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/var/lib/libvirt/images/domain.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
  </devices>
</domain>
"""


def test_libvirt_lun_rawio_sgio_shareable() -> None:
    dom = parse.parse_libvirt_xml(LIBVIRT_DOC_LUN, "doc.xml")
    assert dom.name == "doc-example" and not dom.running
    lun, raw, image = dom.disks
    assert (lun.device, lun.source, lun.target, lun.bus, lun.rawio, lun.sgio) == (
        "lun",
        "/dev/sda",
        "sda",
        "scsi",
        False,
        None,
    )
    assert (raw.rawio, raw.sgio, raw.shareable, raw.readonly) == (True, "unfiltered", True, True)
    assert (image.disk_type, image.source) == ("file", "/var/lib/libvirt/images/domain.qcow2")


def test_libvirt_domstatus_is_running() -> None:
    text = (
        f"<domstatus state='running' reason='booted' pid='4101'>\n{LIBVIRT_DOC_LUN}</domstatus>\n"
    )
    assert parse.parse_libvirt_xml(text, "run.xml").running


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<domain><name>x</name><devices><disk></devices></domain>", "not well-formed at line 1"),
        ("<network><name>default</name></network>", "not <domain>"),
        ("<domain><devices/></domain>", "no <name>"),
    ],
)
def test_libvirt_bad_xml_names_the_problem(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse.parse_libvirt_xml(text, "bad.xml")


def test_qemu_opts_escaped_commas_and_implied_key() -> None:
    assert parse.parse_qemu_opts("scsi-block,drive=d0,serial=a,,b", "driver") == {
        "driver": "scsi-block",
        "drive": "d0",
        "serial": "a,b",
    }
    assert parse.parse_qemu_opts("file=/dev/sdb1,readonly", None) == {
        "file": "/dev/sdb1",
        "readonly": "on",
    }


def test_qemu_cmdline_blockdev_json_chain() -> None:
    storage = {"driver": "host_device", "filename": "/dev/sdb2", "node-name": "s1"}
    fmt = {"node-name": "f1", "driver": "raw", "file": "s1", "read-only": True}
    argv = [
        "/usr/bin/qemu-system-x86_64",
        "-name",
        "guest=vm1,debug-threads=on",
        "-blockdev",
        json.dumps(storage),
        "-blockdev",
        json.dumps(fmt),
        "-device",
        json.dumps({"driver": "scsi-generic", "drive": "f1", "id": "x"}),
        "-device",
        "virtio-net-pci,id=net0",
    ]
    p = parse.parse_qemu_cmdline(10, argv, "qemu", 0, 1 << 17)
    assert p.guest == "vm1" and p.cap_sys_rawio
    assert [(d.driver, d.source, d.readonly) for d in p.disks] == [
        ("scsi-generic", "/dev/sdb2", True)
    ]


def test_qemu_cmdline_drive_forms() -> None:
    argv = [
        "qemu-system-x86_64",
        "-name",
        "plain",
        "-drive",
        "file=/dev/sdc,if=none,id=d0,format=raw",
        "-device",
        "scsi-block,drive=d0",
        "-drive",
        "file=/dev/sdd1,if=virtio,readonly=on",
        "-blockdev",
        "driver=raw,node-name=n1,file.driver=host_device,file.filename=/dev/sde",
        "-device",
        "virtio-blk-pci,drive=n1",
    ]
    p = parse.parse_qemu_cmdline(11, argv, "qemu", 64055, 0)
    assert p.guest == "plain" and p.cap_sys_rawio is False
    assert [(d.driver, d.source, d.readonly) for d in p.disks] == [
        ("scsi-block", "/dev/sdc", False),
        ("virtio-blk", "/dev/sdd1", True),
        ("virtio-blk-pci", "/dev/sde", False),
    ]


def test_qemu_cmdline_bad_json_is_value_error() -> None:
    with pytest.raises(ValueError, match="option JSON malformed"):
        parse.parse_qemu_cmdline(1, ["qemu-system-x86_64", "-blockdev", "{bad"], "q", 0, 0)


def test_dmsetup_table_named_and_unnamed() -> None:
    tables = parse.parse_dmsetup_table(
        "vg-lv: 0 2048 linear 8:17 2048\nvg-lv: 2048 4096 linear 8:33 0\nmp: 0 100 multipath 0 0 1 1 service-time 0 1 2 8:48 1 1\n"
    )
    assert [(t.name, len(t.targets)) for t in tables] == [("vg-lv", 2), ("mp", 1)]
    assert tables[0].targets[0].device == (8, 17) and tables[0].targets[0].offset == 2048
    assert tables[1].targets[0].device == (8, 48) and tables[1].targets[0].offset is None
    single = parse.parse_dmsetup_table("0 32768 linear 8:16 2048\n")
    assert single[0].name == "" and single[0].targets[0].offset == 2048
    assert parse.parse_dmsetup_table("No devices found\n") == ()
    with pytest.raises(ValueError, match="line 1"):
        parse.parse_dmsetup_table("garbage here\n")


def _acl_bytes(entries: list[tuple[int, int, int]]) -> bytes:
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)


def test_acl_xattr_through_the_real_kernel(tmp_path: Path) -> None:
    f = tmp_path / "node"
    f.write_text("")
    undefined = 0xFFFFFFFF
    os.setxattr(
        f,
        "system.posix_acl_access",
        _acl_bytes(
            [
                (1, 6, undefined),
                (2, 6, 1000),
                (4, 4, undefined),
                (0x10, 6, undefined),
                (0x20, 0, undefined),
            ]
        ),
    )
    raw = RootedFS(tmp_path).getxattr("/node", "system.posix_acl_access")
    assert raw is not None
    acl = parse.parse_acl_xattr(raw)
    assert [(e.tag, e.qualifier, e.perm) for e in acl] == [
        (AclTag.USER_OBJ, None, 6),
        (AclTag.USER, 1000, 6),
        (AclTag.GROUP_OBJ, None, 4),
        (AclTag.MASK, None, 6),
        (AclTag.OTHER, None, 0),
    ]
    assert RootedFS(tmp_path).getxattr("/node", "user.unset") is None


def test_acl_xattr_garbage_is_value_error() -> None:
    for data in (b"", b"\x02\x00\x00\x00\x01", _acl_bytes([(0x99, 6, 0)]), struct.pack("<I", 1)):
        with pytest.raises(ValueError):
            parse.parse_acl_xattr(data)


def test_live_node_reads_device_number_mode_and_acl(tmp_path: Path) -> None:
    path = tmp_path / "sdz"
    os.mknod(path, 0o660 | stat.S_IFBLK, os.makedev(8, 48))
    os.setxattr(
        path,
        "system.posix_acl_access",
        _acl_bytes(
            [
                (1, 6, 0xFFFFFFFF),
                (4, 6, 0xFFFFFFFF),
                (8, 4, 1001),
                (0x10, 6, 0xFFFFFFFF),
                (0x20, 0, 0xFFFFFFFF),
            ]
        ),
    )
    r = _Reader(RootedFS(tmp_path))
    node = r.live_node("/sdz", "/dev", set())
    assert node is not None
    assert (node.kind, node.dev, node.mode) == ("block", (8, 48), 0o660)
    assert node.acl is not None and (AclTag.GROUP, 1001, 4) in [
        (e.tag, e.qualifier, e.perm) for e in node.acl
    ]


def test_status_mounts_group_devices_list() -> None:
    assert parse.parse_status(
        "Name:\tqemu\nUid:\t64055\t64055\t64055\t64055\nCapEff:\t0000000000020000\n"
    ) == (
        "qemu",
        64055,
        1 << 17,
    )
    with pytest.raises(ValueError, match="CapEff"):
        parse.parse_status("CapEff:\tzz\n")
    m = parse.parse_mounts("/dev/sda3 /srv/my\\040data ext4 rw 0 0\n")
    assert (m[0].source, m[0].target) == ("/dev/sda3", "/srv/my data")
    g = parse.parse_group("disk:x:6:alice,bob\nkvm:x:104:\n")
    assert g[0].members == ("alice", "bob") and g[1].members == ()
    rules = parse.parse_devices_list("b 8:* rw\nc 21:3 r\n", "/docker/x")
    assert [(r.kind, r.major, r.minor, r.access) for r in rules] == [
        ("b", 8, None, "rw"),
        ("c", 21, 3, "r"),
    ]
    with pytest.raises(ValueError, match="line 1"):
        parse.parse_devices_list("x 1:2 r\n", "/c")


@pytest.mark.parametrize(
    ("release", "version"),
    [
        ("6.1.0-56-amd64", "6.1.0"),
        ("3.10.0-1160.el7.x86_64", "3.10.0"),
        ("3.2.1", "3.2.1"),
        ("6.12", "6.12"),
    ],
)
def test_kernel_version_from_release(release: str, version: str) -> None:
    assert parse.kernel_version(release) == version


def test_kernel_version_garbage() -> None:
    with pytest.raises(ValueError, match="does not start with a version"):
        parse.kernel_version("linux")
