"""The Kubernetes backend: the estate and service specs as Kubernetes objects on a cluster.

Rendering is pure (``targets``, ``ownership``, ``manifests``, ``workloads``, ``secrets``,
``monitoring``, ``rendering``, ``validation``, ``drift``, ``health``); ``kubeconfig``,
``client`` and ``cluster`` do the I/O; :class:`KubernetesBackend` is what the reconciler
calls. docs/kubernetes.md describes it for users.
"""

from civic.backends.kubernetes.backend import KubernetesBackend

__all__ = ["KubernetesBackend"]
