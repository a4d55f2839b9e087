"""The one error type of the project and its CNI codes.

Every failure that reaches the runtime is a :class:`CNIError`; the single error boundary in
:mod:`multus.cni.skel` turns it into the JSON object the CNI spec requires, on stdout, exit 1.
"""

from __future__ import annotations

import json
from typing import Any

# Codes defined by the CNI specification (1.1.0, "Error").
INCOMPATIBLE_VERSION = 1
UNSUPPORTED_FIELD = 2
UNKNOWN_CONTAINER = 3
INVALID_ENV = 4
IO_FAILURE = 5
DECODE_FAILURE = 6
INVALID_CONFIG = 7
TRY_AGAIN_LATER = 11
PLUGIN_NOT_AVAILABLE = 50
PLUGIN_LIMITED_CONNECTIVITY = 51

# Codes of our own (the spec reserves 100 and above for plugins).
DELEGATE_FAILED = 100
"""A delegate plugin failed; ``details`` holds its own error."""
PLUGIN_LOAD_FAILED = 101
"""An enabled multus plugin (entry point) could not be imported."""
TIMEOUT = 102
"""A delegate did not answer in time."""
PLUGIN_FAILED = 103
"""A multus plugin's hook raised an exception that is not a CNIError (the message names the
plugin, its distribution and the hook)."""
INTERNAL = 999
"""A bug: an exception nobody expected."""


class CNIError(Exception):
    """A CNI error: ``code``, a human message ``msg`` and optional ``details``.

    ``msg`` names the offending field or variable, so that an operator can act on it.
    """

    def __init__(self, code: int, msg: str, details: str = "") -> None:
        super().__init__(msg)
        self.code = int(code)
        self.msg = msg
        self.details = details

    def to_dict(self, cni_version: str = "1.1.0") -> dict[str, Any]:
        out: dict[str, Any] = {"cniVersion": cni_version, "code": self.code, "msg": self.msg}
        if self.details:
            out["details"] = self.details
        return out

    def to_json(self, cni_version: str = "1.1.0") -> str:
        return json.dumps(self.to_dict(cni_version))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CNIError:
        code = data.get("code")
        return cls(code if isinstance(code, int) else DELEGATE_FAILED, str(data.get("msg", "")),
                   str(data.get("details", "")))

    def __repr__(self) -> str:
        return f"CNIError({self.code}, {self.msg!r}, {self.details!r})"


def invalid_config(msg: str, details: str = "") -> CNIError:
    return CNIError(INVALID_CONFIG, msg, details)


def invalid_env(msg: str, details: str = "") -> CNIError:
    return CNIError(INVALID_ENV, msg, details)
