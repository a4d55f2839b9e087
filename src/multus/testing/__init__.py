"""Test helpers for multus and for plugin authors (also a pytest plugin, see pytest_plugin).

Public names (imported on first use):

* :func:`make_context` (what the ``request_context`` fixture calls), :func:`base_conf`;
* :func:`cni_env` and :class:`CniOutcome`: the environment of a CNI call, and what the
  ``cni_invoke`` fixture returns;
* :class:`DelegateRecorder` and :class:`DelegateCall`: record the delegates a request invokes,
  without running them; :func:`write_recording_plugin` and :func:`read_calls`: a CNI plugin
  executable that records its calls, and what it recorded.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "make_context": "multus.testing.context", "base_conf": "multus.testing.context",
    "cni_env": "multus.testing.invoke", "CniOutcome": "multus.testing.invoke",
    "DelegateRecorder": "multus.testing.recorder", "DelegateCall": "multus.testing.recorder",
    "write_recording_plugin": "multus.testing.recorder", "read_calls": "multus.testing.recorder",
}

__all__ = ["CniOutcome", "DelegateCall", "DelegateRecorder", "base_conf", "cni_env", "make_context",
           "read_calls", "write_recording_plugin"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'multus.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
