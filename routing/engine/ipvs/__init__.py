"""IPVS choice step: which real server one node's IPVS picks, per scheduler, as the kernel does.

Public API (keep these imports stable):

    scheduler_shares(*, endpoints, scheduler, workload=None, seed=0) -> SchedulerResult
    SCHEDULERS   the eleven names kube-proxy can program (rr is its default)
    Workload     optional traffic description (rate, clients, service times, weights, VIP,
                 protocol, persistence for sessionAffinity ClientIP, ...)
    REASONS      reason code -> one-line explanation

Layout: ``hashing`` rebuilds the kernel's sh/dh/mh tables (hash_32, SipHash-1-3, Maglev);
``simulate`` is the seeded request-level simulation with the kernel's pick rules and
connection counters; ``shares`` decides analytic vs simulated and assembles the result;
``model`` holds the dataclasses and reason codes. Pure: standard library and numpy only.
"""

from routing.engine.ipvs.model import REASONS, SCHEDULERS, SchedulerResult, Workload
from routing.engine.ipvs.shares import scheduler_shares

__all__ = ["REASONS", "SCHEDULERS", "SchedulerResult", "Workload", "scheduler_shares"]
