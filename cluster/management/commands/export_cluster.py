"""``manage.py export_cluster NAME``: print a cluster as a kubectl-style List."""

from __future__ import annotations

import json
import os
import sys

import yaml
from django.core.management.base import BaseCommand, CommandError

from cluster.models import Cluster
from cluster.selectors import cluster_get, cluster_iter_objects

_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class Command(BaseCommand):
    help = "Print cluster NAME as a kubectl-style List that import_cluster reads back unchanged."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--yaml", action="store_true", help="YAML instead of JSON")
        parser.add_argument("-o", "--output", help="write to this file instead of stdout")

    def handle(self, *args, **options):
        try:
            cluster = cluster_get(name=options["name"])
        except Cluster.DoesNotExist:
            raise CommandError(f"no cluster named {options['name']!r}", returncode=2) from None
        objects = cluster_iter_objects(cluster=cluster)
        if options["output"]:
            # Write beside the target and rename at the end: never a half-written export.
            partial = f"{options['output']}.partial"
            try:
                with open(partial, "w", encoding="utf-8") as out:
                    self._write(out.write, objects, as_yaml=options["yaml"])
                os.replace(partial, options["output"])
            except OSError as exc:
                raise CommandError(
                    f"cannot write {options['output']}: {exc.strerror}", returncode=2
                ) from None
            return
        try:
            self._write(
                lambda text: self.stdout.write(text, ending=""), objects, as_yaml=options["yaml"]
            )
        except BrokenPipeError:  # `export_cluster x | head`: the reader left, stop quietly
            sys.stderr.close()

    @staticmethod
    def _write(write, objects, *, as_yaml: bool) -> None:
        # Streamed object by object: a 150,000-pod cluster never becomes one big string.
        if as_yaml:
            write("apiVersion: v1\nkind: List\nmetadata:\n  resourceVersion: ''\nitems:\n")
            for obj in objects:
                text = yaml.dump([obj], Dumper=_Dumper, default_flow_style=False, sort_keys=False)
                write(text)
            return
        write(
            '{\n"apiVersion": "v1",\n"kind": "List",\n'
            '"metadata": {"resourceVersion": ""},\n"items": ['
        )
        for index, obj in enumerate(objects):
            write(("\n" if index == 0 else ",\n") + json.dumps(obj, ensure_ascii=False))
        write("\n]\n}\n")
