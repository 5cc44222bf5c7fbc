"""Text normalisation used on every input path.

Vietnamese text arrives composed (NFC) or decomposed (Unikey "tổ hợp",
Windows-1258 exports). We store NFC, and for search we keep a folded copy:
lower case, no tone or vowel marks, đ -> d, single spaces.
"""

import re
import unicodedata

_SPACES = re.compile(r"\s+")


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


def search_terms(query: str | None) -> list[str]:
    """Folded words of a search query, each to be matched on its own."""
    return [word for word in fold(query).split(" ") if word]
