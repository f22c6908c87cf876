"""One test per kernel rule per era: test_<rule>_<era>_<behaviour>."""

from __future__ import annotations

from sgguard.kernel import Case, Ioctl, Node, OpenMode, Outcome, Result, evaluate
from sgguard.kernel.cases import group_length

RO, RW = OpenMode.RO, OpenMode.RW
DISK, PART, SG = Node.DISK, Node.PARTITION, Node.SG
DMP, DMW = Node.DM_PARTIAL, Node.DM_WHOLE

READ_10, WRITE_10, WRITE_BUFFER, UNMAP, ATA_12 = 0x28, 0x2A, 0x3B, 0x42, 0xA1
REPORT_LUNS, WRITE_SAME_10, ZBC_IN, ZBC_OUT, INQUIRY = 0xA0, 0x41, 0x95, 0x94, 0x12


def cdb(op: int) -> bytes:
    return bytes([op]) + bytes(group_length(op) - 1)


def sgio(
    kernel: str,
    node: Node,
    mode: OpenMode,
    op: int,
    cap: bool = False,
    unpriv: bool = False,
) -> Outcome:
    return evaluate(Case(kernel, node, mode, cap, Ioctl.SG_IO, cdb(op), unpriv))


def send(kernel: str, node: Node, mode: OpenMode, op: int, cap: bool = False) -> Outcome:
    return evaluate(Case(kernel, node, mode, cap, Ioctl.SCSI_IOCTL_SEND_COMMAND, cdb(op)))


def ioctl(kernel: str, node: Node, mode: OpenMode, which: Ioctl, cap: bool = False) -> Outcome:
    return evaluate(Case(kernel, node, mode, cap, which))


# --- the opcode filter -----------------------------------------------------------


def test_blk_verify_command_2_6_read_list_and_write_list() -> None:
    assert sgio("2.6.32", DISK, RO, READ_10).outcome is Result.ALLOWED
    assert sgio("2.6.32", DISK, RO, WRITE_10).outcome is Result.EPERM
    assert sgio("2.6.32", DISK, RW, WRITE_10).outcome is Result.ALLOWED
    assert sgio("2.6.32", DISK, RW, WRITE_BUFFER).outcome is Result.EPERM
    assert sgio("2.6.32", DISK, RO, READ_10).rule == "blk_verify_command"


def test_blk_verify_command_2_6_aliases_let_unmap_and_ata_through() -> None:
    assert sgio("2.6.32", DISK, RO, UNMAP).outcome is Result.ALLOWED  # READ SUB-CHANNEL
    assert sgio("2.6.32", DISK, RW, ATA_12).outcome is Result.ALLOWED  # BLANK
    assert sgio("2.6.32", DISK, RW, 0x85).outcome is Result.EPERM  # ATA PASS-THROUGH (16)


def test_blk_verify_command_2_6_efault_errno_on_block_devices() -> None:
    # sg_io: `if (blk_fill_sghdr_rq(...)) return -EFAULT;` before ~4.11.
    refused = sgio("2.6.32", DISK, RO, WRITE_10)
    assert refused.outcome is Result.EPERM and refused.errno == "EFAULT"
    assert sgio("6.1", DISK, RO, WRITE_10).errno == "EPERM"
    # sg's own path and SCSI_IOCTL_SEND_COMMAND always said EPERM.
    assert sgio("2.6.32", SG, RO, WRITE_10).errno == "EPERM"
    assert send("2.6.32", DISK, RO, WRITE_10).errno == "EPERM"


def test_blk_verify_command_filter_report_luns_joins_read_list_by_3_6() -> None:
    old = sgio("2.6.32", DISK, RO, REPORT_LUNS)
    assert old.outcome is Result.EPERM and old.estimated  # 2.6.27..3.5 is uncertain
    assert sgio("2.6.26", DISK, RO, REPORT_LUNS).estimated is False
    new = sgio("3.6", DISK, RO, REPORT_LUNS)
    assert new.outcome is Result.ALLOWED and not new.estimated
    # MAINTENANCE IN a3 moves from the W list (SEND KEY) to the R list.
    assert sgio("2.6.20", DISK, RO, 0xA3).outcome is Result.EPERM
    assert sgio("2.6.20", DISK, RW, 0xA3).outcome is Result.ALLOWED
    assert sgio("3.10", DISK, RO, 0xA3).outcome is Result.ALLOWED


def test_blk_verify_command_filter_write_same_joins_write_list() -> None:
    assert sgio("3.10", DISK, RW, WRITE_SAME_10).outcome is Result.EPERM
    assert not sgio("3.10", DISK, RW, WRITE_SAME_10).estimated
    estimated = sgio("4.9", DISK, RW, WRITE_SAME_10)
    assert estimated.outcome is Result.ALLOWED and estimated.estimated
    sure = sgio("4.14", DISK, RW, 0x93)
    assert sure.outcome is Result.ALLOWED and not sure.estimated


