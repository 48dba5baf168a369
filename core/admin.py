"""API tokens in the admin: see and revoke (delete) them; they are made only by their owner
or ``create_api_token``, since the key is shown once, at creation."""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from core.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("prefix", "user", "scope", "created", "expires")
    list_filter = ("scope",)
    search_fields = ("user__username", "prefix")
    readonly_fields = ("user", "prefix", "scope", "created", "expires")
    exclude = ("digest",)

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False
