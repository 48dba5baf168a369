"""``simulate``'s readable output shows ``outcome`` and ``effective_dropped`` beside
kube-proxy's ``action`` (issue 11 item 7)."""

from __future__ import annotations

from routing.cli.output import summary_lines
from routing.engine.kube import snapshot_from_objects
from routing.engine.simulate import Question, simulate
from routing.tests.engine.core_builders import endpoint_obj, node_obj, service_obj, slice_obj


def test_ipvs_fallback_prints_forward_but_replies_lost() -> None:
    # pkg/proxy/ipvs/proxier.go: eTP=Local is not masqueraded; an empty Local set falls back
    # to the Cluster set (kubernetes#97081): the remote pod's replies never reach the client.
    objects = [
        node_obj("n1", zone="a"),
        node_obj("n2", zone="a"),
        service_obj("web", type="NodePort", etp="Local"),
        slice_obj("web", [endpoint_obj("10.1.0.11", "n1")]),
    ]
    snapshot = snapshot_from_objects(objects, proxy_mode="ipvs")
    answer = simulate(snapshot, Question(service="default/web", source="external:n2")).to_json()
    lines = summary_lines(answer)
    assert lines[1].startswith("action: forward   dropped: 0.0%")
    assert lines[2] == "outcome: replies_lost   not working (effective dropped): 100.0%"
