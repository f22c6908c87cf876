"""Third-party copy between slices: EXTENDED COPY (LID1) and RECEIVE COPY RESULTS.

Owns `CopyManager`, the copy manager the logical units of one target (or one
server) share: it carries out EXTENDED COPY (LID1, SPC-4 6.4) parameter lists
made of identification CSCD descriptors (E4h, an NAA designator of a logical
unit, SPC-4 6.4.5.6) and block device to block device segment descriptors (02h,
SPC-4 6.4.6.5), and answers RECEIVE COPY RESULTS (SPC-4 6.18) with COPY STATUS
(00h) and OPERATING PARAMETERS (03h).

Confinement: a CSCD names a logical unit by its NAA identifier, and the manager
resolves it only among the units `peers(nexus)` returns, the units the same
initiator may use through this transport (its ACL). Anything else (another
initiator's slice, the shared disk's own NAA, an unknown designator, another
CSCD or segment type) ends the copy before a block moves, with COPY ABORTED or
ILLEGAL REQUEST and a log record saying why (truncated or oversized lists:
PARAMETER LIST LENGTH ERROR; a segment naming a CSCD that is not in the list:
COPY ABORTED, COPY TARGET DEVICE NOT REACHABLE; a segment beyond a slice's end:
COPY ABORTED, NO ADDITIONAL SENSE INFORMATION; the ASCs libiscsi's suite accepts). Every segment is checked (both
units' range, block size, policy, read-only and write protect, medium state and
reservations for this nexus) before the first block is read, so a refused copy
writes nothing.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sgguard.scsi.layout import CdbError
from sgguard.scsi.sense import Asc
from sgguard.scsi.xcopy import parse_xcopy
from sgguard.target.api import Nexus, Response, Status

if TYPE_CHECKING:
    from sgguard.target.lu import LogicalUnit

__all__ = ["CopyManager", "CopyStatus"]

ILLEGAL_REQUEST = 0x5
COPY_ABORTED = 0xA
DATA_PROTECT = 0x7
MAX_CSCD_DESCRIPTORS = 8
MAX_SEGMENT_DESCRIPTORS = 32
MAX_SEGMENT_BLOCKS = 0xFFFF  # the NUMBER OF BLOCKS field of a block->block segment
MAX_LIST_LENGTH = 16 + 32 * MAX_CSCD_DESCRIPTORS + 28 * MAX_SEGMENT_DESCRIPTORS
CHUNK_BLOCKS = 1024


class _Abort(Exception):
    def __init__(self, key: int, asc: tuple[int, int], why: str, field: int | None = None) -> None:
        super().__init__(why)
        self.key = key
        self.asc = asc
        self.why = why
        self.field = field


@dataclass(frozen=True, slots=True)
class CopyStatus:
    """What RECEIVE COPY RESULTS (COPY STATUS) reports for one list identifier."""

    completed: bool
    good: bool
    segments_processed: int
    bytes_copied: int


@dataclass(frozen=True, slots=True)
class _Plan:
    src: LogicalUnit
    src_lba: int
    dst: LogicalUnit
    dst_lba: int
    blocks: int


class CopyManager:
    """The copy manager of a set of logical units.

    `peers(nexus)` returns the logical units the initiator of `nexus` may use
    (the transport's ACL view, including the unit addressed).
    """

    def __init__(self, peers: Callable[[Nexus], Sequence[LogicalUnit]]) -> None:
        self.peers = peers
        self._lock = threading.Lock()
        self._results: dict[tuple[str, int], CopyStatus] = {}

    # -- entry point from LogicalUnit ------------------------------------------------------
    def execute(
        self, lu: LogicalUnit, cdb: bytes, data_out: bytes | bytearray | memoryview, nexus: Nexus
    ) -> Response:
        """EXTENDED COPY (83h/00h) or RECEIVE COPY RESULTS (84h/00h, 84h/03h) for `lu`."""
        if cdb[0] == 0x83:
            return self._extended_copy(lu, cdb, data_out, nexus)
        return self._receive_copy_results(lu, cdb, nexus)

    # -- RECEIVE COPY RESULTS ----------------------------------------------------------------
    def _receive_copy_results(self, lu: LogicalUnit, cdb: bytes, nexus: Nexus) -> Response:
        sa = cdb[1] & 0x1F
        list_id = cdb[2]
        alloc = struct.unpack_from(">I", cdb, 10)[0]
        if sa == 0x03:
            data = self.operating_parameters()
        else:
            with self._lock:
                status = self._results.get((nexus.initiator, list_id))
            if status is None:
                return lu.refuse(
                    nexus,
                    cdb,
                    f"RECEIVE COPY RESULTS: no copy with list identifier {list_id}",
                    ILLEGAL_REQUEST,
                    Asc.INVALID_FIELD_IN_CDB.value,
                    field=(2, None, True),
                )
            mgr_status = 0x01 if status.good else 0x02
            data = struct.pack(
                ">IBHBI",
                8,
                mgr_status,
                min(status.segments_processed, 0xFFFF),
                0,
                status.bytes_copied,
            )
            if status.bytes_copied > 0xFFFFFFFF:  # report in kibibytes (units F1h)
                data = struct.pack(
                    ">IBHBI",
                    8,
                    mgr_status,
                    status.segments_processed,
                    0xF1,
                    status.bytes_copied >> 10,
                )
        return Response(Status.GOOD, data[:alloc], b"", len(data))

    @staticmethod
    def operating_parameters() -> bytes:
        """SPC-4 6.18.4 RECEIVE COPY RESULTS, OPERATING PARAMETERS."""
        descriptors = bytes((0x02, 0xE4))
        body = bytearray(40)
        body[0] = 0x01  # SNLID: lists without an identifier are supported
        struct.pack_into(">HH", body, 4, MAX_CSCD_DESCRIPTORS, MAX_SEGMENT_DESCRIPTORS)
        struct.pack_into(">I", body, 8, MAX_LIST_LENGTH)
        struct.pack_into(">I", body, 12, MAX_SEGMENT_BLOCKS * 512)  # MAXIMUM SEGMENT LENGTH
        struct.pack_into(">H", body, 32, 1)  # TOTAL CONCURRENT COPIES
        body[34] = 1  # MAXIMUM CONCURRENT COPIES
        body[35] = 9  # DATA SEGMENT GRANULARITY: 2**9 bytes
        body[39] = len(descriptors)  # IMPLEMENTED DESCRIPTOR LIST LENGTH
        payload = bytes(body) + descriptors
        return struct.pack(">I", len(payload)) + payload

    # -- EXTENDED COPY --------------------------------------------------------------------------
    def _extended_copy(
        self, lu: LogicalUnit, cdb: bytes, data_out: bytes | bytearray | memoryview, nexus: Nexus
    ) -> Response:
        plen = struct.unpack_from(">I", cdb, 10)[0]
        data = bytes(data_out[:plen])
        if not data:
            return Response(Status.GOOD, b"", b"", plen)
        list_id = data[0]
        usage = (data[1] >> 3) & 0x03 if len(data) > 1 else 0
        key = None if usage == 0x03 else (nexus.initiator, list_id)
        try:
            plans = self._plan(lu, data, nexus)
        except _Abort as ab:
            field = None if ab.field is None else (ab.field, None, False)
            return lu.refuse(nexus, cdb, f"EXTENDED COPY: {ab.why}", ab.key, ab.asc, field=field)
        copied = 0
        done = 0
        for plan in plans:
            self._copy(plan)
            copied += plan.blocks * plan.src.backend.block_size
            done += 1
        if key is not None:
            with self._lock:
                if len(self._results) > 1024:
                    self._results.clear()
                self._results[key] = CopyStatus(True, True, done, copied)
        return Response(Status.GOOD, b"", b"", plen)

    def _resolve(self, lu: LogicalUnit, nexus: Nexus, designator: bytes, index: int) -> LogicalUnit:
        if len(designator) < 4:
            raise _Abort(ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_PARAMETER_LIST.value, "short CSCD")
        code_set, kind, length = designator[0] & 0x0F, designator[1], designator[3]
        if kind & 0x0F != 0x3 or kind & 0x30 or code_set != 0x1:
            raise _Abort(
                COPY_ABORTED,
                Asc.COPY_TARGET_DEVICE_NOT_REACHABLE.value,
                f"CSCD {index}: only NAA designators of logical units are accepted",
            )
        naa = designator[4 : 4 + length]
        for peer in self.peers(nexus):
            if peer.identity.naa == naa:
                return peer
        raise _Abort(
            COPY_ABORTED,
            Asc.COPY_TARGET_DEVICE_NOT_REACHABLE.value,
            f"CSCD {index}: NAA {naa.hex()} is not a logical unit {nexus.initiator} may use",
        )

    def _plan(self, lu: LogicalUnit, data: bytes, nexus: Nexus) -> list[_Plan]:
        length_error = Asc.PARAMETER_LIST_LENGTH_ERROR.value
        if len(data) < 16:
            raise _Abort(ILLEGAL_REQUEST, length_error, "parameter list shorter than its header")
        lists = struct.unpack_from(">H", data, 2)[0] + struct.unpack_from(">I", data, 8)[0]
        if lists > MAX_LIST_LENGTH:
            raise _Abort(
                ILLEGAL_REQUEST,
                length_error,
                f"descriptor lists of {lists} bytes exceed the maximum",
            )
        try:
            parsed = parse_xcopy(data)
        except CdbError as exc:  # every parse error is a list running past the data
            raise _Abort(ILLEGAL_REQUEST, length_error, exc.message) from None
        if len(parsed.cscds) > MAX_CSCD_DESCRIPTORS:
            raise _Abort(ILLEGAL_REQUEST, Asc.TOO_MANY_TARGET_DESCRIPTORS.value, "too many CSCDs")
        if len(parsed.segments) > MAX_SEGMENT_DESCRIPTORS:
            raise _Abort(
                ILLEGAL_REQUEST, Asc.TOO_MANY_SEGMENT_DESCRIPTORS.value, "too many segments"
            )
        if data[12:16] != bytes(4):
            raise _Abort(
                ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_PARAMETER_LIST.value, "inline data", field=12
            )
        units: list[LogicalUnit] = []
        for cscd in parsed.cscds:
            if cscd.type_code != 0xE4:
                raise _Abort(
                    ILLEGAL_REQUEST,
                    Asc.UNSUPPORTED_TARGET_DESCRIPTOR_TYPE_CODE.value,
                    f"CSCD type {cscd.type_code:#04x} is not supported (only E4h)",
                )
            if cscd.peripheral_device_type != 0:
                raise _Abort(
                    COPY_ABORTED,
                    Asc.INCORRECT_COPY_TARGET_DEVICE_TYPE.value,
                    f"CSCD {cscd.index}: peripheral device type {cscd.peripheral_device_type}",
                )
            unit = self._resolve(lu, nexus, cscd.designator, cscd.index)
            if cscd.block_length is not None and cscd.block_length != unit.backend.block_size:
                raise _Abort(
                    ILLEGAL_REQUEST,
                    Asc.INVALID_FIELD_IN_PARAMETER_LIST.value,
                    f"CSCD {cscd.index}: disk block length {cscd.block_length}",
                )
            units.append(unit)
        plans: list[_Plan] = []
        for i, seg in enumerate(parsed.segments):
            if seg.type_code != 0x02:
                raise _Abort(
                    ILLEGAL_REQUEST,
                    Asc.UNSUPPORTED_SEGMENT_DESCRIPTOR_TYPE_CODE.value,
                    f"segment {i}: type {seg.type_code:#04x} is not supported (only 02h)",
                )
            if not (0 <= seg.source < len(units) and 0 <= seg.destination < len(units)):
                raise _Abort(
                    COPY_ABORTED,
                    Asc.COPY_TARGET_DEVICE_NOT_REACHABLE.value,
                    f"segment {i}: CSCD index out of the list",
                )
            src, dst = units[seg.source], units[seg.destination]
            s_range, d_range = seg.source_range, seg.destination_range
            assert s_range is not None and d_range is not None
            if src.backend.block_size != dst.backend.block_size:
                raise _Abort(
                    ILLEGAL_REQUEST,
                    Asc.INVALID_FIELD_IN_PARAMETER_LIST.value,
                    f"segment {i}: block sizes differ",
                )
            blocks = s_range.blocks
            for unit, rng, what in ((src, s_range, "source"), (dst, d_range, "destination")):
                if rng.lba + blocks > unit.backend.num_blocks:
                    raise _Abort(
                        COPY_ABORTED,
                        (0x00, 0x00),  # NO ADDITIONAL SENSE INFORMATION: the log says which
                        f"segment {i}: {what} blocks [{rng.lba}, +{blocks}) beyond the slice",
                    )
            why = src.copy_refusal(nexus, write=False)
            if why is None:
                why = dst.copy_refusal(nexus, write=True)
            if why is not None:
                key, asc = (
                    (DATA_PROTECT, Asc.WRITE_PROTECTED.value)
                    if why == "write protected"
                    else (COPY_ABORTED, Asc.COPY_TARGET_DEVICE_NOT_REACHABLE.value)
                )
                raise _Abort(key, asc, f"segment {i}: {why}")
            if blocks:
                plans.append(_Plan(src, s_range.lba, dst, d_range.lba, blocks))
        return plans

    @staticmethod
    def _copy(plan: _Plan) -> None:
        done = 0
        while done < plan.blocks:
            n = min(CHUNK_BLOCKS, plan.blocks - done)
            data = plan.src.backend.read(plan.src_lba + done, n)
            plan.dst.write_blocks(plan.dst_lba + done, data)
            done += n
