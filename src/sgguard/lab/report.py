"""Lab reports: a Markdown summary and a self-contained HTML page for one profile.

Owns the rendering of a profile: the matrix heat map (one column per request:
every SG_IO opcode, the SCSI_IOCTL_SEND_COMMAND CDBs and the other ioctls; one
row per node x open mode x CAP_SYS_RAWIO; coloured by outcome, escapes in red,
model disagreements outlined; hover text names the command with every alias the
kernel's filter knows it by), the per-cell counts, the attack table and the tool
table. The page has no external resources (inline CSS, no scripts needed).
Rendering is pure: `render_markdown` / `render_html` take a Profile and return text.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sgguard.lab.profile import (
    CaseKey,
    Profile,
    case_key,
    command_labels,
    escape_if_allowed,
    model_disagreements,
    model_lines,
)

__all__ = ["CELLS", "render_html", "render_markdown", "write_report"]

Json = dict[str, Any]

NODES = ("disk", "partition", "dm-partial", "dm-whole", "sg")
CELLS: tuple[tuple[str, str, bool], ...] = tuple(
    (n, o, c) for n in NODES for o in ("ro", "rw") for c in (False, True)
)
_OTHER_ORDER = (
    "CDROMEJECT",
    "CDROMCLOSETRAY",
    "SCSI_IOCTL_GET_IDLUN",
    "SCSI_IOCTL_GET_BUS_NUMBER",
    "SCSI_IOCTL_GET_PCI",
    "SCSI_IOCTL_PROBE_HOST",
    "SG_GET_VERSION_NUM",
    "SG_GET_TIMEOUT",
    "SG_SET_TIMEOUT",
    "SG_GET_RESERVED_SIZE",
    "SG_SET_RESERVED_SIZE",
    "SG_EMULATED_HOST",
)


def _columns(cases: Iterable[Json]) -> list[tuple[str, str]]:
    """(ioctl, cdb) request columns: SG_IO by opcode, then SEND_COMMAND, then others."""
    seen: set[tuple[str, str]] = set()
    for c in cases:
        seen.add((str(c["ioctl"]), str(c.get("cdb") or "")))

    def order(col: tuple[str, str]) -> tuple[int, int, str]:
        ioctl, cdb = col
        if ioctl == "SG_IO":
            return (0, int(cdb[:2] or "0", 16), cdb)
        if ioctl == "SCSI_IOCTL_SEND_COMMAND":
            return (1, int(cdb[:2] or "0", 16), cdb)
        idx = _OTHER_ORDER.index(ioctl) if ioctl in _OTHER_ORDER else 99
        return (2, idx, ioctl)

    return sorted(seen, key=order)


def _cell_class(case: Json) -> str:
    out = str(case.get("outcome"))
    if out == "allowed":
        return "esc" if escape_if_allowed(case) else "ok"
    if out == "EPERM":
        return "eperm"
    if out == "ENOTTY":
        return "enotty"
    if out == "not-run":
        return "nr"
    return "oth"


def _label(ioctl: str, cdb: str) -> tuple[str, str]:
    """(short column label, long description with aliases)."""
    if ioctl in ("SG_IO", "SCSI_IOCTL_SEND_COMMAND"):
        name, aliases, _danger = command_labels(cdb)
        aka = f" (also: {', '.join(aliases)})" if aliases else ""
        prefix = "SG_IO" if ioctl == "SG_IO" else "SCSI_IOCTL_SEND_COMMAND"
        return cdb[:2], f"{prefix} {cdb[:2]}h {name}{aka}"
    return ioctl, ioctl


def _summary(p: Profile) -> dict[str, Any]:
    cases = list(p.cases.values())
    counts: dict[str, int] = {}
    for c in cases:
        counts[str(c["outcome"])] = counts.get(str(c["outcome"]), 0) + 1
    escapes = [c for c in cases if c["outcome"] == "allowed" and escape_if_allowed(c)]
    attacks = list(p.attacks.values())
    return {
        "cases": len(cases),
        "counts": counts,
        "escape_cases_nocap": sum(1 for c in escapes if not c["cap_sys_rawio"]),
        "escape_cases_cap": sum(1 for c in escapes if c["cap_sys_rawio"]),
        "attacks": len(attacks),
        "attack_escapes_nocap": sum(1 for a in attacks if a["escape"] and not a["cap_sys_rawio"]),
        "attack_escapes_cap": sum(1 for a in attacks if a["escape"] and a["cap_sys_rawio"]),
        "tools": len(p.tools),
        "tools_failing": sum(1 for t in p.tools.values() if not t["works"]),
    }


def _model(p: Profile) -> dict[CaseKey, Json] | None:
    try:
        return model_lines(p)
    except Exception:  # the model is another area's; a report still renders without it
        return None


def _cell_stats(p: Profile) -> list[tuple[tuple[str, str, bool], dict[str, int]]]:
    out = []
    for cell in CELLS:
        stats: dict[str, int] = {}
        for c in p.cases.values():
            if (c["node"], c["open"], bool(c["cap_sys_rawio"])) == cell:
                k = _cell_class(c)
                stats[k] = stats.get(k, 0) + 1
        out.append((cell, stats))
    return out


def render_markdown(p: Profile, disagreements: list[Json] | None = None) -> str:
    s = _summary(p)
    info = p.info
    lines = [
        f"# sgguard lab report: {info.get('release') or p.kernel}",
        "",
        f"- kernel: `{' '.join(info.get('uname', [])) or p.kernel}`",
        f"- package: `{info.get('package', '')}` {info.get('package_version', '')}",
        f"- matrix cases: {s['cases']} ("
        + ", ".join(f"{k} {v}" for k, v in sorted(s["counts"].items()))
        + ")",
        f"- escapes in the matrix (allowed from partition/dm-partial, command reads or changes "
        f"the medium or device): without CAP_SYS_RAWIO {s['escape_cases_nocap']}, "
        f"with {s['escape_cases_cap']}",
        f"- attacks: {s['attacks']}; escapes without CAP_SYS_RAWIO {s['attack_escapes_nocap']}, "
        f"with {s['attack_escapes_cap']}",
        f"- tools: {s['tools']} runs, {s['tools_failing']} failing",
    ]
    if disagreements is not None:
        lines.append(f"- model disagreements: {len(disagreements)}")
    lines += [
        "",
        "## Matrix per cell",
        "",
        "| node | open | CAP_SYS_RAWIO | allowed | escape | EPERM | ENOTTY | other |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (node, mode, cap), st in _cell_stats(p):
        lines.append(
            f"| {node} | {mode} | {'yes' if cap else 'no'} | {st.get('ok', 0)} | {st.get('esc', 0)} "
            f"| {st.get('eperm', 0)} | {st.get('enotty', 0)} | {st.get('oth', 0) + st.get('nr', 0)} |"
        )
    if disagreements:
        lines += [
            "",
            "## Model disagreements",
            "",
            "| node | open | cap | ioctl | cdb | measured | model | rule |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for d in disagreements:
            c = d["case"]
            lines.append(
                f"| {c['node']} | {c['open']} | {c['cap_sys_rawio']} | {c['ioctl']} | {c.get('cdb') or ''} "
                f"| {d['measured']} | {d['model']} | {d.get('rule') or ''} |"
            )
    lines += [
        "",
        "## Attacks",
        "",
        "| source | CAP_SYS_RAWIO | attack | target | kernel | device | read | changed | escape |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for a in p.attacks.values():
        lines.append(
            f"| {a['source_label']} | {'yes' if a['cap_sys_rawio'] else 'no'} | {a['attack']} "
            f"| {a['target_region']} LBA {a['target_lba']} | {a['outcome']} | {_device(a)} "
            f"| {a['bytes_read']} | {a['bytes_changed']} | {_verdict(a, '**ESCAPE**')} |"
        )
    lines += [
        "",
        "## Tools",
        "",
        "| tool | node | user | exit | works | refused ioctl | opened |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in p.tools.values():
        lines.append(
            f"| {t['tool']} | {t['node']} | {t['user']} | {t['exit']} | {'yes' if t['works'] else 'no'} "
            f"| {_refused(t)} | {_opened(t)} |"
        )
    return "\n".join(lines) + "\n"


# include/scsi/scsi_status.h host bytes (the values SG_IO reports in host_status)
_HOST_BYTES = {
    1: "DID_NO_CONNECT",
    2: "DID_BUS_BUSY",
    3: "DID_TIME_OUT",
    4: "DID_BAD_TARGET",
    5: "DID_ABORT",
    6: "DID_PARITY",
    7: "DID_ERROR",
    8: "DID_RESET",
    9: "DID_BAD_INTR",
}


def _sense_key_name(sk: int) -> str:
    try:
        from sgguard.scsi.sense import SenseKey

        return SenseKey(sk).name.replace("_", " ")
    except Exception:  # another area's table; the number still says it
        return f"sense key {sk:#x}"


def _device(a: Json) -> str:
    """The device's (or HBA's) answer to an allowed attack."""
    if a["outcome"] != "allowed":
        return "-"
    if a.get("host_status"):
        return "host " + _HOST_BYTES.get(a["host_status"], f"{a['host_status']:#x}")
    st = a.get("scsi_status")
    if st == 0:
        return "GOOD"
    if st == 2:
        sk = a.get("sense_key")
        return f"CHECK CONDITION, {_sense_key_name(sk)}" if sk is not None else "CHECK CONDITION"
    return f"status {st}"


def _verdict(a: Json, escape: str) -> str:
    if a["escape"]:
        return escape
    if a.get("forwarded", a["outcome"] == "allowed"):
        return "forwarded to the whole disk; the device refused it"
    return "no"


def _opened(t: Json) -> str:
    nodes: list[str] = t.get("opened_nodes") or t.get("opened") or []
    return " ".join(nodes)


def _refused(t: Json) -> str:
    if t.get("failing_ioctl"):
        return f"{t['failing_ioctl']} {t.get('failing_errno') or ''}".strip()
    return ""


_CSS = """
body{font:13px system-ui,sans-serif;margin:16px;color:#222}
h1{font-size:20px}h2{font-size:16px;margin-top:24px}
table.hm{border-collapse:collapse;table-layout:fixed}
table.hm td{width:5px;height:14px;padding:0;border:0}
table.hm td.sep{width:6px;background:#fff}
table.hm th{font-weight:normal;text-align:right;padding-right:6px;white-space:nowrap;font-size:11px}
table.hm th.top{text-align:left;font-size:10px;padding:0;height:14px;vertical-align:bottom}
td.ok{background:#4caf50}td.esc{background:#d32f2f}td.eperm{background:#ffb300}
td.enotty{background:#90a4ae}td.oth{background:#7b1fa2}td.nr{background:#eee}
td.dis{outline:2px solid #000;outline-offset:-1px}
table.hm td:hover{outline:2px solid #1565c0}
.legend span{display:inline-block;padding:2px 8px;margin-right:6px;color:#fff}
table.t{border-collapse:collapse;margin-top:8px}
table.t td,table.t th{border:1px solid #ccc;padding:2px 6px;font-size:12px;text-align:left}
tr.escape td{background:#ffebee}tr.fail td{background:#fff8e1}
code{font-size:11px}
"""


def render_html(
    p: Profile,
    disagreements: list[Json] | None = None,
    model: dict[CaseKey, Json] | None = None,
) -> str:
    s = _summary(p)
    info = p.info
    cases = list(p.cases.values())
    cols = _columns(cases)
    by_cell: dict[tuple[str, str, bool, str, str], Json] = {}
    for c in cases:
        by_cell[
            (c["node"], c["open"], bool(c["cap_sys_rawio"]), c["ioctl"], c.get("cdb") or "")
        ] = c
    dis_keys: dict[tuple[str, str, bool, str, str], Json] = {}
    for dg in disagreements or []:
        c = dg["case"]
        dis_keys[
            (c["node"], c["open"], bool(c["cap_sys_rawio"]), c["ioctl"], c.get("cdb") or "")
        ] = dg
    labels = {col: _label(*col) for col in cols}
    esc = html.escape
    out: list[str] = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>sgguard lab: {esc(str(info.get('release') or p.kernel))}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>sgguard lab report: {esc(str(info.get('release') or p.kernel))}</h1>",
        "<ul>",
        f"<li>kernel: <code>{esc(' '.join(info.get('uname', [])) or p.kernel)}</code></li>",
        f"<li>package: <code>{esc(str(info.get('package', '')))}</code> {esc(str(info.get('package_version', '')))}</li>",
        f"<li>matrix: {s['cases']} cases ("
        + esc(", ".join(f"{k} {v}" for k, v in sorted(s["counts"].items())))
        + ")</li>",
        f"<li>matrix escapes: without CAP_SYS_RAWIO {s['escape_cases_nocap']}, with {s['escape_cases_cap']}</li>",
        f"<li>attacks: {s['attacks']}; escapes without CAP_SYS_RAWIO "
        f"<b>{s['attack_escapes_nocap']}</b>, with <b>{s['attack_escapes_cap']}</b></li>",
        f"<li>tools: {s['tools']} runs, {s['tools_failing']} failing</li>",
    ]
    if disagreements is not None:
        out.append(f"<li>model disagreements: <b>{len(disagreements)}</b></li>")
    out.append("</ul>")
    out.append("<h2>Policy matrix</h2>")
    out.append(
        "<div class='legend'><span style='background:#4caf50'>allowed</span>"
        "<span style='background:#d32f2f'>allowed: escape</span>"
        "<span style='background:#ffb300'>EPERM</span>"
        "<span style='background:#90a4ae;'>ENOTTY</span>"
        "<span style='background:#7b1fa2'>other</span>"
        "<span style='background:#000'>outlined: model disagrees</span></div>"
    )
    out.append("<table class='hm' id='heatmap'><tr><th></th>")
    prev_group = None
    for col in cols:
        group = col[0] if col[0] in ("SG_IO", "SCSI_IOCTL_SEND_COMMAND") else "other"
        if prev_group is not None and group != prev_group:
            out.append("<th class='top'></th>")
        prev_group = group
        short = labels[col][0]
        mark = group == "SG_IO" and short.endswith("0") and int(short, 16) % 0x20 == 0
        out.append(f"<th class='top'>{esc(short) if mark else ''}</th>")
    out.append("</tr>")
    for node, mode, cap in CELLS:
        out.append(f"<tr><th>{esc(node)} {mode} {'CAP_SYS_RAWIO' if cap else 'no cap'}</th>")
        prev_group = None
        for col in cols:
            group = col[0] if col[0] in ("SG_IO", "SCSI_IOCTL_SEND_COMMAND") else "other"
            if prev_group is not None and group != prev_group:
                out.append("<td class='sep'></td>")
            prev_group = group
            key = (node, mode, cap, col[0], col[1])
            found = by_cell.get(key)
            if found is None:
                out.append("<td class='nr' title='not in this profile'></td>")
                continue
            c = found
            cls = _cell_class(c)
            dis = dis_keys.get(key)
            title = f"{labels[col][1]} | {node} {mode} {'with' if cap else 'without'} CAP_SYS_RAWIO | {c['outcome']}"
            if c.get("errno") and c["errno"] != c["outcome"]:
                title += f" (errno {c['errno']})"
            line = (model or {}).get(case_key(c))
            if line is not None and line.get("aliases"):
                title += " | the kernel's filter knows it as " + ", ".join(line["aliases"])
            if line is not None and line.get("rule"):
                title += f" | model rule {line['rule']}"
            if cls == "esc":
                title += " | ESCAPE: reaches the whole disk"
            if dis is not None:
                cls += " dis"
                title += f" | model says {dis['model']} ({dis.get('rule')})"
            out.append(f"<td class='{cls}' title='{esc(title, quote=True)}'></td>")
        out.append("</tr>")
    out.append("</table>")
    out.append(
        "<p>Columns: SG_IO with every opcode 00h-FFh (CDB = opcode + zeros), then "
        "SCSI_IOCTL_SEND_COMMAND CDBs, then the other ioctls. Hover a cell for the command, "
        "its aliases and the outcome.</p>"
    )
    # per-cell table
    out.append(
        "<h2>Per cell</h2><table class='t'><tr><th>node</th><th>open</th><th>CAP_SYS_RAWIO</th>"
        "<th>allowed</th><th>escape</th><th>EPERM</th><th>ENOTTY</th><th>other</th></tr>"
    )
    for (node, mode, cap), st in _cell_stats(p):
        out.append(
            f"<tr><td>{node}</td><td>{mode}</td><td>{'yes' if cap else 'no'}</td><td>{st.get('ok', 0)}</td>"
            f"<td>{st.get('esc', 0)}</td><td>{st.get('eperm', 0)}</td><td>{st.get('enotty', 0)}</td>"
            f"<td>{st.get('oth', 0) + st.get('nr', 0)}</td></tr>"
        )
    out.append("</table>")
    if disagreements:
        out.append(
            "<h2>Model disagreements</h2><table class='t'><tr><th>node</th><th>open</th><th>cap</th>"
            "<th>ioctl</th><th>cdb</th><th>measured</th><th>model</th><th>rule</th></tr>"
        )
        for d in disagreements:
            c = d["case"]
            out.append(
                f"<tr><td>{esc(c['node'])}</td><td>{c['open']}</td><td>{c['cap_sys_rawio']}</td>"
                f"<td>{esc(c['ioctl'])}</td><td><code>{esc(c.get('cdb') or '')}</code></td>"
                f"<td>{esc(str(d['measured']))}</td><td>{esc(str(d['model']))}</td><td>{esc(str(d.get('rule')))}</td></tr>"
            )
        out.append("</table>")
    out.append(
        "<h2>Attacks</h2><table class='t' id='attacks'><tr><th>source</th><th>CAP_SYS_RAWIO</th>"
        "<th>attack</th><th>CDB</th><th>target</th><th>kernel</th><th>device</th>"
        "<th>bytes read</th><th>bytes changed</th><th>escape</th></tr>"
    )
    for a in p.attacks.values():
        cls = " class='escape'" if a["escape"] else ""
        sample = (
            f" title='{esc(a.get('read_sample', ''), quote=True)}'" if a.get("read_sample") else ""
        )
        out.append(
            f"<tr{cls}><td>{esc(a['source_label'])}</td><td>{'yes' if a['cap_sys_rawio'] else 'no'}</td>"
            f"<td>{esc(a['attack'])}</td><td><code>{esc(a['cdb'][:40])}</code></td>"
            f"<td>{esc(a['target_region'])} LBA {a['target_lba']}</td><td>{esc(a['outcome'])}</td>"
            f"<td>{esc(_device(a))}</td><td{sample}>{a['bytes_read']}</td><td>{a['bytes_changed']}"
            f"{(' ' + esc(','.join(a.get('changed_regions', [])))) if a['bytes_changed'] else ''}</td>"
            f"<td>{_verdict(a, 'ESCAPE')}</td></tr>"
        )
    out.append("</table>")
    out.append(
        "<h2>Tools</h2><table class='t' id='tools'><tr><th>tool</th><th>node</th><th>user</th>"
        "<th>command</th><th>exit</th><th>works</th><th>refused ioctl</th><th>opened</th></tr>"
    )
    for t in p.tools.values():
        cls = "" if t["works"] else " class='fail'"
        out.append(
            f"<tr{cls}><td>{esc(t['tool'])}</td><td>{esc(t['node'])}</td><td>{esc(t['user'])}</td>"
            f"<td><code>{esc(t['argv'])}</code></td><td>{t['exit']}</td><td>{'yes' if t['works'] else 'no'}</td>"
            f"<td>{esc(_refused(t))}</td><td>{esc(_opened(t))}</td></tr>"
        )
    out.append("</table></body></html>")
    return "\n".join(out) + "\n"


def write_report(p: Profile, out_dir: Path, *, with_model: bool = True) -> tuple[Path, Path]:
    """Write report.md and report.html; return their paths."""
    lines = _model(p) if with_model else None
    dis = model_disagreements(p, lines) if lines is not None else None
    out_dir.mkdir(parents=True, exist_ok=True)
    md = out_dir / "report.md"
    page = out_dir / "report.html"
    md.write_text(render_markdown(p, dis))
    page.write_text(render_html(p, dis, lines))
    return md, page
