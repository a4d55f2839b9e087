"""The package's version: the one place it is written.

``pyproject.toml`` reads it at build time (setuptools ``attr:``), the executables print it for
``--version``. ``multus-shim`` runs from a single copied file and carries a copy of this string,
which the test suite keeps equal to this one.
"""

from __future__ import annotations

__version__ = "0.1.0"
