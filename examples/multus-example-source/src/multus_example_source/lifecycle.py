"""``multus_lifecycle_request_done``: one log line per request.

Lifecycle hooks that are told about a finished request must not raise (the request's outcome is
already decided); multus logs and ignores an exception, but a plugin should not rely on it.
"""

from __future__ import annotations

import logging

from multus import CNIError, RequestContext, hookimpl

log = logging.getLogger("multus.example_static")


@hookimpl
def multus_lifecycle_request_done(ctx: RequestContext, command: str, error: CNIError | None,
                                  seconds: float) -> None:
    outcome = "ok" if error is None else f"failed with code {error.code}: {error.msg}"
    log.info("example-static: %s of container %s for pod %s %s in %.3f s", command,
             ctx.request.container_id, ctx.pod_label, outcome, seconds)
