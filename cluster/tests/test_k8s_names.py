"""Names, label keys/values and port names are held to the API server's rules (issue 17).

The good/bad tables follow upstream's own tests of
``k8s.io/apimachinery/pkg/util/validation/validation.go`` (TestIsDNS1123Label,
TestIsDNS1123Subdomain, TestIsDNS1035Label, TestIsQualifiedName, TestIsValidLabelValue);
which rule applies to which kind is ``pkg/apis/core/validation/validation.go``
(ValidateServiceName = NameIsDNS1035Label, ValidateNodeName / ValidatePodName /
ValidateConfigMapName = NameIsDNSSubdomain, ValidateNamespaceName, ValidateLabels,
ValidateAnnotations with TotalAnnotationSizeLimitB, validateServicePort's DNS-1123 port name).
"""

from __future__ import annotations

import pytest

from cluster.fields import ObjectError
from cluster.k8s_names import (
    check_dns1035_label,
    check_dns1123_label,
    check_dns1123_subdomain,
    check_label_value,
    check_port_name,
    check_qualified_name,
)
from cluster.models import Cluster
from cluster.services import cluster_import
from cluster.tests import builders as b

pytest_plugins = ["cluster.api.testing"]

GOOD_LABELS = [
    "a",
    "ab",
    "abc",
    "a1",
    "a-1",
    "a--1--2--b",
    "0",
    "01",
    "012",
    "1a",
    "1-a",
    "1--a--b--2",
    "a" * 63,
]
BAD_LABELS = [
    "",
    "A",
    "ABC",
    "aBc",
    "A1",
    "A-1",
    "1-A",
    "-",
    "a-",
    "-a",
    "1-",
    "-1",
    "_",
    "a_",
    "_a",
    "a_b",
    "1_",
    "_1",
    "1_2",
    ".",
    "a.",
    ".a",
    "a.b",
    "1.",
    ".1",
    "1.2",
    " ",
    "a ",
    " a",
    "a b",
    "1 ",
    " 1",
    "1 2",
    "a/b",
    "a" * 64,
]


@pytest.mark.parametrize("value", GOOD_LABELS)
def test_dns1123_label_accepts(value):
    assert check_dns1123_label(value) is None


@pytest.mark.parametrize("value", BAD_LABELS)
def test_dns1123_label_refuses(value):
    assert check_dns1123_label(value)


@pytest.mark.parametrize(
    "value", ["a", "a.b.c", "1.a", "a-1.b-2", "0.a", "a" * 253, ".".join(["a" * 63] * 3)]
)
def test_dns1123_subdomain_accepts(value):
    assert check_dns1123_subdomain(value) is None


@pytest.mark.parametrize(
    "value", ["", "A", "a..b", "-a.b", "a.b-", ".a", "a.", "a_b", "a/b", "a@b", "a,b", "a" * 254]
)
def test_dns1123_subdomain_refuses(value):
    assert check_dns1123_subdomain(value)


@pytest.mark.parametrize("value", ["a", "ab", "a1", "a-1", "a--1--2--b", "a" * 63])
def test_dns1035_label_accepts(value):
    assert check_dns1035_label(value) is None


@pytest.mark.parametrize("value", ["0", "01", "1a", "1-a", "a/b", "A", "a-", "", "a" * 64])
def test_dns1035_label_refuses(value):
    assert check_dns1035_label(value)


@pytest.mark.parametrize(
    "value",
    [
        "simple",
        "now-with-dashes",
        "1-starts-with-num",
        "1234",
        "simple/simple",
        "now-with-dashes/simple",
        "now-with-dashes/now-with-dashes",
        "now.with.dots/simple",
        "now-with.dashes-and.dots/simple",
        "1-num.2-num/3-num",
        "1234/5678",
        "1.2.3.4/5678",
        "Uppercase_Is_OK_123",
        "example.com/Uppercase_Is_OK_123",
        "requests.storage-foo",
        "a" * 63,
        "a" * 253 + "/" + "b" * 63,
    ],
)
def test_qualified_name_accepts(value):
    assert check_qualified_name(value) is None


@pytest.mark.parametrize(
    "value",
    [
        "nospecialchars%^=@",
        "cantendwithadash-",
        "-cantstartwithadash-",
        "only/one/slash",
        "Example.com/abc",
        "example_com/abc",
        "example.com/",
        "/simple",
        "a" * 64,
        "a" * 254 + "/abc",
        "",
    ],
)
def test_qualified_name_refuses(value):
    assert check_qualified_name(value)


@pytest.mark.parametrize(
    "value",
    [
        "simple",
        "now-with-dashes",
        "1-starts-with-num",
        "end-with-num-1",
        "1234",
        "",
        "a" * 63,
        "Uppercase_And.Dots",
    ],
)
def test_label_value_accepts(value):
    assert check_label_value(value) is None


@pytest.mark.parametrize(
    "value",
    [
        "nospecialchars%^=@",
        "Tama-nui-te-rā.is.Māori.sun",
        "\\backslashes\\are\\bad",
        "-starts-with-dash",
        "ends-with-dash-",
        ".starts.with.dot",
        "ends.with.dot.",
        "a" * 64,
    ],
)
def test_label_value_refuses(value):
    assert check_label_value(value)


@pytest.mark.parametrize(
    "value", ["http", "https", "dns-tcp", "h2c", "a", "1a", "metrics-9090", "a" * 15]
)
def test_port_name_accepts(value):  # TestIsValidPortName
    assert check_port_name(value) is None


@pytest.mark.parametrize(
    "value",
    ["", "HTTP", "1234", "a--b", "-http", "http-", "a_b", "a.b", "a" * 16, "very-long-port-name"],
)
def test_port_name_refuses(value):
    assert check_port_name(value)


