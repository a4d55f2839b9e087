"""Multus' own configuration: the netconf it receives on stdin, and logging."""
