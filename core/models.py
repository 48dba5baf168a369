"""API tokens, hashed at rest.

A token's raw key is 40 hex characters shown once to its owner; the table keeps only its
SHA-256 digest (the lookup key: 160 random bits need no salt or slow hash) and its first
characters (to recognise it in a list). A token expires (``expires``; null = never) and has a
scope: ``read`` tokens can never sync or apply, even when their user is an operator;
``operate`` tokens act with their user's rights.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiToken(models.Model):
    class Scope(models.TextChoices):
        READ = "read", "read: lists, answers, previews; never changes a cluster"
        OPERATE = "operate", "operate: also sync and apply, if the user is an operator"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    digest = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the key, hex.")
    prefix = models.CharField(max_length=8, help_text="The key's first characters.")
    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.READ)
    created = models.DateTimeField(default=timezone.now)
    expires = models.DateTimeField(null=True, blank=True, help_text="Null: never expires.")

    class Meta:
        ordering = ["-created", "-pk"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.scope})"

    @property
    def is_expired(self) -> bool:
        return self.expires is not None and self.expires <= timezone.now()

    @property
    def can_operate(self) -> bool:
        return self.scope == self.Scope.OPERATE
