"""A lab guest job: sgguard's SG_IO pass-through logical unit over a real disk of the guest.

Owns the guest side of the pass-through test (issue 4, "tested inside a lab
guest"): it opens the real SCSI node of a lab disk (`/dev/sgN` of a virtio-scsi
disk) with `sgguard.sgio.SgDevice`, puts a
`sgguard.target.passthrough.PassthroughLogicalUnit` over one slice of it (first
LBA and length given by the host, e.g. GPT partition 2), and executes the
host's steps: kind `lu` sends a CDB to the logical unit as an initiator would
(`execute(cdb, data_out, nexus)`) and records status, sense and data-in; the
`sgguard.lab.guest_vm` kinds (`sgio`, `tool`, ...) work too, for checks on the
raw disk. The host then verifies the image.
"""

from __future__ import annotations

from typing import Any

from sgguard import sgio
from sgguard.lab import guest, guest_vm
from sgguard.target.api import Nexus
from sgguard.target.identity import Identity
from sgguard.target.passthrough import PassthroughLogicalUnit

__all__ = ["run_job"]

Json = dict[str, Any]


def run_job(job: Json, disks: dict[str, Json], dm: dict[str, str]) -> Json:
    """{"device": NODE, "first", "blocks", "block_size", "target", "slice", "steps"} -> results."""
    path = guest.node_path(job["device"], disks, dm)
    identity = Identity.for_slice(job["target"], job["slice"])
    nexus = Nexus(
        initiator=job.get("initiator", "iqn.2026-11.io.sgguard.lab:guest,i,0x1"),
        target=job["target"],
        lun=0,
        initiator_name=job.get("initiator", "iqn.2026-11.io.sgguard.lab:guest"),
    )
    refusals: list[str] = []
    with sgio.SgDevice(path, write=True) as dev:
        lu = PassthroughLogicalUnit(
            dev,
            int(job["first"]),
            int(job["blocks"]),
            int(job.get("block_size", 512)),
            identity,
            log=lambda rec: refusals.append(str(rec)),
        )

        def lu_step(step: Json) -> Json:
            resp = lu.execute(bytes.fromhex(step["cdb"]), guest_vm._data_out(step), nexus)
            return {
                "status": int(resp.status),
                "sense": bytes(resp.sense).hex(),
                "data": bytes(resp.data_in).hex(),
                "data_length": resp.data_length,
            }

        results = guest_vm.run_steps(job["steps"], disks, dm, extra={"lu": lu_step})
        try:
            lu.flush()
            flush_error = None
        except Exception as exc:  # recorded for the host to judge
            flush_error = f"{type(exc).__name__}: {exc}"
    return {
        "device": path,
        "disks": disks,
        "steps": results,
        "refusals": refusals,
        "flush_error": flush_error,
    }
