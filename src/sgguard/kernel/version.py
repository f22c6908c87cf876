"""Kernel version strings: parsing mainline, stable and distribution release names.

Owns `KernelVersion` and `parse_kernel`. Accepted forms: `2.6.32`, `2.6.32.60`,
`3.0.17`, `3.3`, `6.1`, `6.12.117`, and distribution release strings such as
Debian's `6.1.0-56-amd64` and `6.12.117+deb12-amd64`, Ubuntu's `5.15.0-91-generic`
or RHEL's `3.10.0-1160.el7.x86_64` (what `uname -r` prints).

A distribution string of the form `X.Y.0-N-flavour` names an ABI, not a stable
patch level (Debian's `3.2.0-4-amd64` is a 3.2.6x/3.2.10x kernel): its patch level is
recorded as unknown, which matters only where a stable patch level moved a
boundary (3.0.18 and 3.2.2 for CVE-2011-4127).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sgguard.errors import InputError

__all__ = ["KNOWN_SERIES", "KernelVersion", "parse_kernel"]

# Highest minor release of each major series that the model knows (mainline
# releases; 6.x is open-ended up to the releases that existed when the facts were
# gathered, plus headroom for a few more).
KNOWN_SERIES: dict[int, int] = {2: 6, 3: 19, 4: 20, 5: 19, 6: 24}

_VERSION_RE = re.compile(
    r"""^
    (?P<major>\d{1,2})\.(?P<minor>\d{1,3})
    (?:\.(?P<patch>\d{1,4}))?
    (?:\.(?P<sub>\d{1,4}))?                 # 2.6.32.60: the 2.6 stable level
    (?P<suffix>[-+~_][A-Za-z0-9._+~-]+)?    # -56-amd64, +deb12-amd64, .el7.x86_64 (via sub/suffix)
    $""",
    re.VERBOSE,
)
_RHEL_RE = re.compile(r"^(?P<base>\d+\.\d+\.\d+)-(?P<rel>[0-9][0-9.]*)\.el\d+[._A-Za-z0-9]*$")
_ABI_RE = re.compile(r"^-\d+(?:[.-].*)?$")  # Debian/Ubuntu ABI: X.Y.0-N-flavour


@dataclass(frozen=True, slots=True)
class KernelVersion:
    """A Linux release: major.minor.patch (2.6 kernels: 2.6.patch.sub).

    `patch` is None when a distribution string hides it (`3.2.0-4-amd64`); it then
    compares as the newest patch level of its series.
    """

    major: int
    minor: int
    patch: int | None
    text: str
    sub: int = 0  # the 2.6 stable level: 60 in 2.6.32.60
    distro: str | None = None

    @property
    def key(self) -> tuple[int, int, int, int]:
        return (self.major, self.minor, 10**6 if self.patch is None else self.patch, self.sub)

    @property
    def series(self) -> tuple[int, int]:
        return (self.major, self.minor)

    def at_least(self, major: int, minor: int, patch: int = 0, sub: int = 0) -> bool:
        """True when this release is `major.minor.patch[.sub]` or later."""
        return self.key >= (major, minor, patch, sub)

    def __str__(self) -> str:
        return self.text


def parse_kernel(text: object) -> KernelVersion:
    """Parse a kernel release string; raise InputError naming what is wrong."""
    if not isinstance(text, str):
        raise InputError(f"kernel version must be a string, not {type(text).__name__}")
    raw = text.strip()
    if not raw:
        raise InputError("kernel version is empty")
    distro: str | None = None
    m_rhel = _RHEL_RE.match(raw)
    if m_rhel:
        major, minor, rel = (int(x) for x in m_rhel.group("base").split("."))
        # RHEL keeps the base release and backports fixes: its patch level says nothing.
        if (major, minor) == (2, 6):
            return KernelVersion(2, 6, rel, raw, 0, "rhel")
        return _checked(major, minor, None, raw, "rhel")
    m = _VERSION_RE.match(raw)
    if not m:
        raise InputError(
            f"unknown kernel version {raw!r}: expected a release such as 2.6.32, 3.2.2, "
            "6.1 or a uname -r string such as 6.1.0-56-amd64"
        )
    major = int(m.group("major"))
    minor = int(m.group("minor"))
    patch_s = m.group("patch")
    sub_s = m.group("sub")
    suffix = m.group("suffix") or ""
    if major == 2:
        if minor != 6:
            raise InputError(f"unknown kernel version {raw!r}: only 2.6.x of the 2.x series")
        if patch_s is None:
            raise InputError(f"unknown kernel version {raw!r}: 2.6 needs its release (2.6.32)")
        rel = int(patch_s)
        if rel > 39:
            raise InputError(f"unknown kernel version {raw!r}: 2.6 ended with 2.6.39")
        stable = int(sub_s) if sub_s is not None else 0
        return KernelVersion(2, 6, rel, raw, stable, _distro_of(suffix))
    if sub_s is not None:
        raise InputError(f"unknown kernel version {raw!r}: too many version components")
    patch: int | None = int(patch_s) if patch_s is not None else 0
    if suffix:
        distro = _distro_of(suffix)
        if patch == 0 and patch_s is not None and _ABI_RE.match(suffix):
            patch = None  # X.Y.0-N-flavour: a distribution ABI name, patch level unknown
    return _checked(major, minor, patch, raw, distro)


def _distro_of(suffix: str) -> str | None:
    if not suffix:
        return None
    low = suffix.lower()
    for tag in ("deb", "ubuntu", "generic", "el", "fc", "amd64", "arm64"):
        if tag in low:
            return {"amd64": "debian", "arm64": "debian", "deb": "debian", "generic": "ubuntu"}.get(
                tag, tag
            )
    return "other"


def _checked(
    major: int, minor: int, patch: int | None, raw: str, distro: str | None
) -> KernelVersion:
    top = KNOWN_SERIES.get(major)
    if top is None or major == 2:
        raise InputError(f"unknown kernel version {raw!r}: no Linux {major}.x series is modelled")
    if minor > top:
        raise InputError(
            f"unknown kernel version {raw!r}: Linux {major}.{minor} is past {major}.{top}, "
            "the newest release of that series the model knows"
        )
    if major == 3 and minor == 0 and patch is not None and patch > 101:
        raise InputError(f"unknown kernel version {raw!r}: 3.0.x ended with 3.0.101")
    return KernelVersion(major, minor, patch, raw, 0, distro)
