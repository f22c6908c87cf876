"""sgguard: SCSI pass-through on shared disks, done safely.

Owns nothing but the package's version; the parts live in subpackages:
scsi (command table, CDB and sense codecs), kernel (policy model), topology,
policy, target (SCSI logical units), iscsi (target protocol and server),
lab (real kernels in QEMU), audit (live host exposure), cli.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
