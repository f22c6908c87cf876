"""sgguard.sgio on the host: ABI layout, errno values, capabilities.

Real SCSI devices exist only inside the lab's guests: tests/lab/test_lab_qemu.py runs
SgDevice there (INQUIRY, READ CAPACITY on /dev/sdX and /dev/sgN) and checks the answers.
"""

from __future__ import annotations

import ctypes
import os
import struct
from pathlib import Path

import pytest

from sgguard import sgio


def test_sg_io_hdr_matches_the_kernel_abi() -> None:
    # include/uapi/scsi/sg.h on LP64: 88 bytes, pointers 8-aligned.
    hdr = sgio._SgIoHdr
    assert ctypes.sizeof(hdr) == 88
    offsets = {name: getattr(hdr, name).offset for name, _t in hdr._fields_}
    assert offsets["interface_id"] == 0
    assert offsets["dxfer_len"] == 12
    assert offsets["dxferp"] == 16
    assert offsets["cmdp"] == 24
    assert offsets["sbp"] == 32
    assert offsets["timeout"] == 40
    assert offsets["usr_ptr"] == 56
    assert offsets["status"] == 64
    assert offsets["host_status"] == 68
    assert offsets["resid"] == 72
    assert offsets["info"] == 80


def test_cdb_length_agrees_with_the_model_group_rule() -> None:
    from sgguard.kernel.cases import group_length

    assert [sgio.cdb_length_for_opcode(op) for op in range(256)] == [
        group_length(op) for op in range(256)
    ]


def test_execute_on_a_non_scsi_node_returns_enotty(tmp_path: Path) -> None:
    f = tmp_path / "plain"
    f.write_bytes(bytes(4096))
    with sgio.SgDevice(str(f)) as dev:
        res = dev.execute(bytes([0x12, 0, 0, 0, 36, 0]), data_in_len=36)
    assert res.errno_name == "ENOTTY"
    assert not res.ok
    assert res.data == b""


@pytest.mark.parametrize("name", [str(n) for n in sgio.IoctlName])
def test_every_case_ioctl_is_issued_and_refused_by_dev_null(name: str) -> None:
    cdb = bytes(10) if name in ("SG_IO", "SCSI_IOCTL_SEND_COMMAND") else None
    if cdb is not None:
        cdb = bytes([0x28]) + bytes(9)
    with sgio.SgDevice("/dev/null") as dev:
        res = dev.ioctl_case(name, cdb)
    assert res.ioctl == name
    assert res.errno_name in ("ENOTTY", "EINVAL")
    assert res.value == -1


def test_bad_requests_are_programmer_errors() -> None:
    with sgio.SgDevice("/dev/null") as dev:
        with pytest.raises(ValueError, match="unknown ioctl"):
            dev.ioctl_case("SG_NOPE")
        with pytest.raises(ValueError, match="needs a CDB"):
            dev.ioctl_case("SG_IO")
        with pytest.raises(ValueError, match="CDB length 0"):
            dev.execute(b"")
        with pytest.raises(ValueError, match="bidirectional"):
            dev.execute(bytes(10), data_out=b"x", data_in_len=1)


def test_open_modes() -> None:
    with sgio.SgDevice("/dev/null", write=True) as dev:
        flags = os.get_blocking(dev.fd)
        assert flags is False  # O_NONBLOCK, as sg3_utils opens
    dev2 = sgio.SgDevice("/dev/null")
    dev2.close()
    dev2.close()  # idempotent
    assert dev2.fd == -1


def _cap_eff() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    raise AssertionError("no CapEff")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (CAP_SYS_RAWIO in the effective set)")
def test_drop_capability_in_a_child() -> None:
    assert sgio.has_capability(sgio.CAP_SYS_RAWIO) == bool(_cap_eff() & (1 << sgio.CAP_SYS_RAWIO))
    if not sgio.has_capability(sgio.CAP_SYS_RAWIO):
        pytest.skip("this root has no CAP_SYS_RAWIO")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            sgio.drop_capability(sgio.CAP_SYS_RAWIO)
            status = Path("/proc/self/status").read_text()
            bnd = next(
                int(x.split()[1], 16) for x in status.splitlines() if x.startswith("CapBnd:")
            )
            eff = _cap_eff()
            os.write(w, struct.pack("=QQB", eff, bnd, sgio.has_capability(sgio.CAP_SYS_RAWIO)))
        finally:
            os._exit(0)
    os.close(w)
    data = os.read(r, 17)
    os.waitpid(pid, 0)
    eff, bnd, has = struct.unpack("=QQB", data)
    assert not eff & (1 << sgio.CAP_SYS_RAWIO)
    assert not bnd & (1 << sgio.CAP_SYS_RAWIO)
    assert eff & (1 << sgio.CAP_SYS_ADMIN)  # only the one capability went
    assert has == 0
    assert sgio.has_capability(sgio.CAP_SYS_RAWIO)  # the parent keeps it
