"""Port names as the API server validates them (issue 17): Service ports named when there
is more than one, unique within the Service; EndpointSlice port names DNS-1123 labels
(optional), unique within the slice; slice port protocols TCP, UDP or SCTP.

Upstream: ``pkg/apis/core/validation/validation.go`` ``ValidateService`` (``requireName``
when ``len(service.Spec.Ports) > 1``, ``allPortNames`` refuses a repeat) and
``validateServicePort`` (``IsDNS1123Label``); ``pkg/apis/discovery/validation/validation.go``
``validateEndpointPorts`` (``IsDNS1123Label`` when the name is set, ``Duplicate`` names,
``supportedPortProtocols``). Refused in one line naming object and field: import
(``ObjectError``), the ``routescope`` command (exit 2) and the API's inline dumps (400).
Rows stored before these checks existed still render on every page.
"""

from __future__ import annotations

import json

import pytest

from cluster import parsing
from cluster.fields import ObjectError
from cluster.models import Cluster
from cluster.services import cluster_import
from cluster.tests import builders as b
from routing.cli.main import main

pytest_plugins = ["cluster.api.testing"]


def _service(*ports: dict) -> dict:
    return b.service("web", ports=list(ports))


def _slice(*ports: dict) -> dict:
    return b.endpoint_slice(ports=list(ports))


BAD = {
    "service two ports one unnamed": (
        _service({"name": "http", "port": 80}, {"port": 443}),
        r"^Service shop/web: missing spec.ports\[1\].name \(required when there is more than"
        " one port\\)",
    ),
    "service repeated port name": (
        _service({"name": "http", "port": 80}, {"name": "http", "port": 8080}),
        r"^Service shop/web: spec.ports\[1\].name 'http' repeats spec.ports\[0\].name",
    ),
    "slice port name not a label": (
        _slice({"name": "Http_1", "port": 8080, "protocol": "TCP"}),
        r"^EndpointSlice shop/web-abc: ports\[0\].name 'Http_1' must be a lowercase RFC 1123",
    ),
    "slice repeated port name": (
        _slice({"name": "http", "port": 80}, {"name": "http", "port": 81}),
        r"^EndpointSlice shop/web-abc: ports\[1\].name 'http' repeats ports\[0\].name",
    ),
    "slice protocol": (
        _slice({"name": "http", "port": 80, "protocol": "HTTP"}),
        r"^EndpointSlice shop/web-abc: ports\[0\].protocol 'HTTP' is not one of TCP, UDP, SCTP",
    ),
}


@pytest.mark.django_db
@pytest.mark.parametrize("label", list(BAD))
def test_import_refuses_in_one_line(label):
    obj, message = BAD[label]
    with pytest.raises(ObjectError, match=message) as info:
        cluster_import(name="c", objects=[b.node("n1"), obj])
    assert "\n" not in str(info.value)
    assert not Cluster.objects.exists()


@pytest.mark.django_db
def test_what_the_api_server_accepts_is_accepted():
    one_unnamed = _service({"port": 80})
    two_named = b.service(
        "api", ports=[{"name": "http", "port": 80}, {"name": "https", "port": 443}]
    )
    unnamed_slice_port = b.endpoint_slice(ports=[{"port": 8080, "protocol": "TCP"}])
    cluster_import(name="c", objects=[b.node("n1"), one_unnamed, two_named, unnamed_slice_port])
    assert Cluster.objects.get(name="c").services.count() == 2


@pytest.mark.parametrize("label", ["service repeated port name", "slice port name not a label"])
def test_routescope_exits_2_with_one_line(capsys, tmp_path, label):
    obj, message = BAD[label]
    dump = tmp_path / "dump.json"
    dump.write_text(json.dumps({"kind": "List", "apiVersion": "v1", "items": [b.node("n1"), obj]}))
    assert main(["analyze", str(dump)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "shop/web" in err and (".name 'http' repeats" in err or "'Http_1'" in err)


@pytest.mark.django_db
def test_inline_dump_with_a_repeated_port_name_is_a_400(reader_client):
    from cluster.api.testing import small_cluster_dump

    dump = small_cluster_dump()
    dump["items"].append(
        b.service("api", ports=[{"name": "a", "port": 80}, {"name": "a", "port": 81}])
    )
    response = reader_client.post(
        "/api/v1/simulate",
        {"cluster_dump": dump, "service": "shop/web", "source": "pod:n1"},
        format="json",
    )
    assert response.status_code == 400
    assert (
        "spec.ports[1].name 'a' repeats spec.ports[0].name" in response.json()["error"]["message"]
    )


@pytest.mark.django_db
def test_rows_stored_before_these_checks_still_render(client, monkeypatch):
    from django.contrib.auth.models import User

    # Store what an older Routescope let in: repeated, missing and malformed port names.
    monkeypatch.setattr(parsing, "check_port_names", lambda *args, **kwargs: None)
    monkeypatch.setattr("cluster.slice_parsing.check_port_names", lambda *a, **k: None)
    service = _service({"name": "Http_1", "port": 80}, {"name": "Http_1", "port": 81}, {"port": 82})
    service["spec"]["selector"] = {"app": "web"}
    slice_ = _slice(
        {"name": "Http_1", "port": 8080, "protocol": "TCP"},
        {"name": "Http_1", "port": 8081, "protocol": "TCP"},
    )
    cluster_import(
        name="old", objects=[b.node("n1"), service, slice_, b.pod(), b.node("n2", ip="10.0.0.2")]
    )
    monkeypatch.undo()
    client.force_login(User.objects.create_user("r", password="r-pass-12345"))
    for url in (
        "/clusters/old/",
        "/clusters/old/services/",
        "/clusters/old/services/shop/web/",
        "/clusters/old/what-if/?service=shop/web",
        "/clusters/old/rules/?node=n1",
        "/api/v1/clusters/old/analysis",
        "/api/v1/services?cluster=old",
    ):
        assert client.get(url).status_code == 200, url
