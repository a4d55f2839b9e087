"""The meta-plugin engine: what multus does for each CNI verb."""
