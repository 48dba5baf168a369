"""Laptop defaults: the embedded SQLite database, in-process tasks, loopback only."""
from config.settings.base import *  # noqa: F401,F403
from config.settings.base import env

DEBUG = env.bool("DEBUG", default=False)
