"""An example meta-plugin built on multus: ``multus-example-meta`` gives every pod the cluster
network as ``eth0`` and the network of the configuration key ``secondNetwork`` as ``net1``.

Its plugins are plain objects registered by :func:`multus_example_meta.cli.main` through
``multus.cni_main``; it declares no ``multus.*`` entry point, so installing it changes nothing
for the ``multus`` executable.
"""
