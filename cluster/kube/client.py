"""Building a Kubernetes ``ApiClient`` for a stored cluster.

Routescope stores only *where* the credentials are — a kubeconfig path and a context name,
or "in-cluster" — never the credentials themselves. Every connection re-reads them, so
rotating a token in the kubeconfig needs no change here, and nothing secret reaches the
database, a log line or a page.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import yaml
from django.conf import settings
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.config.config_exception import ConfigException

from cluster.kube.errors import KubeConfigError


def request_timeout() -> tuple[float, float]:
    """(connect, read) seconds for every non-watch API call."""
    return (
        float(getattr(settings, "ROUTESCOPE_KUBE_CONNECT_TIMEOUT", 5)),
        float(getattr(settings, "ROUTESCOPE_KUBE_READ_TIMEOUT", 60)),
    )


def kubeconfig_contexts(*, path: str | Path) -> list[str]:
    """The context names defined in a kubeconfig file (one-line error when unreadable)."""
    path = Path(path).expanduser()
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as error:
        raise KubeConfigError(f"cannot read kubeconfig {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise KubeConfigError(f"kubeconfig {path} is not valid YAML: "
                              f"{str(error).splitlines()[0]}") from None
    if not isinstance(data, dict) or not isinstance(data.get("contexts") or [], list):
        raise KubeConfigError(f"kubeconfig {path} has no contexts list")
    return [c.get("name", "") for c in data.get("contexts") or [] if isinstance(c, dict)]


def check_kubeconfig(*, path: str | Path, context: str) -> None:
    """Raise ``KubeConfigError`` unless ``context`` exists in the kubeconfig at ``path``."""
    names = kubeconfig_contexts(path=path)
    if context not in names:
        known = ", ".join(sorted(n for n in names if n)) or "none"
        raise KubeConfigError(f"context {context!r} not found in kubeconfig {path} "
                              f"(contexts: {known})")


def new_api_client(*, kubeconfig_path: str = "", context: str = "",
                   in_cluster: bool = False) -> k8s.ApiClient:
    """A fresh ``ApiClient`` (its own configuration: several clusters side by side)."""
    configuration = k8s.Configuration()
    try:
        if in_cluster:
            k8s_config.load_incluster_config(client_configuration=configuration)
        else:
            check_kubeconfig(path=kubeconfig_path, context=context)
            # persist_config=False: never write refreshed credentials back anywhere.
            k8s_config.load_kube_config(config_file=str(Path(kubeconfig_path).expanduser()),
                                        context=context or None,
                                        client_configuration=configuration,
                                        persist_config=False)
    except ConfigException as error:
        raise KubeConfigError(f"cannot load Kubernetes config: {error}") from None
    return k8s.ApiClient(configuration=configuration)


@contextlib.contextmanager
def connect(*, cluster) -> Iterator[k8s.ApiClient]:
    """An ``ApiClient`` for a stored ``Cluster`` row, closed (pools released) on exit."""
    if not cluster.in_cluster and not cluster.kubeconfig_path:
        raise KubeConfigError(f"cluster {cluster.name!r} has no kubeconfig or in-cluster "
                              "config (it was imported, not added with add_cluster)")
    api_client = new_api_client(kubeconfig_path=cluster.kubeconfig_path,
                                context=cluster.kube_context, in_cluster=cluster.in_cluster)
    try:
        yield api_client
    finally:
        api_client.close()
