"""The one Service merge-patch builder (apply job, exports, fake API server)."""

from __future__ import annotations

from routing.engine.servicepatch import apply_merge_patch, service_merge_patch, spec_path
from routing.engine.whatif_fields import FIELDS


def test_every_field_lands_at_its_table_path() -> None:
    for spec in FIELDS:
        value = 600 if spec.kind is int else spec.values[-1]
        node = service_merge_patch({spec.name: value})
        for key in spec.path:
            node = node[key]
        assert node == value, spec.name


def test_unset_value_and_none_both_remove_the_field() -> None:
    unsettable = [f for f in FIELDS if f.unset is not None]
    assert unsettable  # the table has fields whose "unset" is a value of their own
    for spec in unsettable:
        for value in (spec.unset, None):
            node = service_merge_patch({spec.name: value})
            for key in spec.path[:-1]:
                node = node[key]
            assert spec.path[-1] in node and node[spec.path[-1]] is None, spec.name


def test_session_affinity_none_removes_its_config() -> None:
    assert service_merge_patch({"sessionAffinity": "None"})["spec"] == {
        "sessionAffinity": "None",
        "sessionAffinityConfig": None,
    }
    assert service_merge_patch({"sessionAffinity": None})["spec"] == {
        "sessionAffinity": None,
        "sessionAffinityConfig": None,
    }
    # ClientIP keeps the config, and an explicit config beside None is kept as given.
    assert (
        "sessionAffinityConfig" not in service_merge_patch({"sessionAffinity": "ClientIP"})["spec"]
    )
    restored = {"sessionAffinity": "None", "sessionAffinityConfig": {"clientIP": {}}}
    assert service_merge_patch(restored)["spec"]["sessionAffinityConfig"] == {"clientIP": {}}


def test_unknown_name_is_a_top_level_spec_key() -> None:
    assert spec_path("sessionAffinityConfig") == ("sessionAffinityConfig",)
    assert service_merge_patch({"sessionAffinityConfig": None}) == {
        "spec": {"sessionAffinityConfig": None}
    }


def test_apply_merge_patch_follows_rfc_7386() -> None:
    # The RFC's own example (section 3), in short.
    target = {"a": "b", "c": {"d": "e", "f": "g"}, "tags": ["x"]}
    patch = {"a": "z", "c": {"f": None}, "tags": ["y", "z"], "new": {"k": None}}
    out = apply_merge_patch(target, patch)
    assert out == {"a": "z", "c": {"d": "e"}, "tags": ["y", "z"], "new": {}}
    assert target["c"] == {"d": "e", "f": "g"}  # the target is not changed in place
    assert apply_merge_patch({"a": 1}, ["x"]) == ["x"]  # a non-object patch replaces
    assert apply_merge_patch("text", {"a": None, "b": 1}) == {"b": 1}
