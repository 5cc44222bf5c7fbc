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
