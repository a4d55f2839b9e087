"""Generated stubs of the kubelet's PodResources API v1 (see README.md here to regenerate).

Importing ``api_pb2_grpc`` imports ``grpc``: do it inside the functions that talk to the kubelet.
"""
