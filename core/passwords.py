"""A password check beside Django's: common Vietnamese passwords and this application's words.

Django's CommonPasswordValidator knows 20,000 passwords leaked worldwide but not
"matkhau123" (mật khẩu, password) or the names every officer here would think of
first. A password that is one of these words, with or without accents, case,
spaces and symbols, and digits before or after it, is refused.
"""

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from .text import fold

WORDS = frozenset(
    {
        # "password", "I love you", greetings and the like
        "matkhau",
        "mk",
        "anhyeuem",
        "emyeuanh",
        "yeuem",
        "yeuanh",
        "xinchao",
        "hello",
        # the country, large cities and this application's own words
        "vietnam",
        "hanoi",
        "saigon",
        "hochiminh",
        "danang",
        "laocai",
        "muongkhuong",
        "batxat",
        "hongheo",
        "hocanngheo",
        "rasoat",
        "rasoathongheo",
        "ngheo",
        "canngheo",
        "admin",
        "quantri",
        "quantrivien",
        "canbo",
        "canboxa",
        "demo",
        "test",
        "user",
    }
)
_SEPARATORS = re.compile(r"[\W_]+")
_EDGE_DIGITS = re.compile(r"^\d+|\d+$")


class LocalCommonPasswordValidator:
    """Refuses a common Vietnamese or application word wrapped in digits or symbols."""

    def validate(self, password, user=None):
        letters = _SEPARATORS.sub("", fold(password))
        if _EDGE_DIGITS.sub("", letters) in WORDS:
            raise ValidationError(_("This password is too common."), code="password_too_common")

    def get_help_text(self):
        return _("Your password can’t be a common Vietnamese word such as “matkhau” with digits added.")
