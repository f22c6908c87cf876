"""The ioctls of the kernel-cases spec: their names and their request numbers.

Owns the one list of pass-through ioctls that the policy model (`sgguard.kernel`),
the real SG_IO backend (`sgguard.sgio`) and the lab share, with the numbers of
include/uapi/scsi/sg.h, include/scsi/scsi_ioctl.h and include/uapi/linux/cdrom.h.
Imports nothing else of sgguard, so the lab guest can load it on its own.
"""

from __future__ import annotations

import enum

__all__ = ["IOCTL_NUMBERS", "Ioctl"]


class Ioctl(enum.StrEnum):
    """The ioctls of the cases spec, by their kernel names."""

    SG_IO = "SG_IO"
    SCSI_IOCTL_SEND_COMMAND = "SCSI_IOCTL_SEND_COMMAND"
    CDROMEJECT = "CDROMEJECT"
    CDROMCLOSETRAY = "CDROMCLOSETRAY"
    SCSI_IOCTL_GET_IDLUN = "SCSI_IOCTL_GET_IDLUN"
    SCSI_IOCTL_GET_BUS_NUMBER = "SCSI_IOCTL_GET_BUS_NUMBER"
    SCSI_IOCTL_GET_PCI = "SCSI_IOCTL_GET_PCI"
    SCSI_IOCTL_PROBE_HOST = "SCSI_IOCTL_PROBE_HOST"
    SG_GET_VERSION_NUM = "SG_GET_VERSION_NUM"
    SG_GET_TIMEOUT = "SG_GET_TIMEOUT"
    SG_SET_TIMEOUT = "SG_SET_TIMEOUT"
    SG_GET_RESERVED_SIZE = "SG_GET_RESERVED_SIZE"
    SG_SET_RESERVED_SIZE = "SG_SET_RESERVED_SIZE"
    SG_EMULATED_HOST = "SG_EMULATED_HOST"


IOCTL_NUMBERS: dict[Ioctl, int] = {
    Ioctl.SG_IO: 0x2285,
    Ioctl.SCSI_IOCTL_SEND_COMMAND: 0x0001,
    Ioctl.CDROMEJECT: 0x5309,
    Ioctl.CDROMCLOSETRAY: 0x5319,
    Ioctl.SCSI_IOCTL_GET_IDLUN: 0x5382,
    Ioctl.SCSI_IOCTL_GET_BUS_NUMBER: 0x5386,
    Ioctl.SCSI_IOCTL_GET_PCI: 0x5387,
    Ioctl.SCSI_IOCTL_PROBE_HOST: 0x5385,
    Ioctl.SG_GET_VERSION_NUM: 0x2282,
    Ioctl.SG_GET_TIMEOUT: 0x2202,
    Ioctl.SG_SET_TIMEOUT: 0x2201,
    Ioctl.SG_GET_RESERVED_SIZE: 0x2272,
    Ioctl.SG_SET_RESERVED_SIZE: 0x2275,
    Ioctl.SG_EMULATED_HOST: 0x2203,
}
