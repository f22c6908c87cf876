"""`sgguard audit`: is this host exposed to SCSI pass-through escapes?

Owns the command line of the audit: `sgguard audit [--root DIR|CAPTURE.tar]
[--libvirt FILE]... [--json|--sarif] [--fail-on SEVERITY]` and `sgguard audit
capture OUT.tar`. Exit status: 0 when no finding is at or above `--fail-on`
(default high), 1 when one is, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sgguard.errors import UsageError

if TYPE_CHECKING:
    from sgguard.audit.facts import HostFacts, Skipped
    from sgguard.audit.hostfs import RootedFS

__all__ = ["register", "run"]

SEVERITIES = ("info", "low", "medium", "high", "critical")


def _add_source_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--root",
        metavar="DIR|TAR",
        help="read a captured tree (folder or `sgguard audit capture` tar) instead of /",
    )
    p.add_argument(
        "--libvirt",
        metavar="FILE",
        action="append",
        default=[],
        help="also read this libvirt domain XML (repeatable)",
    )
    p.add_argument(
        "--no-dmsetup",
        action="store_true",
        help="do not run `dmsetup table` on a live host",
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "audit",
        help="report which VMs, processes, users and groups can send SCSI commands to which disks",
        description=(
            "Audit a host (or a capture of one) for SCSI pass-through exposure: who can "
            "open which disk node, what the running kernel lets them send, and whose "
            "blocks they then reach. Exit 0: clean; 1: findings at or above --fail-on; "
            "2: usage error."
        ),
    )
    _add_source_args(p)
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print the report as JSON")
    fmt.add_argument("--sarif", action="store_true", help="print the report as SARIF 2.1.0")
    p.add_argument(
        "--fail-on",
        choices=SEVERITIES,
        default="high",
        help="exit 1 when a finding is at or above this severity (default: high)",
    )
    p.set_defaults(func=run, audit_action=None)
    actions = p.add_subparsers(dest="audit_action", metavar="[capture OUT.tar]", required=False)
    c = actions.add_parser(
        "capture",
        help="write a tar of exactly the files the audit reads, plus a /dev manifest",
    )
    c.add_argument("out", metavar="OUT.tar", help="the capture to write")
    _add_source_args(c)
    c.set_defaults(func=run_capture)


def _open_root(root: str | None, stack: contextlib.ExitStack) -> tuple[str, list[Skipped]]:
    from sgguard.audit.capture import open_capture

    if root is None:
        return "/", []
    path = Path(root)
    if path.is_dir():
        return str(path), []
    if path.is_file():
        tmp, skipped = open_capture(path)
        stack.enter_context(tmp)
        return tmp.name, list(skipped)
    raise UsageError(f"--root {root}: no such folder or capture file")


def _gather(args: argparse.Namespace, stack: contextlib.ExitStack) -> tuple[HostFacts, RootedFS]:
    import dataclasses

    from sgguard.audit.hostfs import RootedFS
    from sgguard.audit.reader import read_host

    for f in args.libvirt:
        if not Path(f).is_file():
            raise UsageError(f"--libvirt {f}: no such file")
    root, skipped = _open_root(args.root, stack)
    fs = RootedFS(root)
    facts = read_host(
        root,
        libvirt_files=args.libvirt,
        run_dmsetup=not args.no_dmsetup,
        fs=fs,
        extra_skipped=skipped,
    )
    if args.root is not None:
        facts = dataclasses.replace(facts, root=args.root)
    return facts, fs


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from sgguard.audit.analysis import Severity, analyze
    from sgguard.audit.policy import KernelPolicy
    from sgguard.audit.render import render_json, render_sarif, render_text

    with contextlib.ExitStack() as stack:
        facts, _fs = _gather(args, stack)
        report = analyze(facts, KernelPolicy())
    if args.json:
        sys.stdout.write(render_json(report))
    elif args.sarif:
        sys.stdout.write(render_sarif(report))
    else:
        render_text(report, Console(soft_wrap=False))
    threshold = Severity.parse(args.fail_on)
    worst = report.worst()
    return 1 if worst is not None and worst >= threshold else 0


def run_capture(args: argparse.Namespace) -> int:
    from sgguard.audit.capture import write_capture

    out = Path(args.out)
    if not out.parent.is_dir():
        raise UsageError(f"{args.out}: folder {out.parent} does not exist")
    with contextlib.ExitStack() as stack:
        facts, fs = _gather(args, stack)
        members = write_capture(out, facts, fs.record)
    print(
        f"wrote {out}: {members} members, {len(facts.nodes)} /dev nodes, "
        f"{len(facts.skipped)} skipped sources"
    )
    for s in facts.skipped:
        print(f"skipped source {s.source}: {s.reason}")
    return 0
