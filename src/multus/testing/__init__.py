"""Test helpers for multus and for plugin authors (also a pytest plugin, see pytest_plugin)."""
