"""An example third-party multus plugin: networks of the ``example`` namespace from a JSON file.

Entry points (both named ``example-static``, enabled together):

* ``multus.source``: :mod:`multus_example_source.source` resolves network references;
* ``multus.lifecycle``: :mod:`multus_example_source.lifecycle` logs every finished request.

Nothing is imported here, so that loading one family does not drag in the other.
"""

PLUGIN_NAME = "example-static"
