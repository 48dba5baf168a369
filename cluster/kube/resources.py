"""List, watch, get and patch the resources Routescope follows.

Responses are read raw (``_preload_content=False``) and parsed as plain JSON: we store the
objects in kubectl form anyway, and building 150,000 pydantic models only to turn them back
into dicts would dominate a large sync. The JSON is decoded by msgspec
(``cluster.fastjson.loads``: the standard library's acceptance and wording). Every
call carries an explicit ``_request_timeout``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from kubernetes import client as k8s

from cluster.fastjson import loads
from cluster.kube.client import FIELD_MANAGER, request_timeout
from cluster.kube.errors import KubeError, KubeGone, translate

PAGE_SIZE = 500


@dataclass(frozen=True)
class Resource:
    """A followed resource: how to list it cluster-wide and how its items are typed."""

    plural: str
    kind: str
    api_version: str
    api: Callable[[k8s.ApiClient], object]
    list_method: str


RESOURCES: tuple[Resource, ...] = (
    Resource("nodes", "Node", "v1", k8s.CoreV1Api, "list_node"),
    Resource("services", "Service", "v1", k8s.CoreV1Api, "list_service_for_all_namespaces"),
    Resource(
        "endpointslices",
        "EndpointSlice",
        "discovery.k8s.io/v1",
        k8s.DiscoveryV1Api,
        "list_endpoint_slice_for_all_namespaces",
    ),
    Resource("pods", "Pod", "v1", k8s.CoreV1Api, "list_pod_for_all_namespaces"),
)
BY_KIND = {r.kind: r for r in RESOURCES}
#: Watched beside RESOURCES, in kube-system only, for the kube-proxy ConfigMap.
CONFIGMAPS = Resource("configmaps", "ConfigMap", "v1", k8s.CoreV1Api, "list_namespaced_config_map")
KUBE_PROXY_CONFIGMAP = ("kube-system", "kube-proxy")


def _read_json(response) -> dict:
    try:
        return loads(response.data)
    finally:
        response.release_conn()


def list_objects(
    api_client: k8s.ApiClient,
    resource: Resource,
    *,
    page_size: int = PAGE_SIZE,
    on_page: Callable[[int], None] | None = None,
    restarts: int = 2,
) -> tuple[list[dict], str]:
    """Every object of ``resource`` (kubectl form) and the list's resourceVersion.

    Pages with ``limit``/``continue``; the server pins one consistent snapshot across the
    pages, so the returned resourceVersion is where a watch resumes without a gap. When
    the continue token expires mid-list (410: the snapshot was compacted), the list starts
    over for a new consistent snapshot, as client-go's pager does (``restarts`` times).
    """
    for attempt in range(restarts + 1):
        try:
            return _list_pages(api_client, resource, page_size=page_size, on_page=on_page)
        except KubeGone:
            if attempt == restarts:
                raise
    raise AssertionError("unreachable")


def _list_pages(api_client, resource, *, page_size, on_page) -> tuple[list[dict], str]:
    method = getattr(resource.api(api_client), resource.list_method)
    items: list[dict] = []
    token, rv = None, ""
    while True:
        kwargs = {
            "limit": page_size,
            "_preload_content": False,
            "_request_timeout": request_timeout(),
        }
        if token:
            kwargs["_continue"] = token
        try:
            page = _read_json(method(**kwargs))
        except Exception as error:
            raise translate(error, what=f"list {resource.plural}") from None
        for item in page.get("items") or ():
            # List items come without kind/apiVersion; kubectl (and our store) has them.
            item.setdefault("apiVersion", resource.api_version)
            item.setdefault("kind", resource.kind)
            items.append(item)
        rv = (page.get("metadata") or {}).get("resourceVersion") or rv
        token = (page.get("metadata") or {}).get("continue")
        if on_page:
            on_page(len(items))
        if not token:
            return items, rv


def read_configmap(api_client: k8s.ApiClient, namespace: str, name: str) -> dict | None:
    """A ConfigMap in kubectl form, or None when it does not exist."""
    try:
        return _read_json(
            k8s.CoreV1Api(api_client).read_namespaced_config_map(
                name, namespace, _preload_content=False, _request_timeout=request_timeout()
            )
        )
    except Exception as error:
        failure = translate(error, what=f"get configmap {namespace}/{name}")
        if failure.code == 404:
            return None
        raise failure from None


_GETTERS = {
    "Service": (k8s.CoreV1Api, "read_namespaced_service", "patch_namespaced_service"),
    "ConfigMap": (k8s.CoreV1Api, "read_namespaced_config_map", "patch_namespaced_config_map"),
    "DaemonSet": (k8s.AppsV1Api, "read_namespaced_daemon_set", "patch_namespaced_daemon_set"),
}


def get_object(api_client: k8s.ApiClient, kind: str, namespace: str, name: str) -> dict:
    """One namespaced object (Service, ConfigMap or DaemonSet) in kubectl form."""
    api, getter, _patcher = _GETTERS[kind]
    try:
        return _read_json(
            getattr(api(api_client), getter)(
                name, namespace, _preload_content=False, _request_timeout=request_timeout()
            )
        )
    except Exception as error:
        raise translate(error, what=f"get {kind} {namespace}/{name}") from None


def patch_object(
    api_client: k8s.ApiClient, kind: str, namespace: str, name: str, patch: dict, *, dry_run: bool
) -> dict:
    """JSON-merge-patch one object; ``dry_run`` asks the server to validate only."""
    api, _getter, patcher = _GETTERS[kind]
    kwargs = {
        "_preload_content": False,
        "_request_timeout": request_timeout(),
        "_content_type": "application/merge-patch+json",
        "field_manager": FIELD_MANAGER,
    }
    if dry_run:
        kwargs["dry_run"] = "All"
    verb = "dry-run patch" if dry_run else "patch"
    try:
        return _read_json(getattr(api(api_client), patcher)(name, namespace, patch, **kwargs))
    except Exception as error:
        raise translate(error, what=f"{verb} {kind} {namespace}/{name}") from None


def _lines(response) -> Iterator[str]:
    """The lines of a streaming (chunked) response as they arrive, decoded as UTF-8."""
    buffer = bytearray()
    for segment in response.stream(amt=None, decode_content=False):
        buffer.extend(segment)
        start = 0
        while (end := buffer.find(b"\n", start)) != -1:
            yield buffer[start:end].decode("utf-8", errors="replace")
            start = end + 1
        del buffer[:start]
    if buffer:
        yield buffer.decode("utf-8", errors="replace")


def watch_objects(
    api_client: k8s.ApiClient,
    resource: Resource,
    *,
    resource_version: str,
    timeout_seconds: int = 300,
    on_response: Callable | None = None,
    **list_kwargs,
) -> Iterator[tuple[str, dict]]:
    """Yield ``(type, object)`` watch events after ``resource_version``.

    Ends normally when the server closes the watch (``timeout_seconds``); raises
    ``KubeGone`` for a too-old version (relist), ``KubeError`` (transient) when the stream
    breaks (resume from the last version seen). BOOKMARK events are yielded too: they only
    move the resourceVersion on. ``on_response`` receives the streaming response (so another
    thread can ``shutdown()`` it); ``list_kwargs`` go to the list call (e.g. namespace).
    """
    method = getattr(resource.api(api_client), resource.list_method)
    connect, _read = request_timeout()
    what = f"watch {resource.plural}"
    try:
        response = method(
            watch=True,
            resource_version=resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=timeout_seconds,
            _preload_content=False,
            _request_timeout=(connect, timeout_seconds + connect),
            **list_kwargs,
        )
    except Exception as error:
        raise translate(error, what=what) from None
    if on_response:
        on_response(response)
    try:
        for line in _lines(response):
            if not line.strip():
                continue
            event = loads(line)
            obj = event.get("object") or {}
            if event.get("type") == "ERROR":
                code = int(obj.get("code") or 0)
                cls = KubeGone if code == 410 else KubeError
                raise cls(
                    f"{what}: HTTP {code} {obj.get('reason', '')}: {obj.get('message', '')}",
                    code=code,
                    reason=obj.get("reason", ""),
                    transient=code >= 500,
                )
            if event.get("type") != "BOOKMARK":
                obj.setdefault("apiVersion", resource.api_version)
                obj.setdefault("kind", resource.kind)
            yield event["type"], obj
    except KubeError:
        raise
    except Exception as error:
        raise translate(error, what=what) from None
    finally:
        response.close()
        response.release_conn()
