"""Renderings of an audit `Report`: a terminal table (rich), JSON and SARIF 2.1.0.

Owns the output formats. SARIF follows OASIS SARIF 2.1.0 (sarif-v2.1.0 3.13 run,
3.19 tool, 3.49 reportingDescriptor for rules with `help`, 3.27 result with
`level`, 3.28 location with a physical location naming the /dev node and a
logical location naming the principal); skipped sources are tool execution
notifications (3.58) of level "warning".
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from sgguard import __version__
from sgguard.audit.analysis import Finding, Report, Rule, Severity

__all__ = ["SARIF_SCHEMA", "render_json", "render_sarif", "render_text", "report_dict"]

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
_SCORE = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "7.5",
    Severity.MEDIUM: "5.0",
    Severity.LOW: "3.0",
    Severity.INFO: "0.0",
}


def _finding_dict(f: Finding) -> dict[str, Any]:
    return {
        "id": f.rule.id,
        "rule": f.rule.slug,
        "severity": f.severity.label,
        "principal": {
            "kind": f.principal.kind.value,
            "name": f.principal.name,
            "detail": f.principal.detail,
        },
        "node": f.node,
        "access": f.access,
        "capabilities": list(f.capabilities),
        "sends": list(f.sends),
        "dangerous_commands": list(f.aliases),
        "reach": f.reach,
        "reaches": list(f.reaches),
        "why": f.why,
        "remedy": f.remedy,
        "message": f.message,
    }


def report_dict(report: Report) -> dict[str, Any]:
    k = report.facts.kernel
    return {
        "tool": "sgguard audit",
        "version": __version__,
        "root": report.facts.root,
        "kernel": None
        if k is None
        else {"release": k.release, "version": k.version, "unpriv_sgio": k.unpriv_sgio},
        "notes": list(report.notes),
        "disks": [
            {
                "disk": d.disk,
                "hctl": d.hctl,
                "device_type": d.device_type,
                "ident": d.ident,
                "sectors": d.sectors,
                "removable": d.removable,
                "sg": d.sg,
                "slices": list(d.slices),
                "users": list(d.users),
            }
            for d in report.disks
        ],
        "findings": [_finding_dict(f) for f in report.findings],
        "skipped": [{"source": s.source, "reason": s.reason} for s in report.skipped],
        "summary": {
            s.label: sum(1 for f in report.findings if f.severity is s) for s in reversed(Severity)
        },
    }


def render_json(report: Report) -> str:
    return json.dumps(report_dict(report), indent=2) + "\n"


def _rule_dict(rule: Rule) -> dict[str, Any]:
    title = rule.slug.replace("-", " ")
    return {
        "id": rule.id,
        "name": "".join(w.capitalize() for w in rule.slug.split("-")),
        "shortDescription": {"text": title[0].upper() + title[1:]},
        "fullDescription": {"text": rule.help},
        "help": {"text": rule.help, "markdown": rule.help},
        "defaultConfiguration": {"level": _LEVEL[rule.default_severity]},
        "properties": {
            "security-severity": _SCORE[rule.default_severity],
            "tags": ["security", "scsi", "CVE-2011-4127"],
        },
    }


def render_sarif(report: Report) -> str:
    rules = list(Rule)
    index = {r: i for i, r in enumerate(rules)}
    results = []
    for f in report.findings:
        text = f"{f.message}. Reach: {f.reach}" + (
            f" ({'; '.join(f.reaches)})" if f.reaches else ""
        )
        text += f". Why: {f.why}. Remedy: {f.remedy}."
        results.append(
            {
                "ruleId": f.rule.id,
                "ruleIndex": index[f.rule],
                "level": _LEVEL[f.severity],
                "message": {"text": text},
                "locations": [
                    {
                        "physicalLocation": {"artifactLocation": {"uri": f"file://{f.node}"}},
                        "logicalLocations": [
                            {"name": str(f.principal), "kind": f.principal.kind.value}
                        ],
                    }
                ],
                "properties": {
                    "severity": f.severity.label,
                    "security-severity": _SCORE[f.severity],
                    "access": f.access,
                    "capabilities": list(f.capabilities),
                    "sends": list(f.sends),
                    "dangerousCommands": list(f.aliases),
                    "reaches": list(f.reaches),
                },
            }
        )
    doc = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "sgguard",
                        "version": __version__,
                        "informationUri": "https://nvd.nist.gov/vuln/detail/CVE-2011-4127",
                        "rules": [_rule_dict(r) for r in rules],
                    }
                },
                "invocations": [
                    {
                        "executionSuccessful": True,
                        "toolExecutionNotifications": [
                            {
                                "level": "warning",
                                "message": {"text": f"skipped source {s.source}: {s.reason}"},
                            }
                            for s in report.skipped
                        ],
                    }
                ],
                "results": results,
            }
        ],
    }
    return json.dumps(doc, indent=2) + "\n"


_STYLE = {
    Severity.CRITICAL: "bold red",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}


def render_text(report: Report, console: Console) -> None:
    for note in report.notes:
        console.print(note, highlight=False, markup=False)
    for d in report.disks:
        size = f", {d.sectors * 512 // 2**20} MiB" if d.sectors else ""
        removable = ", removable" if d.removable else ""
        head = f"disk {d.disk} (SCSI {d.hctl} type {d.device_type}, {d.ident}{size}{removable}"
        console.print(head + (f", {d.sg})" if d.sg else ")"), highlight=False, markup=False)
        for line in d.slices:
            console.print(f"  slice {line}", highlight=False, markup=False)
        for line in d.users:
            console.print(f"  used by {line}", highlight=False, markup=False)
    if report.findings:
        table = Table(title="sgguard audit findings", show_lines=True)
        for col in ("severity", "id", "principal", "node", "can send", "reach", "why / remedy"):
            table.add_column(col, overflow="fold")
        for f in report.findings:
            caps = f" +{','.join(f.capabilities)}" if f.capabilities else ""
            sends = ", ".join(f.sends) or "nothing (SG_IO refused)"
            if f.aliases:
                sends += "\ndangerous: " + "; ".join(f.aliases)
            reach = f.reach + ("\n" + "\n".join(f.reaches) if f.reaches else "")
            table.add_row(
                f"[{_STYLE[f.severity]}]{f.severity.label}[/]",
                Text(f"{f.rule.id}\n{f.rule.slug}"),
                Text(str(f.principal)),
                Text(f"{f.node} ({f.access}{caps})"),
                Text(sends),
                Text(reach),
                Text(f"{f.why}\nremedy: {f.remedy}"),
            )
        console.print(table)
    else:
        console.print("no findings", highlight=False)
    for s in report.skipped:
        console.print(f"skipped source {s.source}: {s.reason}", highlight=False, markup=False)
