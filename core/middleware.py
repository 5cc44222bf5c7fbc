import unicodedata

from django.conf import settings
from django.http import Http404, QueryDict
from django.utils import translation
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _

from .params import INT_MAX


def _nfc_querydict(data: QueryDict) -> QueryDict:
    normalised = QueryDict(mutable=True, encoding=data.encoding)
    for key, values in data.lists():
        normalised.setlist(
            unicodedata.normalize("NFC", key), [unicodedata.normalize("NFC", v) for v in values]
        )
    normalised._mutable = False
    return normalised


class NFCInputMiddleware:
    """Normalise every submitted text to NFC before any form sees it.

    Vietnamese typed with Unikey's "tổ hợp" setting or pasted from old exports is
    decomposed; stored as is, it would not match the same name typed composed.
    Forms, the admin and searches all read request.GET/POST, so doing it once
    here covers them all (services normalise again for non-web paths).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.GET:
            request.GET = _nfc_querydict(request.GET)
        if request.method == "POST" and request.content_type in (
            "application/x-www-form-urlencoded", "multipart/form-data"
        ):
            request.POST = _nfc_querydict(request.POST)
        return self.get_response(request)


class LanguageMiddleware:
    """Vietnamese unless the user chose English with the switch at the foot of the page.

    Django's LocaleMiddleware would follow the browser's Accept-Language, and
    many officers' phones are set to English; the application speaks Vietnamese
    first, so only an explicit choice (the language cookie) changes it.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.supported = {code for code, _name in settings.LANGUAGES}

    def __call__(self, request):
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        language = chosen if chosen in self.supported else settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = language
        response = self.get_response(request)
        patch_vary_headers(response, ("Cookie",))
        response.headers.setdefault("Content-Language", language)
        return response


class NumberBoundsMiddleware:
    """A number in the address (<int:pk>) larger than any database column holds is not found.

    The URL patterns' `int` converter takes any run of digits; looked up as is, such a
    number makes the database driver raise (SQLite: OverflowError; PostgreSQL: out of
    range) where the page should answer 404. Checked once here for every URL, present
    and future.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        values = [*view_args, *view_kwargs.values()]
        if any(isinstance(v, int) and not isinstance(v, bool) and not 0 <= v <= INT_MAX for v in values):
            raise Http404(_("No such page."))
        return None
