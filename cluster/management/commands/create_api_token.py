"""``manage.py create_api_token USER [--create] [--operator] [--rotate]``: print an API token.

The key alone goes to stdout (so ``TOKEN=$(manage.py create_api_token me)`` works); what
was done goes to stderr. Exit status 2 with one line on stderr for bad input.
"""
from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from core.api.tokens import api_token_issue


class Command(BaseCommand):
    help = "Print the API token of USER (for 'Authorization: Token <key>'), creating it if needed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", metavar="USER")
        parser.add_argument("--create", action="store_true",
                            help="create the user (without a password) if it does not exist")
        parser.add_argument("--operator", action="store_true",
                            help="grant cluster.operate_cluster (may sync and apply changes)")
        parser.add_argument("--rotate", action="store_true",
                            help="replace the existing token; the old key stops working")

    def handle(self, *args: Any, username: str, create: bool, operator: bool, rotate: bool,
               **options: Any) -> None:
        User = get_user_model()
        with transaction.atomic():
            user = User.objects.filter(**{User.USERNAME_FIELD: username}).first()
            if user is None and not create:
                raise CommandError(f"no user {username!r} (pass --create to create it)",
                                   returncode=2)
            if user is None:
                user = User.objects.create_user(**{User.USERNAME_FIELD: username})
                self.stderr.write(f"created user {username}")
            if operator:
                user.user_permissions.add(_operate_permission())
                self.stderr.write(f"{username} may now sync clusters and apply changes")
            key = api_token_issue(user=user, rotate=rotate)
        self.stdout.write(key)


def _operate_permission() -> Permission:
    try:
        return Permission.objects.get(codename="operate_cluster", content_type__app_label="cluster")
    except Permission.DoesNotExist:
        raise CommandError("permission cluster.operate_cluster is missing; run "
                           "'manage.py migrate' first", returncode=2) from None
