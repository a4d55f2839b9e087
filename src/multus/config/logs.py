"""Logging as upstream configures it: ``logLevel``, ``logToStderr``, ``logFile``, ``logOptions``.

Lines look like upstream's (``<RFC 3339 time> [<level>] <message>``). Levels: ``debug``,
``verbose``, ``error``, ``panic`` (the default: almost silent). ``logFile`` rotates with the
standard library's handler; rotated files are gzip-compressed unless ``logOptions.compress`` is
false, and those older than ``maxAge`` days are removed. Logs never go to stdout, which belongs
to the CNI protocol.
"""

from __future__ import annotations

import logging
import os
import sys
import time

from multus.config.netconf import MultusConf

# upstream has no warning level: a warning is printed as "[error] warning: ...", from logLevel error up
LEVELS = {"debug": logging.DEBUG, "verbose": logging.INFO, "error": logging.WARNING, "panic": logging.CRITICAL}
LOGGER = "multus"
_HANDLER_MARK = "_multus_handler"


_LEVEL_NAMES = {logging.DEBUG: "debug", logging.INFO: "verbose", logging.WARNING: "error",
                logging.ERROR: "error", logging.CRITICAL: "panic"}


class _Formatter(logging.Formatter):

    def format(self, record: logging.LogRecord) -> str:
        t = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(record.created))
        tz = time.strftime("%z", time.localtime(record.created))
        tz = "Z" if tz in ("+0000", "") else f"{tz[:3]}:{tz[3:]}"
        msg = record.getMessage()
        if record.levelno == logging.WARNING:
            msg = "warning: " + msg
        if record.exc_info:
            msg += "\n" + self.formatException(record.exc_info)
        return f"{t}{tz} [{_LEVEL_NAMES.get(record.levelno, 'debug')}] {msg}"


def _gzip_rotator(source: str, dest: str) -> None:
    import gzip
    import shutil

    with open(source, "rb") as src, gzip.open(dest, "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.remove(source)


def _file_handler(filename: str, max_bytes: int, backups: int, compress: bool, max_age_days: int) -> logging.Handler:
    """A size-rotating handler that compresses rotated files and removes those past ``maxAge``.
    ``logging.handlers`` is imported here: most configurations log to stderr only."""
    import logging.handlers

    class AgingRotatingHandler(logging.handlers.RotatingFileHandler):
        def doRollover(self) -> None:
            super().doRollover()
            if max_age_days > 0:
                limit = time.time() - max_age_days * 86400
                base = os.path.basename(self.baseFilename)
                d = os.path.dirname(self.baseFilename) or "."
                for n in os.listdir(d):
                    p = os.path.join(d, n)
                    if n.startswith(base + ".") and os.path.getmtime(p) < limit:
                        os.remove(p)

    directory = os.path.dirname(filename)
    if directory:
        os.makedirs(directory, exist_ok=True)
    h = AgingRotatingHandler(filename, maxBytes=max_bytes, backupCount=backups)
    if compress:
        h.namer = lambda name: name + ".gz"
        h.rotator = _gzip_rotator
    return h


def configure(conf: MultusConf) -> logging.Logger:
    """(Re)configure the ``multus`` logger for this config."""
    logger = logging.getLogger(LOGGER)
    for h in list(logger.handlers):
        if getattr(h, _HANDLER_MARK, False):
            logger.removeHandler(h)
            h.close()
    level_name = conf.log_level.lower()
    if level_name and level_name not in LEVELS:
        print(f"multus logging: cannot set logging level to {conf.log_level} "
              f"(logLevel must be one of: {', '.join(LEVELS)})", file=sys.stderr)
        level_name = ""
    logger.setLevel(LEVELS.get(level_name, logging.CRITICAL))
    fmt = _Formatter()
    handlers: list[logging.Handler] = []
    if conf.log_to_stderr:
        handlers.append(logging.StreamHandler(sys.stderr))
    if conf.log_file:
        o = conf.log_options
        try:
            handlers.append(_file_handler(
                conf.log_file,
                max_bytes=(o.max_size if o.max_size is not None else 100) * 1024 * 1024,
                backups=o.max_backups if o.max_backups is not None else 5,
                compress=o.compress if o.compress is not None else True,
                max_age_days=o.max_age if o.max_age is not None else 5))
        except OSError as e:
            print(f"multus logging: cannot open logFile {conf.log_file}: {e}", file=sys.stderr)
    if not handlers:
        handlers.append(logging.NullHandler())  # else logging's last resort writes to stderr
    for h in handlers:
        h.setFormatter(fmt)
        setattr(h, _HANDLER_MARK, True)
        logger.addHandler(h)
    return logger
