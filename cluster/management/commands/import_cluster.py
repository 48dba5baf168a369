"""``manage.py import_cluster FILE|- --name NAME``: load a kubectl dump as a cluster."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, transaction

from cluster.dump_limits import dump_limits
from cluster.kube_dump import DumpError, read_dump
from cluster.models import ClusterSource
from cluster.plan import check_object
from cluster.services import cluster_import


class Command(BaseCommand):
    help = (
        "Import what `kubectl get nodes,services,endpointslices,pods -A -o json|yaml` prints"
        " (plus the kube-system/kube-proxy ConfigMap) as cluster NAME, replacing its state."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="a JSON or YAML dump, or - for standard input")
        parser.add_argument("--name", required=True, help="the cluster's name")
        parser.add_argument(
            "--source", default=ClusterSource.IMPORTED, choices=ClusterSource.values
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="check the dump and print the summary, storing nothing",
        )
        parser.add_argument(
            "--replace",
            action="store_true",
            help="replace the stored cluster even when the dump would drop more than half"
            " of its objects (ROUTESCOPE_IMPORT_MAX_LOSS)",
        )
        parser.add_argument(
            "--max-bytes",
            type=int,
            default=None,
            help="refuse larger dumps (default: ROUTESCOPE_MAX_DUMP_BYTES)",
        )

    def handle(self, *args, **options):
        limit = options["max_bytes"] or settings.ROUTESCOPE_MAX_DUMP_BYTES
        try:
            limits = dump_limits()
            dump = read_dump(
                options["file"],
                max_bytes=limit,
                limits=limits,
                settle=lambda obj, index: check_object(obj, index, limits),
            )
            if not dump.objects:
                # `[]` or an empty List (kubectl against the wrong context): replacing a
                # cluster's state with nothing is never what was meant.
                raise DumpError(f"{options['file']} holds no Kubernetes objects: nothing imported")
            with transaction.atomic():
                summary = cluster_import(
                    name=options["name"],
                    objects=dump.objects,
                    source=options["source"],
                    replaced=dump.replaced,
                    replace=options["replace"],
                )
                # A dry run goes through every check the real import makes (the database's
                # included), then rolls the transaction back.
                transaction.set_rollback(options["dry_run"])
        except DumpError as exc:
            raise CommandError(str(exc), returncode=2) from None
        except DatabaseError as exc:  # e.g. tables missing before `migrate`, a full disk
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CommandError(f"database error, nothing imported: {first}", returncode=1) from None
        except MemoryError:
            raise CommandError(
                f"not enough memory to import {options['file']}; lower --max-bytes or add memory",
                returncode=2,
            ) from None
        for line in summary.lines():
            self.stdout.write(f"Dry run, nothing stored: {line}" if options["dry_run"] else line)
