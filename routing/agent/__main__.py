"""``python -m routing.agent --node NODE [--allow-write]``: start a node agent without
Django's command line (the container's agent entry point): the agent's own settings
(``config.settings.agent``: the broker only), one Celery worker on ``node.<NODE>``."""

from __future__ import annotations

import argparse
import os
import shutil
import sys

from routing.agent.node import WRITE_ENV, worker_argv


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m routing.agent", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--node",
        default=os.environ.get("NODE_NAME", ""),
        help="this node's name (default: $NODE_NAME, set from spec.nodeName)",
    )
    parser.add_argument(
        "--allow-write", action="store_true", help="allow apply_node_rules (never on real nodes)"
    )
    parser.add_argument("--loglevel", default=os.environ.get("LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)
    if not args.node:
        parser.error("no node name: give --node or set NODE_NAME")
    celery = shutil.which(
        "celery", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    )
    if celery is None:
        parser.error("celery executable not found")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.agent",
        WRITE_ENV: "1" if args.allow_write else "0",
    }
    os.execvpe(celery, worker_argv(celery, args.node, loglevel=args.loglevel), env)


if __name__ == "__main__":
    main()
