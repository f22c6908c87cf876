"""The spec's ioctl numbers against the C headers the system's tools are built with."""

from __future__ import annotations

import re
from pathlib import Path

from sgguard import sgio
from sgguard.ioctls import IOCTL_NUMBERS, Ioctl
from sgguard.kernel import cases

HEADERS = ("scsi/sg.h", "scsi/scsi.h", "scsi/scsi_ioctl.h", "linux/cdrom.h")


def header_defines() -> dict[str, int]:
    out: dict[str, int] = {}
    for name in HEADERS:
        text = (Path("/usr/include") / name).read_text()
        for m in re.finditer(r"^#define\s+(\w+)\s+(0x[0-9a-fA-F]+|\d+)\b", text, re.M):
            out.setdefault(m.group(1), int(m.group(2), 0))
    return out


def test_ioctl_numbers_match_the_c_headers() -> None:
    defines = header_defines()
    # SCSI_IOCTL_GET_PCI is in the kernel's include/scsi/scsi_ioctl.h only, not in
    # the headers exported to user space
    checked = {ioctl for ioctl in Ioctl if ioctl != Ioctl.SCSI_IOCTL_GET_PCI}
    assert {i: IOCTL_NUMBERS[i] for i in checked} == {i: defines[str(i)] for i in checked}
    assert IOCTL_NUMBERS[Ioctl.SCSI_IOCTL_GET_PCI] == 0x5387


def test_ioctl_vocabulary_is_shared_by_the_model_and_the_backend() -> None:
    assert cases.Ioctl is Ioctl and sgio.IoctlName is Ioctl
    assert IOCTL_NUMBERS[Ioctl.SG_IO] == sgio.SG_IO
    assert IOCTL_NUMBERS[Ioctl.CDROMEJECT] == sgio.CDROMEJECT