# --- at import -------------------------------------------------------------------------


def _service_named(name: str, namespace: str = "shop") -> dict:
    service = b.service("web")
    service["metadata"].update(name=name, namespace=namespace)
    return service


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (
            _service_named("a/b"),
            "^Service \\(object 2\\): metadata.name 'a/b' is not a valid Service name:"
            " must be a DNS-1035 label",
        ),
        (
            _service_named("1web"),
            "^Service \\(object 2\\): metadata.name '1web' is not a valid Service",
        ),
        (
            _service_named("web", namespace="Shop_1"),
            "^Service \\(object 2\\): metadata.namespace 'Shop_1'"
            " must be a lowercase RFC 1123 label",
        ),
        (
            b.node("Node_1"),
            "^Node \\(object 2\\): metadata.name 'Node_1' is not a valid Node name: must be"
            " a lowercase RFC 1123 subdomain",
        ),
        (b.pod("p..1"), "^Pod \\(object 2\\): metadata.name 'p..1' is not a valid Pod"),
        (
            _service_named("x" * 1_000_000),
            r"^Service \(object 2\): metadata.name 'x{60}'\.\.\. \(1,000,000"
            r" characters\) is not a valid Service name: must be no more than 63",
        ),
    ],
    ids=["slash", "leading-digit", "namespace", "node", "pod", "megabyte-name"],
)
def test_names_the_api_server_refuses_are_refused_in_one_line(obj, message):
    with pytest.raises(ObjectError, match=message) as info:
        cluster_import(name="c", objects=[b.node("n0"), obj])
    assert "\n" not in str(info.value) and len(str(info.value)) < 300
    assert not Cluster.objects.exists()


def _with(obj: dict, **meta) -> dict:
    obj["metadata"].update(meta)
    return obj


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (
            _with(b.node("n1"), labels={"bad key!": "x"}),
            "^Node n1: metadata.labels key 'bad key!' name part",
        ),
        (
            _with(b.node("n1"), labels={"a/b/c": "x"}),
            "^Node n1: metadata.labels key 'a/b/c' must be a name",
        ),
        (
            _with(b.node("n1"), labels={"app": "-web"}),
            "^Node n1: metadata.labels.app value '-web' must be",
        ),
        (
            _with(b.node("n1"), labels={"app": "w" * 64}),
            "^Node n1: metadata.labels.app value 'w{60}'\\.\\.\\.",
        ),
        # Upstream lowercases annotation keys before checking them: only the underscore is bad here.
        (
            _with(b.node("n1"), annotations={"Example_com/x": "1"}),
            "^Node n1: metadata.annotations key 'Example_com/x' prefix must be a lowercase",
        ),
        (
            _with(b.node("n1"), annotations={"big": "x" * (256 * 1024)}),
            "^Node n1: metadata.annotations total 262,147 characters,"
            " more than the API server's 262,144",
        ),
    ],
    ids=[
        "label-key",
        "label-key-slashes",
        "label-value",
        "label-value-long",
        "annotation-key",
        "annotations-size",
    ],
)
# (an annotation key "Example.com/x" is fine: see test_uppercase_annotation_prefix_is_accepted)
def test_labels_and_annotations_are_checked(obj, message):
    with pytest.raises(ObjectError, match=message):
        cluster_import(name="c", objects=[obj])


@pytest.mark.django_db
def test_uppercase_annotation_prefix_is_accepted():
    cluster_import(name="c", objects=[_with(b.node("n1"), annotations={"Example.com/x": "1"})])
    assert Cluster.objects.get(name="c").nodes.count() == 1


@pytest.mark.django_db
def test_service_selector_and_port_names_are_checked():
    bad_selector = b.service("web")
    bad_selector["spec"]["selector"] = {"app": "a b"}
    with pytest.raises(
        ObjectError, match="^Service shop/web: spec.selector.app value 'a b' must be"
    ):
        cluster_import(name="c", objects=[bad_selector])
    bad_port = b.service("web")
    bad_port["spec"]["ports"][0]["name"] = "HTTP_1"
    with pytest.raises(
        ObjectError,
        match=r"^Service shop/web: spec.ports\[0\].name 'HTTP_1' must be a"
        " lowercase RFC 1123 label",
    ):
        cluster_import(name="c", objects=[bad_port])


@pytest.mark.django_db
def test_named_target_and_container_ports_are_checked():
    service = b.service("web")
    service["spec"]["ports"][0]["targetPort"] = "Metrics_Port"
    with pytest.raises(
        ObjectError,
        match=r"^Service shop/web: spec.ports\[0\].targetPort 'Metrics_Port'"
        " must contain only lowercase",
    ):
        cluster_import(name="c", objects=[service])
    pod = b.pod()
    pod["spec"]["containers"] = [
        {"name": "app", "ports": [{"name": "http-metrics-port", "containerPort": 80}]}
    ]
    with pytest.raises(
        ObjectError,
        match=r"^Pod shop/web-1: spec.containers\[0\].ports\[0\].name"
        " 'http-metrics-port' must be no more than 15 characters",
    ):
        cluster_import(name="c", objects=[pod])


@pytest.mark.django_db
def test_inline_dump_with_a_bad_name_is_a_400(reader_client):
    from cluster.api.testing import small_cluster_dump

    dump = small_cluster_dump()
    dump["items"].append(_service_named("a/b"))
    response = reader_client.post(
        "/api/v1/simulate",
        {"cluster_dump": dump, "service": "shop/web", "source": "pod:n1"},
        format="json",
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == "cluster_dump"
    assert "metadata.name 'a/b' is not a valid Service name" in error["message"]
