"""Device IDs from the kubelet's device-manager checkpoint, when its PodResources socket is absent.

The hook implementation is in :mod:`multus_checkpoint.source`.
"""
