"""Production: secrets and hosts must come from the environment; secure cookies; ready to
sit behind a TLS-terminating ingress or load balancer (``manage.py check --deploy`` clean).

The proxy in front must set ``X-Forwarded-Proto: https`` (and strip any the client sent);
probes and ``/metrics`` are answered before the HTTPS redirect (ops.middleware)."""

from config.settings.base import *
from config.settings.base import STORAGES, env

SECRET_KEY = env.str("SECRET_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
DEBUG = False
ROUTESCOPE_ANONYMOUS_READ = env.bool("ROUTESCOPE_ANONYMOUS_READ", default=False)
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=True)
CSRF_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=True)
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Hashed, compressed static files cached forever: needs `manage.py collectstatic` first.
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
