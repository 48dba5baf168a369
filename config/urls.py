"""Root URLs: admin, API (+ schema and docs), auth, dashboard."""

from django.contrib import admin
from django.urls import include, path

from core.api.docs import RedocView, SwaggerView
from core.api.schema import SchemaView
from core.oidc import SsoCallbackView, SsoStartView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("config.api_urls")),
    path("api/schema/", SchemaView.as_view(), name="schema"),
    path("api/docs/", SwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", RedocView.as_view(url_name="schema"), name="api-redoc"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("oidc/authenticate/", SsoStartView.as_view(), name="oidc_authentication_init"),
    path("oidc/callback/", SsoCallbackView.as_view(), name="oidc_authentication_callback"),
    path("", include("dashboard.urls")),
]
