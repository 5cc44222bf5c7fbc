"""Reference lists shipped with the application (loaded by a data migration)."""

import csv
import unicodedata
from pathlib import Path

ETHNICITIES_CSV = Path(__file__).resolve().parent / "data" / "ethnicities.csv"


def load_ethnicities(model) -> int:
    """Create or update the 54 ethnic groups; `model` may be a migration's historical model."""
    count = 0
    with ETHNICITIES_CSV.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            name = unicodedata.normalize("NFC", row["name"])
            model.objects.update_or_create(
                code=row["code"],
                defaults={
                    "name": name,
                    "code_1979": row["code_1979"],
                    "aliases": unicodedata.normalize("NFC", row["aliases"]),
                    "is_minority": name != "Kinh",
                },
            )
            count += 1
    return count


def match_ethnicity(text: str, groups=None):
    """The ethnic group a written name stands for, by name or accepted spelling,
    with or without diacritics ("H'Mông", "Hmong", "mong" → Mông). None if unknown."""
    from core.text import fold

    from .models import Ethnicity

    wanted = _key(fold(text))
    if not wanted:
        return None
    for group in groups if groups is not None else Ethnicity.objects.all():
        spellings = [group.name, *[a for a in group.aliases.split(";") if a.strip()]]
        if any(_key(fold(spelling)) == wanted for spelling in spellings):
            return group
    return None


def _key(folded: str) -> str:
    # "h'mong", "h mong", "h-mong" and "hmong" are one spelling.
    return "".join(ch for ch in folded if ch.isalnum())
