"""Numbers read from an address (?commune=, ?year=, ?household=): never trusted.

A user can type anything after the "?", so a value that is not a plain number, or
one larger than any database column holds (the driver would raise instead of finding
nothing), reads as "not given".
"""

INT_MAX = 2**63 - 1


def positive_int(value, maximum: int = INT_MAX) -> int | None:
    """`value` as an integer in 1..maximum, or None (ASCII digits only: "²".isdigit() is true)."""
    text = str(value or "").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 19:
        return None
    number = int(text)
    return number if 0 < number <= maximum else None
