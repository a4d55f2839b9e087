"""Device IDs from the kubelet's PodResources gRPC API (``v1.PodResourcesLister/List``).

The hook implementation is in :mod:`multus_podresources.source`; the API stubs, generated from
the kubelet's own ``api.proto``, are in :mod:`multus_podresources.api`. ``grpc`` is imported
only when the kubelet is actually asked.
"""
