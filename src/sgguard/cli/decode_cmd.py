"""`sgguard decode`: describe SCSI CDBs and sense data in words or JSON.

Owns the command line of the SCSI knowledge layer. Each HEX argument is one
CDB: hex digits, optionally prefixed with 0x, optionally separated by spaces,
colons, dashes, dots or underscores between bytes ("28 00 00 00 08 00 00 00 08
00", "28:00:00:00:08:00:00:00:08:00" and "2800000008000000 0800" are the same
CDB). A separator inside a byte ("2 8") is an error. For each CDB it prints
the command's name for every device type that defines the opcode, every field
of its layout, what the command can do (the table's effects), where its LBAs
are and the LBA ranges it touches. `--sense HEX` decodes fixed or descriptor
sense data. Bad input: one line per bad argument on stderr naming the argument
and the field, exit status 2.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import TYPE_CHECKING, Any

from sgguard.errors import InputError

if TYPE_CHECKING:
    from sgguard.scsi.model import DeviceType

__all__ = ["parse_hex", "register", "run"]

_SEP = re.compile(r"[\s:\-._]+")
_HEX = re.compile(r"[0-9a-fA-F]+")


def parse_hex(text: str, what: str) -> bytes:
    """Hex bytes with optional 0x prefix and separators between bytes."""
    s = text.strip()
    if s.lower().startswith("0x"):
        s = s[2:]
    if not s:
        raise InputError("empty hex string", where=what)
    out = bytearray()
    for chunk in _SEP.split(s):
        if not chunk:
            continue
        if not _HEX.fullmatch(chunk):
            bad = next(c for c in chunk if c not in "0123456789abcdefABCDEF")
            raise InputError(f"{bad!r} is not a hex digit", where=what)
        if len(chunk) % 2:
            raise InputError(
                f"hex group {chunk!r} has an odd number of digits (split inside a byte?)",
                where=what,
            )
        out += bytes.fromhex(chunk)
    if not out:
        raise InputError("no hex digits", where=what)
    return bytes(out)


_SINGLE_BYTE = re.compile(r"(?:0[xX])?[0-9a-fA-F]{2}")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "decode",
        help="describe SCSI CDBs (and sense data): names, fields, effects, LBA ranges",
        description=(
            "Describe SCSI CDBs: name per device type, every field, what the command can do"
            " and the LBA ranges it touches. Each HEX argument is one CDB: hex digits,"
            " optionally prefixed with 0x, optionally separated by spaces, colons, dashes,"
            " dots or underscores between bytes. When every argument is a single byte"
            " (`sgguard decode 28 00 00 00 10 00 00 00 08 00`, as sg_raw takes them),"
            " the arguments together are one CDB. Bad input: one line per bad argument on"
            " stderr, exit status 2."
        ),
    )
    p.add_argument("cdbs", nargs="*", metavar="HEX", help="one CDB per argument, in hex")
    p.add_argument(
        "--device-type",
        choices=("sbc", "mmc", "ssc", "smc"),
        default="sbc",
        help="peripheral device type whose meaning of the opcode to decode (default sbc)",
    )
    p.add_argument(
        "--data-out",
        metavar="HEX",
        help="parameter list of the (single) CDB, for UNMAP, EXTENDED COPY, WRITE SCATTERED ...",
    )
    p.add_argument(
        "--sense", action="append", default=[], metavar="HEX", help="sense data to decode"
    )
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.set_defaults(func=run)


def _effects_words(eff: Any) -> list[str]:
    from sgguard.scsi.model import Effect

    words = {
        Effect.READS_MEDIA: "reads media",
        Effect.WRITES_MEDIA: "writes media",
        Effect.ERASES: "erases or unmaps",
        Effect.DEVICE_STATE: "changes device state or configuration",
        Effect.FIRMWARE: "firmware",
        Effect.RESERVATIONS: "reservations",
        Effect.SECURITY: "security",
        Effect.ATA_PASSTHROUGH: "ATA pass-through",
        Effect.UNKNOWN: "unknown (vendor specific or reserved: anything)",
    }
    return [w for flag, w in words.items() if eff & flag] or ["no effect on data"]


def _describe_cdb(raw: bytes, dt: DeviceType, data_out: bytes | None) -> dict[str, Any]:
    from sgguard.scsi import table
    from sgguard.scsi.ata import PROTOCOLS, ata_command, taskfile, transfer
    from sgguard.scsi.cdb import (
        AtaPassThrough12,
        AtaPassThrough16,
        AtaPassThrough32,
        UnknownCdb,
        decode,
        lba_ranges,
    )

    obj = decode(raw, dt)
    row = table.command_for_cdb(raw, dt)
    sa = table.service_action_of(raw, dt)
    variant = row.variant(dt) if row is not None else None
    doc: dict[str, Any] = {
        "cdb": raw.hex(),
        "device_type": dt.name.lower(),
        "opcode": raw[0],
        "service_action": sa,
    }
    others = {d.name.lower(): n for d, n in row.names.items()} if row is not None else {}
    if variant is not None and row is not None:
        doc.update(
            name=variant.name,
            names=others,
            layout=type(obj).__name__,
            cdb_length=row.cdb_length,
            length_note=row.length_note or None,
            direction=variant.direction.value,
            effects=_effects_words(variant.effects),
            lba_source=variant.lba.value,
            standards=list(row.standards),
        )
    else:
        fallback = [r for r in table.for_opcode(raw[0]) if r.service_action in (None, sa)]
        names = {d.name.lower(): n for r in fallback for d, n in r.names.items()}
        doc.update(
            name=f"not defined for {dt.name}"
            + (f" (service action {sa:X}h)" if sa is not None else ""),
            names=names,
            layout=type(obj).__name__,
            cdb_length=len(raw),
            direction=None,
            effects=["unknown: the opcode is not defined for this device type"],
            lba_source=None,
            standards=[],
        )
    if isinstance(obj, UnknownCdb):
        doc["fields"] = {}
    else:
        lay = type(obj).LAYOUT
        fields: dict[str, Any] = {}
        for f in lay.fields:
            if f.kind in ("field", "flag"):
                fields[f.name] = getattr(obj, f.name)
            elif f.kind == "const":
                fields[f.name] = lay.consts[f.name]
        doc["fields"] = fields
        doc["field_positions"] = {
            f.name: {"byte": f.byte, "bit": f.bit, "bits": f.bits}
            for f in lay.fields
            if f.kind != "reserved"
        }
    ranges = lba_ranges(obj, data_out)
    doc["lba_ranges"] = [{"lba": r.lba, "blocks": r.blocks, "to_end": r.to_end} for r in ranges]
    param_sources = {
        "unmap-parameters",
        "xcopy-segments",
        "rod-token-ranges",
        "scattered-ranges",
        "defect-list",
    }
    doc["_param_sources"] = param_sources
    if isinstance(obj, AtaPassThrough12 | AtaPassThrough16 | AtaPassThrough32):
        tf = taskfile(obj)
        cmd = ata_command(tf)
        xfer = transfer(tf)
        doc["ata"] = {
            "protocol_name": PROTOCOLS.get(tf.protocol, "reserved"),
            "transfer": {
                "direction": xfer.direction,
                "length_in": xfer.length_field,
                "length": xfer.length,
                "unit": xfer.unit,
            },
            "command": cmd.code,
            "name": cmd.name,
            "effects": _effects_words(cmd.effects),
            "access": cmd.access.value,
            "lba": tf.lba,
            "count": tf.count,
            "features": tf.features,
            "device": tf.device,
            "extend": tf.extend,
            "protocol": tf.protocol,
            "t_dir": "from device" if tf.t_dir else "to device",
        }
    param_sources = doc.pop("_param_sources")
    needs_data = doc.get("lba_source") in param_sources or (
        "ata" in doc and doc["ata"]["access"] == "dsm"
    )
    doc["lba_ranges_worst_case"] = bool(needs_data and data_out is None and ranges)
    return doc


def _range_text(r: dict[str, Any]) -> str:
    if r["to_end"] and r["blocks"] == 0:
        return f"LBA {r['lba']} to the end of the medium"
    last = r["lba"] + r["blocks"] - 1
    return f"LBA {r['lba']}..{last} ({r['blocks']} blocks)"


def _text(doc: dict[str, Any]) -> str:
    raw = bytes.fromhex(doc["cdb"])
    lines = [" ".join(f"{b:02x}" for b in raw)]
    sa = doc["service_action"]
    head = f"  {doc['name']}  (opcode {doc['opcode']:02X}h"
    if sa is not None:
        head += f", service action {sa:X}h"
    head += f", {len(raw)}-byte CDB"
    if doc.get("direction"):
        head += f", data {doc['direction']}"
    head += ")"
    lines.append(head)
    if doc.get("standards"):
        lines.append("  defined in: " + ", ".join(doc["standards"]))
    if doc["names"]:
        lines.append(
            "  names: " + "; ".join(f"{k.upper()}: {v}" for k, v in sorted(doc["names"].items()))
        )
    if doc.get("length_note"):
        lines.append(f"  length: {doc['length_note']}")
    lines.append("  can do: " + ", ".join(doc["effects"]))
    if doc.get("lba_source"):
        lines.append(f"  LBAs from: {doc['lba_source']}")
    if doc["lba_ranges"]:
        worst = (
            " (worst case: the LBAs are in the parameter list; give it with --data-out)"
            if doc.get("lba_ranges_worst_case")
            else ""
        )
        lines.append("  touches: " + "; ".join(_range_text(r) for r in doc["lba_ranges"]) + worst)
    else:
        lines.append("  touches: no logical blocks")
    if "ata" in doc:
        a = doc["ata"]
        lines.append(
            f"  ATA command: {a['name']} ({a['command']:02X}h), {a['access']}, "
            f"LBA {a['lba']}, count {a['count']}, features {a['features']:#x}, "
            f"{'48-bit' if a['extend'] else '28-bit'} registers; "
            f"can do: {', '.join(a['effects'])}"
        )
        t = a["transfer"]
        lines.append(
            f"  ATA protocol: {a['protocol']} ({a['protocol_name']}); transfer: "
            + (
                "none"
                if t["direction"] == "none"
                else f"data {t['direction']}, length in {t['length_in'].upper()}"
                + (f" = {t['length']}" if t["length"] is not None else "")
                + f" {t['unit']}"
            )
        )
    if doc["fields"]:
        lines.append(f"  fields ({doc['layout']}):")
        pos = doc.get("field_positions", {})
        for name, value in doc["fields"].items():
            p = pos.get(name)
            where = f"byte {p['byte']} bit {p['bit']}, {p['bits']} bit(s)" if p else ""
            shown = value if isinstance(value, bool) else f"{value} ({value:#x})"
            lines.append(f"    {name} = {shown}    [{where}]")
    else:
        lines.append(f"  raw bytes: {len(raw)} (no field layout)")
    return "\n".join(lines)


def _describe_sense(raw: bytes) -> dict[str, Any]:
    from sgguard.scsi.sense import decode_sense

    s = decode_sense(raw)
    fp = s.field_pointer
    return {
        "sense": raw.hex(),
        "response_code": s.response_code,
        "format": "descriptor" if s.descriptor_format else "fixed",
        "deferred": s.deferred,
        "sense_key": s.key.name,
        "asc": s.asc,
        "ascq": s.ascq,
        "asc_text": s.asc_text,
        "information": s.information,
        "command_specific": s.command_specific,
        "field_pointer": None
        if fp is None
        else {"in_cdb": fp.c_d, "byte": fp.field_pointer, "bit": fp.bit_pointer},
        "progress": s.progress,
        "filemark": s.filemark,
        "eom": s.eom,
        "ili": s.ili,
        "descriptors": [{"type": t, "data": b.hex()} for t, b in s.descriptors],
        "text": s.describe(),
    }


def run(args: argparse.Namespace) -> int:
    from sgguard.scsi.cdb import CdbError, ParameterListError
    from sgguard.scsi.model import DeviceType
    from sgguard.scsi.sense import SenseError

    if not args.cdbs and not args.sense:
        raise InputError("nothing to decode: give CDBs as HEX arguments or --sense HEX")
    dt = DeviceType[args.device_type.upper()]
    data_out = None
    if args.data_out is not None:
        if len(args.cdbs) != 1:
            raise InputError("--data-out needs exactly one CDB", where="--data-out")
        data_out = parse_hex(args.data_out, "--data-out")
    cdbs: list[str] = list(args.cdbs)
    if len(cdbs) > 1 and all(_SINGLE_BYTE.fullmatch(t) for t in cdbs):
        cdbs = [" ".join(cdbs)]  # sg_raw style: one byte per argument
    docs: list[dict[str, Any]] = []
    errors: list[str] = []
    for i, text in enumerate(cdbs, 1):
        where = f"argument {i} ({text!r})"
        try:
            raw = parse_hex(text, where)
            docs.append(_describe_cdb(raw, dt, data_out))
        except InputError as exc:
            errors.append(str(exc))
        except ParameterListError as exc:
            errors.append(
                f"--data-out: field {exc.field} (byte {exc.byte}"
                + (f" bit {exc.bit}" if exc.bit is not None else "")
                + f"): {exc.message}"
            )
        except CdbError as exc:
            errors.append(
                f"{where}: field {exc.field} (byte {exc.byte}"
                + (f" bit {exc.bit}" if exc.bit is not None else "")
                + f"): {exc.message}"
            )
    for i, text in enumerate(args.sense, 1):
        where = f"--sense {i} ({text!r})"
        try:
            docs.append(_describe_sense(parse_hex(text, where)))
        except InputError as exc:
            errors.append(str(exc))
        except (SenseError, ValueError) as exc:
            errors.append(f"{where}: {exc}")
    if args.json:
        json.dump(docs, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for doc in docs:
            print(doc["text"] if "sense" in doc else _text(doc))
    for e in errors:
        print(f"sgguard decode: error: {e}", file=sys.stderr)
    return 2 if errors else 0
