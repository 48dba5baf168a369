"""``manage.py load_demo [--if-empty]``: load the demo cluster from cluster/fixtures/demo.json."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from cluster.kube_dump import DumpError, read_objects
from cluster.models import Cluster, ClusterSource
from cluster.services import cluster_import

DEMO_DUMP = Path(__file__).resolve().parents[2] / "fixtures" / "demo.json"


class Command(BaseCommand):
    help = "Load the demo cluster (a realistic kubectl dump) as cluster 'demo'."

    def add_arguments(self, parser):
        parser.add_argument("--name", default="demo")
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="do nothing when any cluster exists (what `make run` uses)",
        )

    def handle(self, *args, **options):
        try:
            if options["if_empty"] and Cluster.objects.exists():
                self.stdout.write("A cluster already exists; demo not loaded.")
                return
            summary = cluster_import(
                name=options["name"], objects=read_objects(DEMO_DUMP), source=ClusterSource.DEMO
            )
        except DumpError as exc:
            raise CommandError(str(exc), returncode=2) from None
        except DatabaseError as exc:  # e.g. tables missing: `migrate` has not run
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CommandError(f"database error, demo not loaded: {first}", returncode=1) from None
        for line in summary.lines():
            self.stdout.write(line)
