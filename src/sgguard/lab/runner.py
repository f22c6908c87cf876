"""The lab's boot runner: build the guest's inputs, boot QEMU, collect and judge results.

Owns one lab run end to end on the host: the disk images, the initrd (cached
layers + this run's inputs), the `qemu-system-x86_64` command line (TCG; KVM only
when asked for and a probe shows it works), streaming the serial console (the
guest's `@@SGG` progress lines go to a callback, the whole console to
console.log), reading the raw results disk after the guest powers off, and
writing the profile folder (cases.jsonl, attacks.jsonl, tools.jsonl,
selftest.json, kernel.json, run.json, console.log).
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sgguard.errors import InputError, UsageError
from sgguard.lab import attacks as attacks_mod
from sgguard.lab import disks as disks_mod
from sgguard.lab import initramfs, tools
from sgguard.lab.guest import RESULTS_MAGIC
from sgguard.lab.kernels import KernelTree

__all__ = [
    "GuestJob",
    "JobRun",
    "LabRun",
    "ProgressFn",
    "iscsi_block_args",
    "matrix_for",
    "qemu_command",
    "run_job",
    "run_lab",
]

Json = dict[str, Any]
ProgressFn = Callable[[str, list[str]], None]

MATRIX_NODES = {
    "disk": "disk:matrix",
    "partition": "part:matrix:1",
    "sg": "sg:matrix",
    "dm-partial": "dm:sgg-mpart",
    "dm-whole": "dm:sgg-mwhole",
}
RESULTS_BLOCKS = 64 * 2048  # 64 MiB, sparse


@dataclass(slots=True)
class LabRun:
    """What a run produced (the profile folder holds the same, as files)."""

    profile: Path
    timings: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    cases: int = 0


def qemu_command(
    kernel: Path,
    initrd: Path,
    images: list[tuple[disks_mod.DiskLayout, Path]],
    results: Path,
    extra: Sequence[str] = (),
) -> list[str]:
    """The QEMU command line: TCG, one CPU, virtio-scsi disks, virtio-blk results disk.

    `extra` is appended after the lab's own disks (more drives and devices on the
    `scsi0` bus, e.g. `iscsi_block_args`).
    """
    qemu = shutil.which("qemu-system-x86_64")
    if qemu is None:
        raise UsageError("qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)")
    argv = [
        qemu,
        "-accel",
        "tcg",
        "-machine",
        "pc",
        "-m",
        "768",
        "-smp",
        "1",
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-serial",
        "stdio",
        "-no-reboot",
        "-net",
        "none",
        "-kernel",
        str(kernel),
        "-initrd",
        str(initrd),
        "-append",
        "console=ttyS0 quiet loglevel=3 panic=-1 mitigations=off",
        "-device",
        "virtio-scsi-pci,id=scsi0",
    ]
    for n, (layout, path) in enumerate(images):
        argv += [
            "-drive",
            f"file={path},format=raw,if=none,id=d{n},discard=unmap,cache=unsafe",
            "-device",
            f"scsi-hd,drive=d{n},bus=scsi0.0,scsi-id={layout.scsi_id},lun=0,"
            f"serial=SGG{layout.role.upper()}" + (",removable=on" if layout.removable else ""),
        ]
    argv += list(extra)
    argv += ["-drive", f"file={results},format=raw,if=virtio,cache=unsafe"]
    return argv


def iscsi_block_args(url: str, index: int, scsi_id: int) -> list[str]:
    """QEMU arguments for an iSCSI LUN as a pass-through `scsi-block` disk on `scsi0`.

    The guest sees the LUN at SCSI target id `scsi_id` (lun 0), and every SG_IO
    command its kernel or tools send goes to the target through QEMU's libiscsi
    driver (`qemu-block-extra`), 32-byte CDBs included.
    """
    if not url.startswith("iscsi://") or "," in url:
        raise InputError("not an iscsi:// URL QEMU can take", where=url)
    return [
        "-drive",
        f"file={url},format=raw,if=none,id=iscsi{index},cache=none",
        "-device",
        f"scsi-block,drive=iscsi{index},bus=scsi0.0,scsi-id={scsi_id},lun=0",
    ]


def read_results(path: Path) -> Json:
    with path.open("rb") as f:
        head = f.read(len(RESULTS_MAGIC) + 17)
        if not head.startswith(RESULTS_MAGIC):
            raise InputError("the guest wrote no results (see console.log)", where=str(path))
        size = int(head[len(RESULTS_MAGIC) : len(RESULTS_MAGIC) + 16])
        blob = f.read(size)
    result: Json = json.loads(gzip.decompress(blob))
    return result


def _case_line(case: Json) -> Json:
    return {k: v for k, v in case.items() if k != "i"}


def run_lab(
    kernel: KernelTree,
    profile: Path,
    cases: list[Json],
    *,
    cache_dir: Path,
    progress: ProgressFn | None = None,
    timeout: float = 900.0,
    corpora: tuple[str, ...] = ("selftest", "attacks", "tools", "matrix"),
    kernel_label: str = "",
) -> LabRun:
    """Boot `kernel` with the lab disks and run the corpora; write the profile folder."""
    say = progress or (lambda kind, words: None)
    t0 = time.monotonic()
    run = LabRun(profile=profile)
    profile.mkdir(parents=True, exist_ok=True)
    say("initramfs", ["modules", kernel.release])
    mods, mod_names = initramfs.build_modules(kernel, cache_dir)  # fails fast on a missing module
    say("initramfs", ["base (tools, Python, sgguard; cached by content hash)"])
    base = initramfs.build_base(cache_dir)
    run.timings["initramfs"] = round(time.monotonic() - t0, 3)
    layouts = disks_mod.lab_disks()
    plan = attacks_mod.plan_attacks(layouts)
    tool_plan = tools.plan_tools()
    with tempfile.TemporaryDirectory(prefix="sgguard-lab-") as tmpname:
        tmp = Path(tmpname)
        images: list[tuple[disks_mod.DiskLayout, Path]] = []
        before: dict[str, bytes] = {}
        for layout in layouts:
            img = tmp / f"{layout.role}.img"
            disks_mod.make_image(layout, img)
            before[layout.role] = img.read_bytes()
            images.append((layout, img))
        results_img = tmp / "results.img"
        with results_img.open("wb") as f:
            f.truncate(RESULTS_BLOCKS * 512)
        indexed = [{**c, "i": i} for i, c in enumerate(cases)]
        config: Json = {
            "disks": {
                d.role: {"scsi_id": d.scsi_id, "partitions": len(d.partitions)} for d in layouts
            },
            "dm": _dm_maps(layouts),
            "results_device": "/dev/vda",
            "matrix_nodes": MATRIX_NODES,
        }
        files: dict[str, bytes] = {}
        if "selftest" in corpora:
            config["selftest"] = "matrix"
        if "attacks" in corpora:
            config["attacks"] = "attacks.json"
            files["attacks.json"] = json.dumps(list(plan.attacks)).encode()
        if "tools" in corpora:
            config["tools"] = "tools.json"
            files["tools.json"] = json.dumps(tool_plan).encode()
        if "matrix" in corpora and cases:
            config["matrix"] = "cases.jsonl"
            files["cases.jsonl"] = "".join(
                json.dumps(c, separators=(",", ":")) + "\n" for c in indexed
            ).encode()
        files["config.json"] = json.dumps(config).encode()
        initrd = initramfs.build_initrd(
            tmp / "initrd", [base.path, mods.path], initramfs.build_run(files)
        )
        run.timings["prepare"] = round(time.monotonic() - t0, 3)
        say("images", [f"{len(images)} disks, {len(cases)} cases, {len(plan.attacks)} attacks"])
        argv = qemu_command(kernel.vmlinuz, initrd, images, results_img)
        say("boot", [kernel.package or str(kernel.vmlinuz), kernel.release])
        console = _boot(argv, profile / "console.log", say, timeout)
        run.timings["guest"] = round(time.monotonic() - t0 - run.timings["prepare"], 3)
        res = read_results(results_img)
        after = {layout.role: img.read_bytes() for layout, img in images}
        run.errors.extend(res.get("errors", []))
        # kernel identity
        uname = res.get("uname", [])
        kernel_info = {
            "uname": uname,
            "release": uname[2] if len(uname) > 2 else kernel.release,
            "uname_version": uname[3] if len(uname) > 3 else "",
            "package": kernel.package,
            "package_version": kernel.version,
            "kernel": kernel_label,
            "modules": mod_names,
            "vmlinuz": str(kernel.vmlinuz),
        }
        _write_json(profile / "kernel.json", kernel_info)
        if "selftest" in res:
            _write_json(profile / "selftest.json", res["selftest"])
        # matrix
        if "matrix" in res:
            by_i = {r["i"]: r for r in res["matrix"]}
            lines = []
            for c in indexed:
                r = by_i.get(c["i"])
                line = _case_line(c)
                if r is None:
                    line["outcome"] = "not-run"
                else:
                    err = r.get("errno") or r.get("open_errno")
                    line["outcome"] = err if err in ("EPERM", "ENOTTY") else "allowed"
                    if err:
                        line["errno"] = err
                    if r.get("open_errno"):
                        line["open_errno"] = r["open_errno"]
                    if r.get("scsi_status") is not None:
                        line["scsi_status"] = r["scsi_status"]
                lines.append(line)
            _write_jsonl(profile / "cases.jsonl", lines)
            run.cases = len(lines)
        if "attacks" in res:
            rows = attacks_mod.judge_attacks(plan, res["attacks"], layouts, before, after)
            _write_jsonl(profile / "attacks.jsonl", rows)
            stray = attacks_mod.unattributed_changes(plan, layouts, before, after)
            if stray:
                run.errors.append(f"blocks changed that no attack claims: {stray}")
            _write_json(
                profile / "disks.json",
                {
                    "layouts": [
                        {
                            "role": d.role,
                            "label": d.label,
                            "blocks": d.blocks,
                            "regions": [
                                {
                                    "name": r.name,
                                    "start": r.start,
                                    "blocks": r.blocks,
                                    "sha256_before": disks_mod.region_hashes(d, before[d.role])[
                                        r.name
                                    ],
                                    "sha256_after": disks_mod.region_hashes(d, after[d.role])[
                                        r.name
                                    ],
                                }
                                for r in d.regions()
                            ],
                        }
                        for d in layouts
                    ],
                    "unattributed_changes": stray,
                    "guest_nodes": res.get("disks", {}),
                    "guest_dm": res.get("dm", {}),
                },
            )
        if "tools" in res:
            names = tools.node_names(res.get("disks", {}))
            _write_jsonl(profile / "tools.jsonl", tools.summarize(tool_plan, res["tools"], names))
        run.timings["total"] = round(time.monotonic() - t0, 3)
        guest_t = res.get("timings", {})
        _write_json(
            profile / "run.json",
            {
                "timings": run.timings,
                "guest_timings": guest_t,
                "guest_elapsed": res.get("guest_elapsed"),
                "guest_uptime": res.get("uptime"),
                "errors": run.errors,
                "cases": run.cases,
                "qemu": argv,
                "console_lines": console,
            },
        )
    return run


@dataclass(frozen=True, slots=True)
class GuestJob:
    """A custom program for the guest: a job module with `run_job(input, disks, dm) -> JSON`.

    `module` must be one of `initramfs.JOB_MODULES` (only those are packed);
    `disks` is what the guest waits for (role -> {"scsi_id", "partitions"});
    `images` are lab disk images attached as virtio-scsi `scsi-hd` disks; `qemu_args`
    more drives and devices (e.g. `iscsi_block_args`).
    """

    module: str
    input: Json
    disks: dict[str, Json]
    images: tuple[tuple[disks_mod.DiskLayout, Path], ...] = ()
    qemu_args: tuple[str, ...] = ()


@dataclass(slots=True)
class JobRun:
    """What a job run produced: the job's JSON result and the guest's whole payload."""

    result: Json
    payload: Json
    console: Path
    argv: list[str]
    timings: dict[str, float] = field(default_factory=dict)


def run_job(
    kernel: KernelTree,
    job: GuestJob,
    *,
    out_dir: Path,
    cache_dir: Path,
    progress: ProgressFn | None = None,
    timeout: float = 600.0,
) -> JobRun:
    """Boot `kernel` with the job's disks, run `job.module` in the guest, return its result.

    The console goes to `out_dir/console.log`, the whole guest payload to
    `out_dir/job.json`. A guest that fails before or inside the job raises
    `InputError` naming the guest's error (see the console log).
    """
    if job.module not in initramfs.JOB_MODULES:
        raise UsageError(
            f"{job.module} is not a lab job module ({', '.join(initramfs.JOB_MODULES)})"
        )
    say = progress or (lambda kind, words: None)
    t0 = time.monotonic()
    out_dir.mkdir(parents=True, exist_ok=True)
    mods, _names = initramfs.build_modules(kernel, cache_dir)
    base = initramfs.build_base(cache_dir)
    job_layer = initramfs.build_job(cache_dir)
    timings: dict[str, float] = {"initramfs": round(time.monotonic() - t0, 3)}
    with tempfile.TemporaryDirectory(prefix="sgguard-job-") as tmpname:
        tmp = Path(tmpname)
        results_img = tmp / "results.img"
        with results_img.open("wb") as f:
            f.truncate(RESULTS_BLOCKS * 512)
        config: Json = {
            "disks": job.disks,
            "results_device": "/dev/vda",
            "job": {"module": job.module, "input": "job.json"},
        }
        files = {
            "config.json": json.dumps(config).encode(),
            "job.json": json.dumps(job.input).encode(),
        }
        initrd = initramfs.build_initrd(
            tmp / "initrd", [base.path, mods.path, job_layer.path], initramfs.build_run(files)
        )
        argv = qemu_command(
            kernel.vmlinuz, initrd, list(job.images), results_img, extra=job.qemu_args
        )
        timings["prepare"] = round(time.monotonic() - t0, 3)
        say("boot", [kernel.package or str(kernel.vmlinuz), kernel.release, job.module])
        console = out_dir / "console.log"
        _boot(argv, console, say, timeout)
        timings["guest"] = round(time.monotonic() - t0 - timings["prepare"], 3)
        payload = read_results(results_img)
    _write_json(out_dir / "job.json", {"payload": payload, "argv": argv, "timings": timings})
    if "job" not in payload:
        raise InputError(
            "the guest job did not finish: " + "; ".join(payload.get("errors", [])),
            where=str(console),
        )
    return JobRun(payload["job"], payload, console, argv, timings)


def _dm_maps(layouts: tuple[disks_mod.DiskLayout, ...]) -> list[Json]:
    by_role = {d.role: d for d in layouts}
    m, a = by_role["matrix"], by_role["atk"]
    return [
        {
            "name": "sgg-mpart",
            "disk": "matrix",
            "start": m.partition(1).start,
            "blocks": m.partition(1).blocks,
        },
        {"name": "sgg-mwhole", "disk": "matrix", "start": 0, "blocks": m.blocks},
        {
            "name": "sgg-apart",
            "disk": "atk",
            "start": a.partition(2).start,
            "blocks": a.partition(2).blocks,
        },
    ]


def _boot(argv: list[str], log: Path, say: ProgressFn, timeout: float) -> int:
    lines = 0
    with log.open("w", encoding="utf-8", errors="replace") as out:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        assert proc.stdout is not None
        watchdog = threading.Timer(timeout, proc.kill)
        watchdog.start()
        try:
            for raw in proc.stdout:
                text = raw.decode("utf-8", "replace").rstrip("\r\n")
                out.write(text + "\n")
                lines += 1
                if text.startswith("@@SGG "):
                    words = text.split()[1:]
                    if words:
                        say(words[0], words[1:])
            proc.wait(timeout=30)
        finally:
            fired = (
                not watchdog.is_alive() and proc.returncode not in (0, None) and proc.returncode < 0
            )
            watchdog.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if fired:
        raise InputError(f"the guest did not finish within {timeout:.0f} s", where=str(log))
    if proc.returncode != 0:
        raise InputError(f"qemu-system-x86_64 exited with status {proc.returncode}", where=str(log))
    return lines


def _write_json(path: Path, obj: object) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def _write_jsonl(path: Path, rows: list[Json]) -> None:
    with path.open("w") as f:
        for row in rows:
            f.write(json.dumps(row, separators=(", ", ": ")) + "\n")


def matrix_for(kernel: str) -> list[Json]:
    """The policy matrix of `kernel` (sgguard.kernel.matrix_cases) as case JSON objects."""
    try:
        from sgguard.kernel import case_to_json, matrix_cases
    except ImportError as exc:
        raise UsageError(f"the policy model (sgguard.kernel) is not available: {exc}") from exc
    return [case_to_json(c) for c in matrix_cases(kernel)]
