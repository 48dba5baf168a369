"""Building a Kubernetes ``ApiClient`` for a stored cluster.

Routescope stores only *where* the credentials are — a kubeconfig path and a context name,
or "in-cluster" — never the credentials themselves. Every connection re-reads them, so
rotating a token in the kubeconfig needs no change here, and nothing secret reaches the
database, a log line or a page.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.config.config_exception import ConfigException

from cluster.kube.errors import KubeConfigError
from core.version import VERSION

#: Sent with every request (kubectl sends ``kubectl/<version>``): audit logs name us.
USER_AGENT = f"routescope/{VERSION}"
#: Field manager of every write (server-side field ownership and audit).
FIELD_MANAGER = "routescope"


def request_timeout() -> tuple[float, float]:
    """(connect, read) seconds for every non-watch API call."""
    return (
        float(getattr(settings, "ROUTESCOPE_KUBE_CONNECT_TIMEOUT", 5)),
        float(getattr(settings, "ROUTESCOPE_KUBE_READ_TIMEOUT", 60)),
    )


def kubeconfig_files(path: str | Path) -> list[Path]:
    """The files of a kubeconfig path, which may list several as ``KUBECONFIG`` does
    (``a:b``; kubectl and the client merge them, the first file's setting winning)."""
    return [Path(p).expanduser().resolve() for p in str(path).split(os.pathsep) if p]


def default_kubeconfig() -> str:
    """Where kubectl looks: ``KUBECONFIG`` (its existing files), else ``~/.kube/config``;
    "" when none exists."""
    files = [f for f in kubeconfig_files(settings.ROUTESCOPE_KUBECONFIG_DEFAULT) if f.is_file()]
    return os.pathsep.join(str(f) for f in files)


def _contexts(path: str | Path) -> tuple[list[dict], dict | None]:
    files = kubeconfig_files(path)
    if not files:
        raise KubeConfigError("no kubeconfig path given")
    for file in files:
        try:
            file.read_bytes()
        except OSError as error:
            raise KubeConfigError(f"cannot read kubeconfig {file}: {error.strerror}") from None
    try:
        # The client's own kubeconfig reader: the same merge rules as loading it.
        return k8s_config.list_kube_config_contexts(config_file=os.pathsep.join(map(str, files)))
    except ConfigException as error:
        if "no context" in str(error).lower() or "current-context" in str(error):
            return [], None
        raise KubeConfigError(f"kubeconfig {path}: {str(error).splitlines()[0]}") from None
    except Exception as error:
        raise KubeConfigError(
            f"kubeconfig {path} is not valid: "
            f"{str(error).splitlines()[0] if str(error) else type(error).__name__}"
        ) from None


def kubeconfig_contexts(*, path: str | Path) -> list[str]:
    """The context names defined in a kubeconfig (one-line error when unreadable)."""
    contexts, _current = _contexts(path)
    return [c.get("name", "") for c in contexts or [] if isinstance(c, dict)]


def current_context(*, path: str | Path) -> str:
    """The kubeconfig's ``current-context`` ("" when it sets none). With several files,
    kubectl's rule: the first file that sets it wins (the client's merger keeps the last)."""
    import yaml

    _contexts(path)  # readable and valid, or a one-line KubeConfigError
    for file in kubeconfig_files(path):
        data = yaml.safe_load(file.read_text()) or {}
        if isinstance(data, dict) and data.get("current-context"):
            return str(data["current-context"])
    return ""


def check_kubeconfig(*, path: str | Path, context: str) -> None:
    """Raise ``KubeConfigError`` unless ``context`` exists in the kubeconfig at ``path``."""
    names = kubeconfig_contexts(path=path)
    if context not in names:
        known = ", ".join(sorted(n for n in names if n)) or "none"
        raise KubeConfigError(
            f"context {context!r} not found in kubeconfig {path} " f"(contexts: {known})"
        )


def new_api_client(
    *, kubeconfig_path: str = "", context: str = "", in_cluster: bool = False
) -> k8s.ApiClient:
    """A fresh ``ApiClient`` (its own configuration: several clusters side by side)."""
    configuration = k8s.Configuration()
    try:
        if in_cluster:
            # The pod's ServiceAccount: its token (re-read as the kubelet rotates it) and CA,
            # and the API server from KUBERNETES_SERVICE_HOST / _PORT.
            account = Path(settings.ROUTESCOPE_SERVICEACCOUNT_DIR)
            k8s_config.incluster_config.InClusterConfigLoader(
                token_filename=str(account / "token"),
                cert_filename=str(account / "ca.crt"),
            ).load_and_set(client_configuration=configuration)
        else:
            check_kubeconfig(path=kubeconfig_path, context=context)
            # persist_config=False: never write refreshed credentials back anywhere.
            k8s_config.load_kube_config(
                config_file=os.pathsep.join(map(str, kubeconfig_files(kubeconfig_path))),
                context=context or None,
                client_configuration=configuration,
                persist_config=False,
            )
    except ConfigException as error:
        raise KubeConfigError(f"cannot load Kubernetes config: {error}") from None
    api_client = k8s.ApiClient(configuration=configuration)
    api_client.user_agent = USER_AGENT
    return api_client


@contextlib.contextmanager
def connect(*, cluster) -> Iterator[k8s.ApiClient]:
    """An ``ApiClient`` for a stored ``Cluster`` row, closed (pools released) on exit."""
    if not cluster.in_cluster and not cluster.kubeconfig_path:
        raise KubeConfigError(
            f"cluster {cluster.name!r} has no kubeconfig or in-cluster "
            "config (it was imported, not added with add_cluster)"
        )
    api_client = new_api_client(
        kubeconfig_path=cluster.kubeconfig_path,
        context=cluster.kube_context,
        in_cluster=cluster.in_cluster,
    )
    try:
        yield api_client
    finally:
        api_client.close()
