"""CNI specification versions and the rules that depend on them."""

from __future__ import annotations

from multus.errors import INCOMPATIBLE_VERSION, CNIError

SUPPORTED_VERSIONS: tuple[str, ...] = ("0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
CURRENT = "1.1.0"


def parse(version: str) -> tuple[int, int, int]:
    """``"0.3.1"`` -> ``(0, 3, 1)``; an empty version is 0.1.0, as in libcni's skel."""
    if version == "":
        return (0, 1, 0)
    parts = version.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise CNIError(INCOMPATIBLE_VERSION, f"invalid cniVersion {version!r}: expected MAJOR.MINOR.PATCH")
    return (int(parts[0]), int(parts[1]), int(parts[2]))


def at_least(version: str, minimum: str) -> bool:
    return parse(version) >= parse(minimum)


def check_supported(version: str) -> str:
    """The version itself (``""`` read as 0.1.0) if we speak it, else error code 1."""
    v = version or "0.1.0"
    parse(v)
    if v not in SUPPORTED_VERSIONS:
        raise CNIError(INCOMPATIBLE_VERSION, f"incompatible CNI versions: config is {v!r}, "
                       f"plugin supports {list(SUPPORTED_VERSIONS)}")
    return v


def version_info(cni_version: str = CURRENT) -> dict[str, object]:
    """The body of the answer to ``VERSION``."""
    return {"cniVersion": cni_version or CURRENT, "supportedVersions": list(SUPPORTED_VERSIONS)}
