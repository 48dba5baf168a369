"""The signed-in user's account: role and personal API tokens (create, rotate, revoke)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache

from core.api.tokens import api_token_issue, api_token_revoke
from core.models import ApiToken
from core.permissions import user_can_operate
from dashboard.views.common import render_page

ACTIONS = ("create", "rotate", "revoke")


@never_cache
@login_required
def account(request: HttpRequest) -> HttpResponse:
    """Show the user's role and tokens; POST creates, rotates or revokes tokens (one, with
    ``token=ID``, or all).

    A key is shown in full once, in the response to the POST that made it; only its hash is
    stored, so afterwards the page can show nothing but its first characters.
    ``scope=read`` asks for a read-only token; an operator's token is ``operate`` otherwise.
    """
    new_key = None
    status = 200
    already = False
    if request.method == "POST":
        action = request.POST.get("action", "")
        read_only = request.POST.get("scope") == ApiToken.Scope.READ
        scope = (
            ApiToken.Scope.OPERATE
            if user_can_operate(request.user) and not read_only
            else ApiToken.Scope.READ
        )
        if action == "revoke" and request.POST.get("token", "").isdigit():
            ApiToken.objects.filter(user_id=request.user.pk, pk=request.POST["token"]).delete()
        elif action == "revoke":
            api_token_revoke(user=request.user)
        elif action == "create" and ApiToken.objects.filter(user_id=request.user.pk).exists():
            # "Create" never reveals the key that exists (a stale form, a second tab, or
            # someone at an unlocked screen): only a rotation shows a key, a new one.
            already, status = True, 409
        elif action in ("create", "rotate"):
            new_key = api_token_issue(user=request.user, scope=scope, rotate=action == "rotate")
        else:
            status = 400
    context = {
        "new_key": new_key,
        "tokens": list(ApiToken.objects.filter(user_id=request.user.pk)),
        "bad_action": status == 400,
        "already_has_token": already,
    }
    return render_page(
        request, "dashboard/account.html", context, cluster=None, section="account", status=status
    )
