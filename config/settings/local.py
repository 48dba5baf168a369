"""Laptop defaults: the embedded SQLite database, in-process tasks, loopback only."""

from config.settings.base import *
from config.settings.base import env

DEBUG = env.bool("DEBUG", default=False)
# WhiteNoise serves static files straight from the app and project directories (finders),
# so `manage.py runserver` needs no collectstatic, with DEBUG on or off.
WHITENOISE_USE_FINDERS = True
