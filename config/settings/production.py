"""Production: secrets and hosts must come from the environment; secure cookies."""
from config.settings.base import *  # noqa: F401,F403
from config.settings.base import env

SECRET_KEY = env.str("SECRET_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
DEBUG = False
ROUTESCOPE_ANONYMOUS_READ = env.bool("ROUTESCOPE_ANONYMOUS_READ", default=False)
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=True)
CSRF_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
