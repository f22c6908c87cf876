"""CDB codec: one typed, frozen dataclass per CDB layout, decode/encode and LBA ranges.

Owns the CDB layouts (each declared once, field by field in the order the
standard prints them; `sgguard.scsi.layout` compiles them), `decode` (CDB bytes
-> typed object, dispatched through the command table by operation code,
service action and device type), `encode` (object -> bytes, refusing values
that do not fit their field) and `lba_ranges` (which logical blocks a command
touches, from its CDB and, where the standard puts them there, its data-out).

Reserved and obsolete bits must be zero; an error names the field and carries
the field pointer (`CdbError.byte`, `CdbError.bit`) for ILLEGAL REQUEST /
INVALID FIELD IN CDB sense data (SPC-5).
"""

from __future__ import annotations

from sgguard.scsi.cdb_layouts import *  # noqa: F403
from sgguard.scsi.cdb_layouts import __all__ as _sbc_names
from sgguard.scsi.cdb_layouts_mmc import *  # noqa: F403
from sgguard.scsi.cdb_layouts_mmc import __all__ as _mmc_names
from sgguard.scsi.cdb_layouts_ssc import *  # noqa: F403
from sgguard.scsi.cdb_layouts_ssc import __all__ as _ssc_names
from sgguard.scsi.codec import (
    MAX_CDB_LENGTH,
    LbaStatus,
    ParameterListError,
    UnknownCdb,
    decode,
    encode,
    layout_class,
    layout_classes,
    lba_ranges,
    lba_status_descriptors,
)
from sgguard.scsi.layout import Cdb, CdbError, FieldInfo, Layout
from sgguard.scsi.model import LbaRange

__all__ = [
    "MAX_CDB_LENGTH",
    "Cdb",
    "CdbError",
    "FieldInfo",
    "LbaRange",
    "Layout",
    "ParameterListError",
    "UnknownCdb",
    "decode",
    "encode",
    "layout_class",
    "layout_classes",
    "LbaStatus",
    "lba_ranges",
    "lba_status_descriptors",
    *_sbc_names,
    *_mmc_names,
    *_ssc_names,
]
