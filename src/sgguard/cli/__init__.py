"""The `sgguard` command line: one subcommand per module in this package.

Owns argument parsing and the mapping of library errors to one-line messages and
exit statuses. Each subcommand module exposes `register(subparsers)`, which adds
its parser and sets `func` to a callable taking the parsed namespace and
returning the exit status. Heavy imports happen inside those callables.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from sgguard import __version__
from sgguard.errors import SgguardError

__all__ = ["main"]

# Subcommand name -> module under sgguard.cli. A module that does not exist yet
# is skipped, so parts can land one at a time.
SUBCOMMANDS: tuple[str, ...] = ("decode", "model", "topology", "serve", "lab", "audit")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sgguard",
        description="SCSI pass-through on shared disks, done safely.",
    )
    parser.add_argument("--version", action="version", version=f"sgguard {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"sgguard.cli.{name}_cmd")
        except ModuleNotFoundError as exc:
            if exc.name == f"sgguard.cli.{name}_cmd":
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return func(args)
    except SgguardError as exc:
        print(f"sgguard {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