def test_blk_verify_command_write_same_32_constant_is_opcode_0d_not_7f() -> None:
    assert sgio("6.1", DISK, RW, 0x0D).outcome is Result.ALLOWED
    assert sgio("6.1", DISK, RO, 0x0D).outcome is Result.EPERM
    v32 = evaluate(Case("6.1", DISK, RW, False, Ioctl.SG_IO, b"\x7f" + bytes(31)))
    assert v32.outcome is Result.EPERM


def test_blk_verify_command_filter_zbc_5_7() -> None:
    assert sgio("5.6", DISK, RO, ZBC_IN).outcome is Result.EPERM
    assert sgio("5.7", DISK, RO, ZBC_IN).outcome is Result.ALLOWED
    assert sgio("5.6", DISK, RW, ZBC_OUT).outcome is Result.EPERM
    assert sgio("5.7", DISK, RW, ZBC_OUT).outcome is Result.ALLOWED
    assert sgio("5.10", DISK, RO, READ_10).rule == "blk_verify_command"


def test_scsi_cmd_allowed_5_15_same_behaviour_new_name() -> None:
    for op in range(256):
        old, new = sgio("5.14", DISK, RW, op), sgio("5.15", DISK, RW, op)
        assert old.outcome is new.outcome, op
    assert sgio("5.15", DISK, RO, READ_10).rule == "scsi_cmd_allowed"
    assert sgio("6.12", DISK, RO, WRITE_10).rule == "scsi_cmd_allowed"


def test_capable_cap_sys_rawio_6_1_bypasses_filter_and_is_named() -> None:
    out = sgio("6.1", DISK, RO, WRITE_BUFFER, cap=True)
    assert out.outcome is Result.ALLOWED and out.rule == "capable(CAP_SYS_RAWIO)"
    # A command the filter allows anyway is decided by the filter.
    assert sgio("6.1", DISK, RO, READ_10, cap=True).rule == "scsi_cmd_allowed"


def test_blk_verify_command_rhel_unpriv_sgio_lifts_filter_not_partition_rule() -> None:
    out = sgio("3.10.0-1160.el7.x86_64", DISK, RO, WRITE_BUFFER, unpriv=True)
    assert out.outcome is Result.ALLOWED
    assert any("unpriv_sgio" in n for n in out.notes)
    assert (
        sgio("3.10.0-1160.el7.x86_64", SG, RO, WRITE_BUFFER, unpriv=True).outcome is Result.ALLOWED
    )
    assert sgio("3.10.0-1160.el7.x86_64", PART, RO, READ_10, unpriv=True).outcome is Result.ENOTTY
    assert sgio("6.1", PART, RW, READ_10, unpriv=True).outcome is Result.ENOTTY


# --- partitions ---------------------------------------------------------------------


def test_sd_ioctl_vulnerable_2_6_32_partition_reaches_whole_disk() -> None:
    out = sgio("2.6.32", PART, RW, WRITE_10)
    assert out.outcome is Result.ALLOWED and out.escape and out.whole_disk
    assert sgio("2.6.32", PART, RO, WRITE_10).outcome is Result.EPERM  # only the filter
    assert sgio("2.6.32", PART, RO, UNMAP).escape  # UNMAP as READ SUB-CHANNEL, read-only


def test_sd_ioctl_vulnerable_stable_series_before_the_fix() -> None:
    for kernel in ("3.0.17", "3.1", "3.1.10", "3.2", "3.2.1"):
        out = sgio(kernel, PART, RO, READ_10)
        assert out.outcome is Result.ALLOWED and out.escape, kernel
        assert out.era.startswith("vulnerable")


def test_scsi_verify_blk_ioctl_whitelist_fixed_stable_3_0_18_and_3_2_2() -> None:
    for kernel in ("3.0.18", "3.2.2", "3.3", "3.10", "4.9"):
        refused = sgio(kernel, PART, RW, READ_10)
        assert refused.outcome is Result.ENOTTY, kernel
        assert refused.rule == "scsi_verify_blk_ioctl"
        assert ioctl(kernel, PART, RO, Ioctl.SG_GET_VERSION_NUM).outcome is Result.ALLOWED
        assert ioctl(kernel, PART, RO, Ioctl.SCSI_IOCTL_GET_PCI).outcome is Result.ALLOWED
        assert ioctl(kernel, PART, RO, Ioctl.CDROMEJECT).outcome is Result.ENOTTY
        assert send(kernel, PART, RW, WRITE_10).outcome is Result.ENOTTY


