"""`sgguard model`: predict what a kernel era does with SCSI pass-through requests.

Owns the command line of the kernel policy model: JSON-lines cases in (a file or
standard input, shared/spec/kernel-cases.md), one outcome line out per case;
`--matrix` for the node x open mode x capability summary of SG_IO over all 256
opcodes (a rich table, or `--json`); without `--cases` the lab's whole policy
matrix is predicted (`--list-cases` prints the matrix cases alone). Bad input is
one line naming the line number and field, exit status 2; `--keep-going`
processes the other lines and exits 2 at the end.
"""

from __future__ import annotations

import argparse
import sys
from typing import IO, TYPE_CHECKING, Any

from sgguard.errors import InputError, UsageError

if TYPE_CHECKING:
    from sgguard.kernel.matrix import MatrixSummary

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "model",
        help="predict a kernel era's SCSI pass-through policy (outcome, rule, escape)",
        description=(
            "Predict what a Linux kernel does with SCSI pass-through ioctls: reads JSON-lines "
            "cases (kernel, node, open, cap_sys_rawio, ioctl, cdb, ...) and writes one outcome "
            "line per case with the deciding kernel rule and whether the request escapes the "
            "opened node. Without --cases, predicts the lab's whole policy matrix."
        ),
    )
    p.add_argument("--kernel", metavar="VERSION", help="kernel release, e.g. 2.6.32, 3.2.2, 6.1")
    p.add_argument("--cases", metavar="FILE", help="JSON-lines case file, or - for standard input")
    p.add_argument(
        "--keep-going",
        action="store_true",
        help="report bad lines on standard error and go on (exit status 2 at the end)",
    )
    p.add_argument(
        "--matrix",
        action="store_true",
        help="summary of SG_IO over all 256 opcodes per node x open mode x capability",
    )
    p.add_argument("--json", action="store_true", help="with --matrix: JSON instead of a table")
    p.add_argument(
        "--eras",
        action="store_true",
        help="list the era boundaries the model knows, and where --kernel stands",
    )
    p.add_argument(
        "--list-cases",
        action="store_true",
        help="print the lab's policy matrix cases (no predictions) as JSON lines",
    )
    p.set_defaults(func=run)


def _running_kernel(err: IO[str]) -> str:
    import platform

    from sgguard.kernel.version import parse_kernel

    release = platform.release()
    try:
        version = parse_kernel(release)
    except InputError as exc:
        raise UsageError(
            f"--kernel not given and the running kernel is not modelled: {exc}"
        ) from None
    from sgguard.kernel.eras import era_name, flags_for

    era = era_name(flags_for(version)[0])
    print(f"note: --kernel not given: using the running kernel {release} (era {era})", file=err)
    return release


def run(args: argparse.Namespace) -> int:
    out = sys.stdout
    err = sys.stderr
    if args.json and not args.matrix:
        raise UsageError("--json goes with --matrix (case output is always JSON lines)")
    if args.cases is not None and (args.matrix or args.list_cases):
        raise UsageError("--cases does not go with --matrix or --list-cases")
    kernel: str | None = args.kernel
    if kernel is not None:
        from sgguard.kernel.version import parse_kernel

        try:
            parse_kernel(kernel)  # an unknown version is a one-line error before any work
        except InputError as exc:
            raise UsageError(f"--kernel: {exc}") from None
    if args.eras:
        _print_eras(kernel, out)
        return 0
    if args.matrix:
        from sgguard.kernel.matrix import summarize

        summary = summarize(kernel or _running_kernel(err))
        if args.json:
            import json

            json.dump(_summary_json(summary), out, indent=2)
            out.write("\n")
        else:
            _print_summary(summary, out)
        return 0
    if args.cases is None:
        return _run_matrix_cases(kernel or _running_kernel(err), args.list_cases, out)
    if args.cases == "-":
        return _run_cases(sys.stdin, "<stdin>", kernel, args.keep_going, out, err)
    try:
        fh = open(args.cases, encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        raise UsageError(f"cannot read {args.cases}: {exc.strerror}") from None
    with fh:
        return _run_cases(fh, args.cases, kernel, args.keep_going, out, err)


def _run_matrix_cases(kernel: str, list_only: bool, out: IO[str]) -> int:
    import json

    from sgguard.kernel.cases import case_to_json, outcome_to_json
    from sgguard.kernel.matrix import matrix_cases
    from sgguard.kernel.policy import evaluate

    dumps = json.dumps
    lines = []
    for case in matrix_cases(kernel):
        obj = case_to_json(case) if list_only else outcome_to_json(case, evaluate(case))
        lines.append(dumps(obj))
    out.write("\n".join(lines) + "\n")
    return 0


def _run_cases(
    lines: IO[str],
    name: str,
    kernel: str | None,
    keep_going: bool,
    out: IO[str],
    err: IO[str],
) -> int:
    import json

    from sgguard.kernel.cases import case_from_json, outcome_to_json
    from sgguard.kernel.policy import evaluate

    loads = json.loads
    dumps = json.dumps
    buf: list[str] = []
    failed = observed = matched = 0
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            try:
                obj = loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"broken JSON: {exc.msg} at column {exc.colno}") from None
            case = case_from_json(obj, kernel)
            result = outcome_to_json(case, evaluate(case))
            if "outcome" in obj:
                result["observed"] = obj["outcome"]
                result["match"] = same = obj["outcome"] == result["outcome"]
                observed += 1
                matched += same
            buf.append(dumps(result))
        except InputError as exc:
            message = f"{name} line {number}: {exc}"
            if not keep_going:
                _flush(buf, out)
                raise InputError(message) from None
            failed += 1
            print(f"sgguard model: error: {message}", file=err)
        if len(buf) >= 4096:
            _flush(buf, out)
    _flush(buf, out)
    if observed:
        print(f"sgguard model: {matched} of {observed} observed outcomes match the model", file=err)
    if failed:
        print(f"sgguard model: {failed} bad line(s) in {name}", file=err)
        return 2
    return 0


