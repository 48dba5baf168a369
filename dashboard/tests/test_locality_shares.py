"""Locality shares add up to 100 %: a node without a zone label gets its own bucket,
"no zone" (issue 16: the zoneless ``edge-1`` showed 0 / 0 / 0)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_every_source_row_of_every_demo_service_sums_to_100_percent(demo, client) -> None:
    from cluster.models import Service

    checked_zoneless = 0
    for namespace, name in Service.objects.filter(cluster=demo).values_list("namespace", "name"):
        html = client.get(
            reverse("dashboard:service-detail", args=["demo", namespace, name])
        ).content.decode()
        assert "Locality (node / zone / cross / no zone)" in html or "Per source" not in html
        # Only the per-source tables (the facts header above them has tables of its own).
        tables = html.split("Locality (node / zone / cross / no zone)", 1)[-1]
        for label, cell in re.findall(
            r"<tr[^>]*>\s*<td>([^<]+)</td>.*?<td class=\"hide-sm small\">([^<]+)</td>",
            tables,
            re.S,
        ):
            shares = [int(x) for x in re.findall(r"(\d+)%", cell)]
            assert len(shares) == 4, (name, label, cell)
            if sum(shares):  # a source whose every connection is dropped has no locality
                assert 98 <= sum(shares) <= 102, (name, label, cell)  # rounded to whole %
            if label.strip() == "edge-1" and sum(shares):
                assert shares[3] > 0 or shares[0] > 0, (name, cell)
                checked_zoneless += 1
    assert checked_zoneless, "the zoneless demo node edge-1 was checked"