def test_scsi_verify_blk_ioctl_whitelist_errno_einval_before_07d106d0a33d() -> None:
    assert sgio("3.2.2", PART, RO, READ_10).errno == "EINVAL"
    assert sgio("3.0.18", PART, RO, READ_10).errno == "EINVAL"
    assert sgio("3.3", PART, RO, READ_10).errno == "ENOTTY"


def test_scsi_verify_blk_ioctl_whitelist_cap_sys_rawio_reaches_whole_disk() -> None:
    out = sgio("3.10", PART, RO, WRITE_BUFFER, cap=True)
    assert out.outcome is Result.ALLOWED and out.escape
    assert out.rule == "capable(CAP_SYS_RAWIO)"


def test_scsi_verify_blk_ioctl_all_enotty_after_0478fe68685a() -> None:
    for kernel in ("4.19", "5.4", "5.10"):
        out = ioctl(kernel, PART, RO, Ioctl.SG_GET_VERSION_NUM)
        assert out.outcome is Result.ENOTTY and out.rule == "scsi_verify_blk_ioctl", kernel
        assert not out.estimated
    boundary = ioctl("4.16", PART, RO, Ioctl.SG_GET_VERSION_NUM)
    assert boundary.outcome is Result.ENOTTY and boundary.estimated
    before = ioctl("4.15", PART, RO, Ioctl.SG_GET_VERSION_NUM)
    assert before.outcome is Result.ALLOWED and not before.estimated


def test_sd_ioctl_5_15_partition_enotty_open_coded() -> None:
    for kernel in ("5.15", "6.1", "6.12"):
        out = ioctl(kernel, PART, RO, Ioctl.SCSI_IOCTL_GET_IDLUN)
        assert out.outcome is Result.ENOTTY and out.rule == "sd_ioctl", kernel
        assert out.errno == "ENOTTY"
        assert send(kernel, PART, RW, READ_10).outcome is Result.ENOTTY


def test_capable_cap_sys_rawio_6_12_partition_bypass_escapes() -> None:
    out = sgio("6.12", PART, RO, UNMAP, cap=True)
    assert out.outcome is Result.ALLOWED and out.escape
    eject = ioctl("6.12", PART, RO, Ioctl.CDROMEJECT, cap=True)
    assert eject.outcome is Result.ALLOWED and eject.escape  # START STOP UNIT on the disk
    idlun = ioctl("6.12", PART, RO, Ioctl.SCSI_IOCTL_GET_IDLUN, cap=True)
    assert idlun.outcome is Result.ALLOWED and not idlun.escape


def test_sd_ioctl_6_1_disk_ioctls_need_nothing() -> None:
    for which in Ioctl:
        if which in (Ioctl.SG_IO, Ioctl.SCSI_IOCTL_SEND_COMMAND):
            continue
        out = ioctl("6.1", DISK, RO, which)
        assert out.outcome is Result.ALLOWED and not out.escape, which


def test_scsi_cmd_ioctl_cdromeject_sends_start_stop_unit_on_a_disk() -> None:
    out = ioctl("4.9", DISK, RO, Ioctl.CDROMEJECT)
    assert out.outcome is Result.ALLOWED and out.rule == "scsi_cmd_ioctl"
    assert any("START STOP UNIT" in n for n in out.notes)
    assert ioctl("6.1", DISK, RO, Ioctl.CDROMCLOSETRAY).rule == "scsi_ioctl"


# --- device-mapper ------------------------------------------------------------------


def test_linear_ioctl_vulnerable_forwards_with_the_tables_mode() -> None:
    # Before ec8013be: lc->dev->mode (read-write) reaches the filter.
    out = sgio("3.2.1", DMP, RO, WRITE_10)
    assert out.outcome is Result.ALLOWED and out.escape
    assert sgio("3.2.1", DMW, RO, WRITE_10).outcome is Result.ALLOWED
    assert not sgio("3.2.1", DMW, RO, WRITE_10).escape
    assert sgio("3.2.1", DMP, RW, WRITE_BUFFER).outcome is Result.EPERM


def test_scsi_verify_blk_ioctl_whitelist_dm_partial_3_10() -> None:
    refused = sgio("3.10", DMP, RW, READ_10)
    assert refused.outcome is Result.ENOTTY and refused.rule == "scsi_verify_blk_ioctl"
    assert ioctl("3.10", DMP, RO, Ioctl.SG_GET_VERSION_NUM).outcome is Result.ALLOWED
    # dm-whole forwards; the table's read-write mode still reaches the filter.
    assert sgio("3.10", DMW, RO, WRITE_10).outcome is Result.ALLOWED


