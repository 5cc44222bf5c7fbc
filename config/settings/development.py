"""Local development: `make run`. SQLite and in-process tasks unless the
environment says otherwise."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DEBUG", default=True)
