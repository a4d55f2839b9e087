"""The single error boundary between a CNI executable and the runtime.

``run`` reads the environment and stdin, dispatches the verb, prints the result JSON or the CNI
error JSON on **stdout** and returns the exit code (0 or 1). Nothing else in the project prints
to stdout, and no traceback ever reaches the runtime: an unexpected exception becomes error 999
with its text, and the traceback goes to the log.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

from multus.cni import version
from multus.errors import INTERNAL, IO_FAILURE, CNIError

if TYPE_CHECKING:
    from multus.cni.request import CniRequest

log = logging.getLogger("multus")

Handler = Callable[["CniRequest"], "dict[str, Any] | None"]


def _error_version(stdin: bytes) -> str:
    """The cniVersion to stamp on an error: the config's when it can be read."""
    try:
        v = json.loads(stdin).get("cniVersion", "")
        return v if isinstance(v, str) and v in version.SUPPORTED_VERSIONS else version.CURRENT
    except Exception:  # noqa: BLE001 - any unreadable stdin: stamp the current version
        return version.CURRENT


def run(handler: Handler, env: Mapping[str, str], stdin: bytes, stdout: TextIO, stderr: TextIO,
        about: str = "") -> int:
    """Run one CNI verb. ``handler`` gets a validated request; VERSION is answered here."""
    try:
        if env.get("CNI_COMMAND", "") == "" and about:
            # libcni's skel prints the about text and exits 0 when no command is given.
            print(about, file=stderr)
            print("CNI protocol versions supported: " + ", ".join(version.SUPPORTED_VERSIONS), file=stderr)
            return 0
        out: dict[str, Any] | None
        if env.get("CNI_COMMAND") == "VERSION":
            out = version.version_info()  # needs nothing else: answered before the request types load
        else:
            from multus.cni.request import from_environ

            out = handler(from_environ(env, stdin))
    except CNIError as e:
        log.error("%s", e.msg)
        stdout.write(e.to_json(_error_version(stdin)) + "\n")
        stdout.flush()
        return 1
    except BaseExceptionGroup as eg:  # noqa: B036 - several delegates failed at once
        err = CNIError(INTERNAL, "; ".join(str(e) for e in eg.exceptions))
        log.error("%s", err.msg)
        stdout.write(err.to_json(_error_version(stdin)) + "\n")
        return 1
    except Exception as e:  # the boundary: a bug must still produce a CNI error
        log.exception("unexpected error")
        err = CNIError(INTERNAL, f"internal error: {type(e).__name__}: {e}")
        stdout.write(err.to_json(_error_version(stdin)) + "\n")
        return 1
    if out is not None:
        try:
            stdout.write(json.dumps(out) + "\n")
            stdout.flush()
        except OSError as e:
            print(CNIError(IO_FAILURE, f"writing the result: {e}").to_json(), file=stderr)
            return 1
    return 0


def read_stdin(stream: BinaryIO | None = None) -> bytes:
    """All of stdin; a closed or missing stdin reads as empty."""
    s = stream if stream is not None else getattr(sys.stdin, "buffer", None)
    if s is None:
        return b""
    try:
        return s.read()
    except (OSError, ValueError):
        return b""