def _flush(buf: list[str], out: IO[str]) -> None:
    if buf:
        out.write("\n".join(buf) + "\n")
        buf.clear()


def _summary_json(summary: MatrixSummary) -> dict[str, Any]:
    cells = []
    for c in summary.cells:
        cells.append(
            {
                "node": c.node.value,
                "open": c.open.value,
                "cap_sys_rawio": c.cap_sys_rawio,
                "counts": c.counts,
                "escapes": c.escapes,
                "estimated": c.estimated,
                "rules": c.rules,
                "dangerous": {
                    effect: [
                        {"opcode": f"{d.opcode:02x}", "name": d.name, "alias": d.alias}
                        for d in cmds
                    ]
                    for effect, cmds in c.by_effect().items()
                },
            }
        )
    return {
        "kernel": summary.kernel,
        "era": summary.era,
        "uncertain_boundaries": list(summary.uncertain),
        "ioctl": "SG_IO",
        "opcodes": 256,
        "cells": cells,
    }


def _label(name: str, alias: str | None, opcode: int) -> str:
    return f"{name} ({opcode:02X}h = {alias})" if alias else f"{name} ({opcode:02X}h)"


def _dangerous_text(c: Any) -> str:
    if c.counts["allowed"] == 256:
        return "everything: all 256 opcodes"
    if not c.dangerous:
        return "-"
    parts = []
    for effect, cmds in c.by_effect().items():
        seen: list[str] = []
        for d in cmds:
            label = _label(d.name, d.alias, d.opcode)
            if label not in seen:
                seen.append(label)
        parts.append(f"[bold]{effect}[/bold]: " + ", ".join(seen))
    return "\n".join(parts)


def _print_summary(summary: MatrixSummary, out: IO[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(file=out, width=max(120, Console(file=out).width))
    title = f"SG_IO over opcodes 00h-FFh on Linux {summary.kernel} (era {summary.era})"
    table = Table(title=title, show_lines=True)
    for col in ("node", "open", "CAP_SYS_RAWIO"):
        table.add_column(col, no_wrap=True)
    for col in ("allowed", "EPERM", "ENOTTY", "escapes"):
        table.add_column(col, justify="right")
    table.add_column("dangerous commands let through (effect: name = filter alias)")
    for c in summary.cells:
        table.add_row(
            c.node.value,
            c.open.value,
            "yes" if c.cap_sys_rawio else "no",
            str(c.counts["allowed"]),
            str(c.counts["EPERM"]),
            str(c.counts["ENOTTY"]),
            str(c.escapes),
            _dangerous_text(c),
        )
    console.print(table)
    if summary.uncertain:
        console.print("estimated era boundaries for this release: " + ", ".join(summary.uncertain))


def _print_eras(kernel: str | None, out: IO[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    from sgguard.kernel.eras import BOUNDARIES, era_name, flags_for
    from sgguard.kernel.version import parse_kernel

    state: dict[str, str] = {}
    title = "Era boundaries of the kernel policy model"
    if kernel is not None:
        flags, uncertain = flags_for(parse_kernel(kernel))
        for b in BOUNDARIES:
            has = "yes" if b.feature in flags else "no"
            state[b.feature.value] = has + (" (estimated)" if b.feature in uncertain else "")
        title += f": Linux {kernel} is in era {era_name(flags)}"
    console = Console(file=out, width=max(120, Console(file=out).width))
    table = Table(title=title, show_lines=True)
    table.add_column("feature", no_wrap=True)
    table.add_column("commit")
    table.add_column("what changes")
    if kernel is not None:
        table.add_column(kernel, no_wrap=True)
    for b in BOUNDARIES:
        row = [b.feature.value, b.commit, b.what]
        if kernel is not None:
            row.append(state[b.feature.value])
        table.add_row(*row)
    console.print(table)
