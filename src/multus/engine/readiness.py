"""``readinessindicatorfile``: wait for the cluster network to say it is ready."""

from __future__ import annotations

import logging
import os
import time

from multus.config.netconf import MultusConf
from multus.errors import TRY_AGAIN_LATER, CNIError

log = logging.getLogger("multus")
POLL_SECONDS = 0.1


def wait(conf: MultusConf) -> None:
    """Poll until the file exists; after ``readinessTimeout`` seconds fail with code 11."""
    f = conf.readiness_indicator_file
    if not f:
        return
    path = os.path.abspath(f)
    deadline = time.monotonic() + conf.readiness_timeout
    while not os.path.exists(path):
        if time.monotonic() >= deadline:
            raise CNIError(TRY_AGAIN_LATER, f"readinessindicatorfile: have you checked that your default network "
                           f"is ready? still waiting for readinessindicatorfile @ {path} after "
                           f"{conf.readiness_timeout:g} s")
        time.sleep(POLL_SECONDS)


def warn_if_missing(conf: MultusConf) -> None:
    f = conf.readiness_indicator_file
    if f and not os.path.exists(f):
        log.warning("readinessindicatorfile %s does not exist", f)