def test_dm_blk_ioctl_after_e980f62353c6_needs_cap_no_whitelist() -> None:
    out = ioctl("4.14", DMP, RO, Ioctl.SG_GET_VERSION_NUM)
    assert out.outcome is Result.ENOTTY and out.rule == "dm_blk_ioctl" and not out.estimated
    assert ioctl("4.5", DMP, RO, Ioctl.SG_GET_VERSION_NUM).estimated
    # The caller's mode reaches the filter now.
    assert sgio("4.14", DMW, RO, WRITE_10).outcome is Result.EPERM
    cap = sgio("6.1", DMP, RO, WRITE_BUFFER, cap=True)
    assert cap.outcome is Result.ALLOWED and cap.escape


def test_dm_blk_ioctl_6_12_dm_whole_is_the_disk_dm_partial_the_partition() -> None:
    for which in Ioctl:
        for mode in (RO, RW):
            for cap in (False, True):
                c = (
                    (lambda n, w=which, m=mode, k=cap: sgio("6.12", n, m, WRITE_10, k))
                    if which is Ioctl.SG_IO
                    else (lambda n, w=which, m=mode, k=cap: ioctl("6.12", n, m, w, k))
                )
                if which is Ioctl.SCSI_IOCTL_SEND_COMMAND:
                    continue
                assert c(DMW).outcome is c(DISK).outcome
                assert c(DMP).outcome is c(PART).outcome


# --- /dev/sgN -----------------------------------------------------------------------


def test_sg_new_write_rw_sg_io_is_unfiltered_in_every_era() -> None:
    for kernel in ("2.6.32", "3.10", "6.1"):
        out = sgio(kernel, SG, RW, WRITE_BUFFER)
        assert out.outcome is Result.ALLOWED and out.rule == "sg_new_write"
        assert not out.escape  # /dev/sgN is the whole unit by design


def test_sg_allow_access_ro_sg_io_read_list_only() -> None:
    assert sgio("6.1", SG, RO, READ_10).outcome is Result.ALLOWED
    refused = sgio("6.1", SG, RO, WRITE_10)
    assert refused.outcome is Result.EPERM and refused.rule == "sg_allow_access"
    assert sgio("6.1", SG, RO, WRITE_10, cap=True).outcome is Result.ALLOWED


def test_sg_scsi_ioctl_send_command_filtered_even_on_rw() -> None:
    for kernel in ("2.6.32", "5.10", "6.1", "6.12"):
        assert send(kernel, SG, RW, WRITE_BUFFER).outcome is Result.EPERM, kernel
        assert send(kernel, SG, RW, WRITE_10).outcome is Result.ALLOWED
        assert send(kernel, SG, RO, WRITE_10).outcome is Result.EPERM
        assert send(kernel, SG, RO, WRITE_BUFFER, cap=True).outcome is Result.ALLOWED


def test_sg_ioctl_ro_refuses_unknown_ioctls_even_with_cap() -> None:
    for which in (Ioctl.CDROMEJECT, Ioctl.CDROMCLOSETRAY, Ioctl.SCSI_IOCTL_GET_PCI):
        for cap in (False, True):
            out = ioctl("6.1", SG, RO, which, cap)
            assert out.outcome is Result.EPERM and out.rule == "sg_ioctl"
    assert ioctl("6.1", SG, RO, Ioctl.SCSI_IOCTL_PROBE_HOST).outcome is Result.ALLOWED


def test_scsi_ioctl_sg_cdrom_ioctls_einval_before_5_15() -> None:
    old = ioctl("5.10", SG, RW, Ioctl.CDROMEJECT)
    assert old.outcome is Result.EINVAL and old.rule == "scsi_ioctl"
    new = ioctl("5.15", SG, RW, Ioctl.CDROMEJECT)
    assert new.outcome is Result.ALLOWED
    assert ioctl("5.10", SG, RW, Ioctl.SCSI_IOCTL_GET_PCI).outcome is Result.ALLOWED


def test_send_command_disk_6_1_follows_the_filter() -> None:
    assert send("6.1", DISK, RO, READ_10).outcome is Result.ALLOWED
    assert send("6.1", DISK, RO, WRITE_10).outcome is Result.EPERM
    assert send("6.1", DISK, RW, WRITE_10).outcome is Result.ALLOWED
    assert send("6.1", DISK, RW, WRITE_BUFFER).outcome is Result.EPERM
    assert send("6.1", DMW, RW, ATA_12).outcome is Result.ALLOWED
    assert send("6.1", DISK, RW, INQUIRY).rule == "scsi_cmd_allowed"


def test_estimated_distribution_abi_hides_the_3_2_patch_level() -> None:
    out = sgio("3.2.0-4-amd64", PART, RO, READ_10)
    assert out.outcome is Result.ENOTTY and out.estimated
    assert not sgio("3.2.0-4-amd64", DISK, RO, READ_10).estimated
