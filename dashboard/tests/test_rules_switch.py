"""The rules page's diff for a proxy-mode or IPVS-scheduler what-if (issue 16, item 1).

kube-proxy started in another mode programs that mode's rules and removes the old mode's
(cmd/kube-proxy/app/server_linux.go: at start-up the rules of the modes not in use are
cleaned up, "cleanup on kube-proxy mode switch", kubernetes/kubernetes#131243), so the diff
is the whole rule set replaced, never "no rule changes".
The expected "after" text is read independently: the rules page of the demo imported with
kube-proxy already in IPVS mode.
"""

from __future__ import annotations

import html
import re

from django.test import Client
from django.urls import reverse

from cluster.models import Cluster
from dashboard.tests.test_service_facts import import_ipvs_demo

SERVICE = "shop/checkout"
NODE = "edge-1"


def _found(match: re.Match[str] | None) -> re.Match[str]:
    assert match is not None, "pattern not found"
    return match


def rules(client: Client, cluster: str, **params: str) -> str:
    response = client.get(
        reverse("dashboard:rules", args=[cluster]), {"node": NODE, "service": SERVICE, **params}
    )
    assert response.status_code == 200
    return response.content.decode()


def diff_lines(body: str) -> list[str]:
    block = _found(re.search(r'<pre class="rules" data-rules-diff[^>]*>(.*?)</pre>', body, re.S))
    return [html.unescape(re.sub(r"<[^>]+>", "", line)) for line in block.group(1).splitlines()]


def programmed(body: str) -> list[str]:
    """Every rule line the rules page shows as programmed: main text and companions."""
    main = _found(re.search(r"<pre data-rules-text>(.*?)</pre>", body, re.S)).group(1)
    parts = [main] + re.findall(r"</h3><pre>(.*?)</pre>", body, re.S)
    return [html.unescape(line) for part in parts for line in part.splitlines()]


def test_a_mode_switch_replaces_the_whole_rule_set(client: Client, demo: Cluster) -> None:
    before = programmed(rules(client, "demo", mode="iptables"))
    import_ipvs_demo()
    after = programmed(rules(client, "ipvs", mode="ipvs"))
    body = rules(client, "demo", proxy_mode="ipvs")
    lines = diff_lines(body)
    removed = [
        line[1:] for line in lines[3:] if line.startswith("-") and not line.startswith("-# ")
    ]
    added = [line[1:] for line in lines[3:] if line.startswith("+") and not line.startswith("+# ")]
    assert removed == before  # every iptables line goes, even KUBE-SERVICES' declaration
    assert added == after  # every ipvsadm, ipset and iptables line of IPVS mode comes
    assert not [line for line in lines[3:] if line.startswith(" ")]  # nothing kept
    assert f"kube-proxy on {NODE} switches from iptables to ipvs (scheduler rr)" in body
    assert f"<span data-switch-removed>{len(before)}</span>" in body
    assert f"<span data-switch-added>{len(after)}</span>" in body
    assert "changes no rule" not in body


def test_a_scheduler_on_an_iptables_node_changes_nothing_and_says_why(
    client: Client, demo: Cluster
) -> None:
    body = rules(client, "demo", ipvs_scheduler="lc")
    assert "the IPVS scheduler (lc) is read only in ipvs mode" in body
    assert f"The what-if changes no rule on {NODE}." in body


def test_a_scheduler_switch_reprograms_every_virtual_server(client: Client, db) -> None:
    import_ipvs_demo()
    servers = [
        line for line in programmed(rules(client, "ipvs", mode="ipvs")) if line.startswith("-A -t")
    ]
    assert servers and all(line.endswith("-s rr") for line in servers)
    body = rules(client, "ipvs", ipvs_scheduler="lc")
    lines = diff_lines(body)
    assert [line[1:] for line in lines if line.startswith("--A -t")] == servers
    assert [line[1:] for line in lines if line.startswith("+-A -t")] == [
        line.removesuffix("-s rr") + "-s lc" for line in servers
    ]
    assert "every virtual server is reprogrammed with the new scheduler" in body
