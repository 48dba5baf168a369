"""Per-node rules: what kube-proxy programs (iptables, nftables, IPVS), with reasons, and
their diff under a what-if. Pure: standard library only."""

from routing.engine.rules.model import RenderOptions
from routing.engine.rules.plan import RulesError
from routing.engine.rules.render import RuleSet, render_node_rules

__all__ = ["RenderOptions", "RuleSet", "RulesError", "render_node_rules"]
