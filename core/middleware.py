import unicodedata

from django.conf import settings
from django.http import QueryDict
from django.utils import translation
from django.utils.cache import patch_vary_headers


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
