"""sgguard.lab.kernels: module names, modinfo, load order, module resolution on a fake tree."""

from __future__ import annotations

import lzma
import re
import shutil
from pathlib import Path

import pytest

from sgguard.errors import InputError
from sgguard.lab.kernels import (
    KernelTree,
    load_order,
    module_name,
    parse_modinfo,
    resolve_module_files,
)


def _ko(name: str, depends: str) -> bytes:
    # A module's .modinfo section: NUL-separated key=value strings among ELF bytes.
    return (
        b"\x7fELF\x02\x01\x01"
        + bytes(40)
        + b"license=GPL\x00"
        + f"depends={depends}\x00".encode()
        + b"retpoline=Y\x00"
        + f"name={name}\x00".encode()
        + b"vermagic=6.1.0-56-amd64 SMP preempt mod_unload modversions \x00"
        + bytes(16)
    )


def test_module_name_normalises_dashes_and_suffixes() -> None:
    assert module_name("crc-t10dif.ko") == "crc_t10dif"
    assert module_name("/x/y/virtio_scsi.ko.xz") == "virtio_scsi"
    assert module_name("dm-mod.ko.gz") == "dm_mod"


def test_parse_modinfo_reads_depends_name_vermagic() -> None:
    info = parse_modinfo(_ko("sd_mod", "scsi_mod,t10-pi"))
    assert info["depends"] == "scsi_mod,t10-pi"
    assert info["name"] == "sd_mod"
    assert info["vermagic"].startswith("6.1.0-56-amd64")


def test_parse_modinfo_empty_depends() -> None:
    assert parse_modinfo(_ko("scsi_common", ""))["depends"] == ""


def test_load_order_puts_dependencies_first_once() -> None:
    deps = {"a": ["b", "c"], "b": ["d"], "c": ["d"], "d": [], "e": ["a"]}
    order = load_order(["e", "c"], lambda n: deps[n])
    assert order == ["d", "b", "c", "a", "e"]
    for name, ds in deps.items():
        for dep in ds:
            assert order.index(dep) < order.index(name)


def test_load_order_cycle_is_an_input_error() -> None:
    deps = {"a": ["b"], "b": ["a"]}
    with pytest.raises(InputError, match="cycle: a -> b -> a"):
        load_order(["a"], lambda n: deps[n])


def _tree(tmp_path: Path, mods: dict[str, str], builtin: list[str], xz: bool) -> KernelTree:
    mdir = tmp_path / "lib/modules/6.1.0-test"
    kdir = mdir / "kernel/drivers"
    kdir.mkdir(parents=True)
    for name, deps in mods.items():
        data = _ko(name.replace("-", "_"), deps)
        if xz:
            (kdir / f"{name}.ko.xz").write_bytes(lzma.compress(data, format=lzma.FORMAT_XZ))
        else:
            (kdir / f"{name}.ko").write_bytes(data)
    (mdir / "modules.builtin").write_text("".join(f"kernel/{b}.ko\n" for b in builtin))
    boot = tmp_path / "boot"
    boot.mkdir()
    (boot / "vmlinuz-6.1.0-test").write_bytes(b"kernel")
    return KernelTree(tmp_path, boot / "vmlinuz-6.1.0-test", mdir, "6.1.0-test", "pkg", "1")


@pytest.mark.parametrize("xz", [False, True])
def test_resolve_module_files_orders_and_skips_builtin(tmp_path: Path, xz: bool) -> None:
    tree = _tree(
        tmp_path,
        {
            "scsi_common": "",
            "scsi_mod": "scsi_common",
            "t10-pi": "crc-t10dif",
            "crc-t10dif": "crct10dif_common",
            "sd_mod": "scsi_mod,t10-pi",
            "sg": "scsi_mod",
            "virtio_scsi": "scsi_mod,virtio",
        },
        builtin=["drivers/virtio/virtio", "drivers/virtio/crct10dif_common"],
        xz=xz,
    )
    names = [n for n, _p in resolve_module_files(tree, ("sd_mod", "sg", "virtio_scsi"))]
    assert names == [
        "scsi_common",
        "scsi_mod",
        "crc_t10dif",
        "t10_pi",
        "sd_mod",
        "sg",
        "virtio_scsi",
    ]


def test_resolve_module_files_names_a_missing_module(tmp_path: Path) -> None:
    tree = _tree(tmp_path, {"sd_mod": "scsi_mod"}, builtin=[], xz=False)
    with pytest.raises(InputError, match="kernel module scsi_mod is missing"):
        resolve_module_files(tree, ("sd_mod",))


@pytest.mark.skipif(shutil.which("apt-cache") is None, reason="not a Debian host")
def test_resolve_package_follows_meta_packages() -> None:
    from sgguard.lab.kernels import resolve_package

    concrete = resolve_package("linux-image-amd64")
    assert re.fullmatch(r"linux-image-6\.1\.0-\d+-amd64", concrete), concrete
    assert resolve_package(concrete) == concrete
    assert re.fullmatch(
        r"linux-image-6\.12\.\d+\+deb12-amd64", resolve_package("linux-image-6.12-amd64")
    )
