"""The signed-in user's account: role and the personal API token (create, rotate, revoke)."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from rest_framework.authtoken.models import Token

from core.api.tokens import api_token_issue, api_token_revoke
from dashboard.views.common import render_page

ACTIONS = ("create", "rotate", "revoke")


def _masked(key: str) -> str:
    """Enough of a key to recognise it, never enough to use it."""
    return f"{key[:4]}…{key[-4:]}"


@never_cache
@login_required
def account(request: HttpRequest) -> HttpResponse:
    """Show the user's role and token status; POST creates, rotates or revokes the token.

    A key is shown in full once, in the response to the POST that made it, and masked
    afterwards: it never sits in a page someone can reload or a cache can keep.
    """
    new_key = None
    status = 200
    already = False
    if request.method == "POST":
        action = request.POST.get("action", "")
        if action == "revoke":
            api_token_revoke(user=request.user)
        elif action == "create" and Token.objects.filter(user=request.user).exists():
            # "Create" never reveals the key that exists (a stale form, a second tab, or
            # someone at an unlocked screen): only a rotation shows a key, a new one.
            already, status = True, 409
        elif action in ("create", "rotate"):
            new_key = api_token_issue(user=request.user, rotate=action == "rotate")
        else:
            status = 400
    existing = Token.objects.filter(user=request.user).values_list("key", "created").first()
    context = {
        "new_key": new_key,
        "token_masked": _masked(existing[0]) if existing else None,
        "token_created": existing[1] if existing else None,
        "bad_action": status == 400,
        "already_has_token": already,
    }
    return render_page(request, "dashboard/account.html", context, cluster=None,
                       section="account", status=status)
