"""The flow diagram's geometry: band widths follow the shares, drops get their own sink."""

from __future__ import annotations

import re

import pytest

from dashboard.flow import BOX_W, LEFT_X, RIGHT_X, FlowSource, build_flow


def _found(match: re.Match[str] | None) -> re.Match[str]:
    """The match, failing the test (not with AttributeError) when there is none."""
    assert match is not None, "pattern not found"
    return match


def test_bands_are_proportional_to_weight_times_share() -> None:
    flow = build_flow(
        [
            FlowSource("n1", 1, {"a": 0.5, "b": 0.5}),
            FlowSource("n2", 3, {"a": 1.0}),
        ],
        scale=400,
    )
    widths = {link.title.split(":")[0]: link.width for link in flow.links}
    # n1 is 1/4 of the sources: 1/8 of all traffic to each endpoint; n2 sends 3/4 to a.
    assert widths["n1 → a"] == pytest.approx(400 / 8, abs=0.1)
    assert widths["n2 → a"] == pytest.approx(400 * 3 / 4, abs=0.1)
    a = next(b for b in flow.targets if b.label == "a")
    assert a.value == pytest.approx(7 / 8)


def test_drops_and_rejects_go_to_red_sinks_after_the_endpoints() -> None:
    flow = build_flow(
        [
            FlowSource("n1", 1, {}, dropped=1.0, action="drop"),
            FlowSource("n2", 1, {}, dropped=1.0, action="reject"),
            FlowSource("n3", 2, {"z": 1.0}),
        ]
    )
    assert [b.label for b in flow.targets] == ["z", "dropped", "rejected"]
    assert [b.kind for b in flow.targets] == ["dst", "drop", "drop"]
    assert {
        link.kind for link in flow.links if "→ dropped" in link.title or "→ rejected" in link.title
    } == {"drop"}


def test_cross_zone_links_are_marked() -> None:
    flow = build_flow([FlowSource("n1", 1, {"near": 0.5, "far": 0.5}, cross=frozenset({"far"}))])
    kinds = {link.title.split(":")[0]: link.kind for link in flow.links}
    assert kinds == {"n1 → far": "cross", "n1 → near": ""}


def test_links_join_the_box_edges_and_the_picture_fits() -> None:
    flow = build_flow([FlowSource(f"n{i}", 1, {"a": 1.0}) for i in range(5)])
    for link in flow.links:
        x0, y0, x1, y1 = map(
            float,
            _found(re.match(r"M([\d.]+),([\d.]+) C.* ([\d.]+),([\d.]+)$", link.path)).groups(),
        )
        assert x0 == LEFT_X + BOX_W and x1 == RIGHT_X
        assert 0 < y0 < flow.height and 0 < y1 < flow.height
    assert all(box.y + box.h <= flow.height for box in flow.sources + flow.targets)


def test_no_sources_draws_an_empty_picture() -> None:
    flow = build_flow([])
    assert flow.links == [] and flow.sources == [] and flow.height > 0


def test_sources_merge_per_zone_with_weighted_shares() -> None:
    from dashboard.flowviews import _by_zone

    merged = _by_zone(
        [
            FlowSource("n1", 1, {"a": 1.0}),
            FlowSource("n2", 1, {}, dropped=1.0, action="drop"),
            FlowSource("n3", 2, {"a": 0.5, "b": 0.5}),
        ],
        ["z1", "z1", "z2"],
    )
    assert [m.label for m in merged] == ["z1 (2 nodes)", "z2 (2 nodes)"]
    assert (
        merged[0].targets == {"a": 0.5} and merged[0].dropped == 0.5 and merged[0].action == "drop"
    )
    assert merged[1].targets == {"a": 0.5, "b": 0.5} and merged[1].dropped == 0


def test_replies_lost_and_by_design_drops_get_their_own_sinks() -> None:
    """Truth first: a share forwarded whose replies are lost flows into a red "replies
    lost" sink, not to endpoints; a drop on a node the LB avoids into a calm one."""
    flow = build_flow(
        [
            FlowSource("n1", 1, {}, lost=1.0),
            FlowSource("n2", 1, {}, dropped=1.0, action="drop", expected=True),
            FlowSource("n3", 1, {}, lost=1.0, expected=True),
            FlowSource("n4", 1, {"z": 1.0}),
        ]
    )
    assert [(b.label, b.kind) for b in flow.targets] == [
        ("z", "dst"),
        ("dropped by design", "expected"),
        ("lost, LB avoids", "expected"),
        ("replies lost", "drop"),
    ]
    kinds = {link.title.split(":")[0]: link.kind for link in flow.links}
    assert kinds == {
        "n1 → replies lost": "drop",
        "n2 → dropped by design": "expected",
        "n3 → lost, LB avoids": "expected",
        "n4 → z": "",
    }


def test_a_zone_is_by_design_only_when_every_dropping_node_is() -> None:
    from dashboard.flowviews import _by_zone

    calm, mixed = _by_zone(
        [
            FlowSource("n1", 1, {}, dropped=1.0, expected=True),
            FlowSource("n2", 1, {"a": 1.0}),
            FlowSource("n3", 1, {}, dropped=1.0, expected=True),
            FlowSource("n4", 1, {}, dropped=1.0),
            FlowSource("n5", 2, {}, lost=1.0),
        ],
        ["z1", "z1", "z2", "z2", "z2"],
    )
    assert calm.expected and calm.dropped == 0.5
    assert not mixed.expected and mixed.dropped == 0.5 and mixed.lost == 0.5


@pytest.mark.parametrize(
    ("share", "text"),
    [
        (0.0, "0.0%"),
        (1.0, "100.0%"),
        (0.8, "80.0%"),
        (0.9998, "99.98%"),
        (0.0002, "0.02%"),
        (None, "—"),
    ],
)
def test_percent_never_rounds_a_partial_share_to_none_or_all(share, text) -> None:
    from dashboard.templatetags.dashboard import percent

    assert percent(share) == text
