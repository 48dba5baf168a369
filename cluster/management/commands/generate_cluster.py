"""``manage.py generate_cluster --nodes N --services S --pods P --zones Z --seed K -o FILE``."""

from __future__ import annotations

import os
import sys
import time

from django.core.management.base import BaseCommand, CommandError

from cluster.generator import Shape, generate_cluster


class Command(BaseCommand):
    help = "Write a synthetic kubectl-style dump (deterministic per seed) for benchmarks."

    def add_arguments(self, parser):
        parser.add_argument("--nodes", type=int, default=100)
        parser.add_argument("--services", type=int, default=200)
        parser.add_argument("--pods", type=int, default=3000)
        parser.add_argument("--zones", type=int, default=3)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("-o", "--output", default="-", help="file to write, - for stdout")

    def handle(self, *args, **options):
        shape = Shape(
            nodes=options["nodes"],
            services=options["services"],
            pods=options["pods"],
            zones=options["zones"],
            seed=options["seed"],
        )
        try:
            shape.check()
        except ValueError as exc:
            raise CommandError(str(exc), returncode=2) from None
        started = time.monotonic()
        if options["output"] == "-":
            generate_cluster(shape=shape, out=sys.stdout)
            return
        partial = f"{options['output']}.partial"  # renamed when complete: never half a dump
        try:
            with open(partial, "w", encoding="utf-8", buffering=1 << 20) as out:
                counts = generate_cluster(shape=shape, out=out)
            os.replace(partial, options["output"])
        except OSError as exc:
            raise CommandError(
                f"cannot write {options['output']}: {exc.strerror}", returncode=2
            ) from None
        summary = ", ".join(f"{n} {kind}" for kind, n in counts.items())
        self.stdout.write(
            f"Wrote {options['output']}: {summary} in {time.monotonic() - started:.1f} s"
        )
