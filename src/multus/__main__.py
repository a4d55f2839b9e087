"""``python -m multus``: the thin ``multus`` CNI plugin, as the ``multus`` executable."""

from multus.cli.thin import main

main()
