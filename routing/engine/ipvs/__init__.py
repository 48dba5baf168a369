"""IPVS choice step: which real server one node's IPVS picks, per scheduler (kernel-faithful)."""

from routing.engine.ipvs.model import REASONS, SCHEDULERS, SchedulerResult, Workload
from routing.engine.ipvs.shares import scheduler_shares

__all__ = ["REASONS", "SCHEDULERS", "SchedulerResult", "Workload", "scheduler_shares"]
