"""Text normalisation used on every input path.

Vietnamese text arrives composed (NFC) or decomposed (Unikey "tổ hợp",
Windows-1258 exports). We store NFC, and for search we keep a folded copy:
lower case, no tone or vowel marks, đ -> d, single spaces.
"""

import re
import unicodedata

from django.utils.translation import gettext as _

_SPACES = re.compile(r"\s+")

# A search is a name, a code or a phone number: a few words. Each word is one more
# LIKE over the area's households, so a pasted page of text (20,000 words took a
# worker 68 s) is cut to this and the user is told.
SEARCH_MAX_CHARS = 200
SEARCH_MAX_WORDS = 10


def nfc(value: str | None) -> str:
    """NFC-normalise and trim; collapse runs of white space to one space."""
    if not value:
        return ""
    # str.split() splits on the same white space as \s+ and drops it at both ends.
    return " ".join(unicodedata.normalize("NFC", str(value)).split())


def fold(value: str | None) -> str:
    """The search form of a text: "Giàng A Páo" -> "giang a pao", "Đức" -> "duc"."""
    if not value:
        return ""
    text = unicodedata.normalize("NFD", str(value).replace("đ", "d").replace("Đ", "D"))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return _SPACES.sub(" ", text.lower()).strip()


def capped_search(query: str | None) -> str:
    """The query cut to SEARCH_MAX_CHARS characters and SEARCH_MAX_WORDS words."""
    return " ".join(str(query or "")[:SEARCH_MAX_CHARS].split()[:SEARCH_MAX_WORDS])


def search_limit_problem(query: str | None) -> str:
    """Why a query is too long to search with as typed, or "" when it is not."""
    text = str(query or "")
    if len(text) > SEARCH_MAX_CHARS or len(text[: SEARCH_MAX_CHARS + 1].split()) > SEARCH_MAX_WORDS:
        return _("Search with at most %(words)d words and %(chars)d characters: a name, a code or a phone "
                 "number.") % {"words": SEARCH_MAX_WORDS, "chars": SEARCH_MAX_CHARS}
    return ""


def search_terms(query: str | None) -> list[str]:
    """Folded words of a search query, each to be matched on its own (at most SEARCH_MAX_WORDS,
    read from the first SEARCH_MAX_CHARS characters; a word given twice counts once)."""
    return list(dict.fromkeys(word for word in fold(capped_search(query)).split(" ") if word))
