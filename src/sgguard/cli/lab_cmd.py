"""`sgguard lab`: run a real kernel in QEMU, diff profiles, write reports.

Owns the lab's command line: `lab run` (kernel choice, profile folder, progress
on the terminal), `lab diff A B` (profiles or `model:<kernel>`; exit 1 when they
differ) and `lab report PROFILE` (report.md + report.html).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from sgguard.errors import UsageError

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "lab",
        help="boot a real kernel in QEMU and measure its SCSI pass-through policy",
        description="Boot a real kernel in QEMU, run the policy matrix, attacks and real tools; "
        "diff profiles; write reports.",
    )
    lab = p.add_subparsers(dest="lab_command", metavar="ACTION")
    r = lab.add_parser("run", help="boot a kernel and write a profile folder")
    r.add_argument(
        "--kernel-deb",
        metavar="PKG|FILE",
        help="Debian kernel package name (meta or concrete) or a .deb file "
        "(default: the package behind linux-image-amd64)",
    )
    r.add_argument("--vmlinuz", type=Path, help="kernel image (with --modules)")
    r.add_argument("--modules", type=Path, help="lib/modules/<release> folder (with --vmlinuz)")
    r.add_argument("--out", type=Path, help="profile folder (default: ./lab-<release>)")
    r.add_argument("--cache", type=Path, help="cache folder (default: ~/.cache/sgguard)")
    r.add_argument(
        "--kernel-version",
        help="model version for the matrix (default: major.minor of the kernel release)",
    )
    r.add_argument(
        "--corpus",
        action="append",
        choices=("selftest", "attacks", "tools", "matrix"),
        help="run only these corpora (repeatable; default: all)",
    )
    r.add_argument(
        "--timeout", type=float, default=900.0, help="seconds before the guest is killed"
    )
    r.add_argument("--no-report", action="store_true", help="do not write report.md/html")
    r.set_defaults(lab_func=_run)
    d = lab.add_parser("diff", help="compare two profiles (or a profile and model:<kernel>)")
    d.add_argument("a", help="profile folder or model:<kernel>")
    d.add_argument("b", help="profile folder or model:<kernel>")
    d.add_argument("--json", action="store_true", help="JSON output")
    d.add_argument(
        "--no-model", action="store_true", help="do not compare each profile with the model"
    )
    d.set_defaults(lab_func=_diff)
    rep = lab.add_parser("report", help="write report.md and report.html for a profile")
    rep.add_argument("profile", help="profile folder")
    rep.add_argument("--out", type=Path, help="output folder (default: the profile folder)")
    rep.add_argument("--no-model", action="store_true", help="do not compare with the model")
    rep.set_defaults(lab_func=_report)
    p.set_defaults(func=run, lab_parser=p)


def run(args: argparse.Namespace) -> int:
    func = getattr(args, "lab_func", None)
    if func is None:
        args.lab_parser.print_help()
        return 2
    result: int = func(args)
    return result


class _Progress:
    """Progress lines on the terminal (one rewritten line on a TTY)."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, kind: str, words: list[str]) -> None:
        el = time.monotonic() - self.t0
        if kind == "progress" and len(words) >= 3:
            now = time.monotonic()
            done, total = words[1], words[2]
            if self.tty:
                sys.stderr.write(f"\r[{el:6.1f}s] {words[0]} {done}/{total}   ")
                sys.stderr.flush()
            elif done == total or now - self.last > 2.0:
                print(f"[{el:6.1f}s] {words[0]} {done}/{total}", file=sys.stderr, flush=True)
                self.last = now
            return
        text = " ".join(w for w in words if not w.startswith("t="))
        if kind == "disks":
            text = "found"
        if self.tty:
            sys.stderr.write("\r")
        print(f"[{el:6.1f}s] {kind} {text}".rstrip(), file=sys.stderr, flush=True)


def _run(args: argparse.Namespace) -> int:
    from sgguard.lab import kernels, report, runner
    from sgguard.lab.profile import kernel_label, load_profile, model_disagreements

    cache = args.cache or kernels.default_cache_dir()
    if (args.vmlinuz is None) != (args.modules is None):
        raise UsageError("--vmlinuz and --modules go together")
    if args.vmlinuz is not None:
        if args.kernel_deb:
            raise UsageError("give either --kernel-deb or --vmlinuz/--modules, not both")
        tree = kernels.tree_from_files(args.vmlinuz, args.modules)
    else:
        print(
            f"kernel: {args.kernel_deb or kernels.DEFAULT_KERNEL_META} (cache {cache})",
            file=sys.stderr,
        )
        tree = kernels.fetch_kernel(args.kernel_deb, cache)
    label = args.kernel_version or kernel_label(tree.release)
    corpora = tuple(args.corpus or ("selftest", "attacks", "tools", "matrix"))
    cases = runner.matrix_for(label) if "matrix" in corpora else []
    out = args.out or Path(f"lab-{tree.release}")
    print(
        f"booting {tree.package or tree.vmlinuz} ({tree.release}), {len(cases)} matrix cases "
        f"-> {out}",
        file=sys.stderr,
    )
    res = runner.run_lab(
        tree,
        out,
        cases,
        cache_dir=cache,
        progress=_Progress(),
        timeout=args.timeout,
        corpora=corpora,
        kernel_label=label,
    )
    prof = load_profile(str(out))
    dis = model_disagreements(prof) if cases else []
    esc_nocap = sum(1 for a in prof.attacks.values() if a["escape"] and not a["cap_sys_rawio"])
    esc_cap = sum(1 for a in prof.attacks.values() if a["escape"] and a["cap_sys_rawio"])
    if not args.no_report:
        report.write_report(prof, out)
    print(f"profile: {out}")
    print(
        f"  time: {res.timings.get('total', 0):.1f} s (guest {res.timings.get('guest', 0):.1f} s)"
    )
    print(f"  matrix: {len(prof.cases)} cases, model disagreements: {len(dis)}")
    print(
        f"  attacks: {len(prof.attacks)}, escapes without CAP_SYS_RAWIO: {esc_nocap}, "
        f"with: {esc_cap}"
    )
    failing = sum(1 for t in prof.tools.values() if not t["works"])
    print(f"  tools: {len(prof.tools)} runs, {failing} failing")
    for err in res.errors:
        print(f"  guest error: {err}")
    return 0


def _diff(args: argparse.Namespace) -> int:
    from sgguard.lab.profile import diff_profiles, load_profile, render_diff

    a = load_profile(args.a)
    b = load_profile(args.b)
    d = diff_profiles(a, b, with_model=not args.no_model)
    if args.json:
        obj = {
            "a": d.a,
            "b": d.b,
            "cases": [{"case": c.case, "a": c.a, "b": c.b, "kind": c.kind} for c in d.cases],
            "attacks": [{"id": x["id"], "kind": x["kind"]} for x in d.attacks],
            "tools": [{"id": x["id"], "kind": x["kind"]} for x in d.tools],
            "model_disagreements_a": d.model_a,
            "model_disagreements_b": d.model_b,
            "count": d.count,
        }
        print(json.dumps(obj, indent=1, default=str))
    else:
        sys.stdout.write(render_diff(d))
    return 1 if d.count else 0


def _report(args: argparse.Namespace) -> int:
    from sgguard.lab.profile import load_profile
    from sgguard.lab.report import write_report

    prof = load_profile(args.profile)
    if prof.is_model:
        raise UsageError("lab report needs a measured profile folder, not the model")
    md, page = write_report(prof, args.out or Path(args.profile), with_model=not args.no_model)
    print(md)
    print(page)
    return 0
