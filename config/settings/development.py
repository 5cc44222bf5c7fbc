"""Local development: `make run`. SQLite and in-process tasks unless the
environment says otherwise.

DEBUG is off unless the environment turns it on (DEBUG=true), so the development
server shows the application's own pages for 403, 404 and 500, in Vietnamese,
as users see them, rather than Django's technical pages with the URL list.
Static files are served either way: WhiteNoise reads them from the apps' and the
project's static folders as they are, without collectstatic.
"""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DEBUG", default=False)
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
