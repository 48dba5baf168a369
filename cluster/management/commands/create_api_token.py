"""``manage.py create_api_token USER [--create] [--operator] [--read-only] [--expires-in DAYS]
[--rotate]``: print a new API token.

The key alone goes to stdout (so ``TOKEN=$(manage.py create_api_token me)`` works); what
was done goes to stderr. Exit status 2 with one line on stderr for bad input. Only the key's
hash is stored: this output is the one time the key is shown, and each run makes a new
token (the user's earlier tokens keep working until they expire, unless ``--rotate``).
The token's scope is ``operate`` for an operator (``--operator`` makes one) and ``read``
otherwise, or with ``--read-only``; a read token never syncs or applies.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from core.api.tokens import api_token_issue, token_digest
from core.models import ApiToken


class Command(BaseCommand):
    help = "Print a new API token of USER (for 'Authorization: Token <key>'); shown only once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", metavar="USER")
        parser.add_argument(
            "--create",
            action="store_true",
            help="create the user (without a password) if it does not exist",
        )
        parser.add_argument(
            "--operator",
            action="store_true",
            help="grant cluster.operate_cluster (may sync and apply changes)",
        )
        parser.add_argument(
            "--read-only",
            action="store_true",
            help="a read-scope token even for an operator (never syncs or applies)",
        )
        parser.add_argument(
            "--expires-in",
            type=int,
            metavar="DAYS",
            default=None,
            help="days until the token expires (default " "ROUTESCOPE_TOKEN_EXPIRY_DAYS; 0: never)",
        )
        parser.add_argument(
            "--rotate",
            action="store_true",
            help="revoke the user's other tokens; their keys stop working",
        )

    def handle(
        self,
        *args: Any,
        username: str,
        create: bool,
        operator: bool,
        rotate: bool,
        read_only: bool,
        expires_in: int | None,
        **options: Any,
    ) -> None:
        User = get_user_model()
        if operator and read_only:
            raise CommandError("--operator and --read-only contradict each other", returncode=2)
        if expires_in is not None and expires_in < 0:
            raise CommandError("--expires-in must be 0 (never) or more days", returncode=2)
        with transaction.atomic():
            user = User.objects.filter(**{User.USERNAME_FIELD: username}).first()
            if user is None and not create:
                raise CommandError(
                    f"no user {username!r} (pass --create to create it)", returncode=2
                )
            if user is None:
                user = User.objects.create_user(**{User.USERNAME_FIELD: username})
                self.stderr.write(f"created user {username}")
            if operator:
                user.user_permissions.add(_operate_permission())
                self.stderr.write(f"{username} may now sync clusters and apply changes")
            user = User.objects.get(pk=user.pk)  # fresh: no stale permission cache
            scope = ApiToken.Scope.READ if read_only else None
            key = api_token_issue(user=user, scope=scope, expires_in_days=expires_in, rotate=rotate)
            token = ApiToken.objects.get(digest=token_digest(key))
        expiry = f"expires {token.expires:%Y-%m-%d} UTC" if token.expires else "never expires"
        self.stderr.write(
            f"new {token.scope} token {token.prefix}… for {username}, {expiry}; "
            "it is shown only now"
        )
        self.stdout.write(key)


def _operate_permission() -> Permission:
    try:
        return Permission.objects.get(codename="operate_cluster", content_type__app_label="cluster")
    except Permission.DoesNotExist:
        raise CommandError(
            "permission cluster.operate_cluster is missing; run " "'manage.py migrate' first",
            returncode=2,
        ) from None
