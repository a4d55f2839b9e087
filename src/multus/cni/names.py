"""The CNI naming rules, each in one place: interface names, container IDs and network names.

They are libcni's ``utils.ValidateInterfaceName``, ``ValidateContainerID`` and
``ValidateNetworkName``. The interface-name rule is the kernel's (``dev_valid_name``): at most
``IFNAMSIZ - 1`` = 15 **bytes** (a name of 8 ``é`` is 16 bytes, too long), not ``.`` or ``..``, no
``/``, ``:`` or whitespace (Go's ``unicode.IsSpace``); multus also refuses other non-printable
characters (a NUL or an escape would reach the kernel, the environment and file names).

Callers word the error for their context (a ``CNI_IFNAME`` environment variable, a pod
annotation, a libcni call) around the problem text returned here.
"""

from __future__ import annotations

import re

from multus.gocompat import SPACE, byte_len

IFNAMSIZ = 16
"""Linux' ``IFNAMSIZ``: an interface name has at most ``IFNAMSIZ - 1`` bytes."""
MAX_IFNAME_BYTES = IFNAMSIZ - 1

IFNAME_EMPTY = "interface name is empty"
IFNAME_TOO_LONG = "interface name is too long"
IFNAME_DOTS = "interface name is . or .."
IFNAME_BAD_CHARS = "interface name contains / or : or whitespace characters"
IFNAME_CONTROL = "interface name contains control characters"

_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.\-]*")


def interface_name_problem(name: str) -> str:
    """What is wrong with interface name ``name`` (libcni's texts), ``""`` when it is valid."""
    if name == "":
        return IFNAME_EMPTY
    if byte_len(name) > MAX_IFNAME_BYTES:
        return IFNAME_TOO_LONG
    if name in (".", ".."):
        return IFNAME_DOTS
    if any(c in "/:" or c in SPACE for c in name):
        return IFNAME_BAD_CHARS
    if not name.isprintable():
        return IFNAME_CONTROL
    return ""


def valid_name(name: str) -> bool:
    """libcni's container-ID and network-name rule: ``^[a-zA-Z0-9][a-zA-Z0-9_.\\-]*$`` (Go's ``$``:
    the very end, so a trailing newline is refused)."""
    return _NAME.fullmatch(name) is not None
