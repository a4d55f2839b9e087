"""The Kubernetes backend of multus: NetworkAttachmentDefinitions, pods, network-status, events.

Found through entry points only (``multus.source``: :mod:`multus_k8s.source`,
``multus.lifecycle``: :mod:`multus_k8s.status`); the core never imports it. The ``kubernetes``
package is imported only when a request actually talks to the API server
(:mod:`multus_k8s.client`).
"""
