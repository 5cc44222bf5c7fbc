"""The Vietnamese catalogue: complete, faithful to its placeholders, compiled, and served.

Vietnamese is the default language and English the second; every msgid is
English. These tests keep locale/vi/LC_MESSAGES/django.po and its compiled
django.mo in step, and check that the pages come out in the right language.
"""

import re
import unicodedata
from collections import Counter
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.utils import translation

LC_MESSAGES = Path(settings.BASE_DIR) / "locale" / "vi" / "LC_MESSAGES"
PO_PATH = LC_MESSAGES / "django.po"
MO_PATH = LC_MESSAGES / "django.mo"

# %(name)s, %(count)d, %(seconds).1f, … (name and conversion must both survive);
# also bare %s / %d, counted by conversion.
NAMED = re.compile(r"%\((\w+)\)[#0 +-]*\d*(?:\.\d+)?([diouxXeEfFgGcrsa])")
POSITIONAL = re.compile(r"%[#0 +-]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]")
TEMPLATE_VAR = re.compile(r"{{\s*([\w.]+)\s*}}")
BRACE = re.compile(r"(?<!{){(\w*)(?:[:!][^{}]*)?}(?!})")


@pytest.fixture(scope="module")
def po() -> polib.POFile:
    return polib.pofile(str(PO_PATH))


@pytest.fixture(scope="module")
def entries(po) -> list[polib.POEntry]:
    return [e for e in po if not e.obsolete]


def _label(entry: polib.POEntry) -> str:
    return f"{entry.msgctxt + ' | ' if entry.msgctxt else ''}{entry.msgid!r}"


def _translations(entry: polib.POEntry) -> list[str]:
    if entry.msgid_plural:
        return [entry.msgstr_plural[k] for k in sorted(entry.msgstr_plural)]
    return [entry.msgstr]


def placeholders(text: str, flags: list[str]) -> tuple:
    """What must survive translation: named % placeholders, the count of bare ones,
    {{ var }} template variables, and {name} fields of brace-format strings."""
    named = frozenset(NAMED.findall(text))  # (name, conversion) pairs
    # Drop the named ones and literal %% before counting bare %s/%d.
    rest = NAMED.sub("", text).replace("%%", "")
    positional = Counter(m.group(0)[-1] for m in POSITIONAL.finditer(rest)) if "python-format" in flags else Counter()
    template_vars = frozenset(TEMPLATE_VAR.findall(text))
    brace = frozenset(BRACE.findall(TEMPLATE_VAR.sub("", text))) if "python-brace-format" in flags else frozenset()
    return named, positional, template_vars, brace


def test_catalogue_exists_and_is_not_empty(entries):
    assert PO_PATH.is_file()
    assert MO_PATH.is_file(), "run: manage.py compilemessages -l vi --ignore=.venv"
    assert len(entries) > 100


def test_header(po):
    md = po.metadata
    assert md["Language"] == "vi"
    assert "charset=UTF-8" in md["Content-Type"]
    assert md["Project-Id-Version"].startswith("poverty-review")
    assert md["Plural-Forms"].replace(" ", "") == "nplurals=1;plural=0;"
    assert not po.metadata_is_fuzzy
    # No template leftovers or personal details in the header.
    header_text = po.header + "\n".join(f"{k}: {v}" for k, v in md.items())
    for leftover in ("PACKAGE", "FULL NAME", "EMAIL@ADDRESS", "YEAR-MO-DA", "LANGUAGE <LL@li.org>", "@"):
        assert leftover not in header_text, leftover


def test_every_entry_is_translated(entries):
    untranslated = [_label(e) for e in entries if not all(t.strip() for t in _translations(e))]
    assert not untranslated, f"{len(untranslated)} untranslated: {untranslated}"


def test_no_entry_is_fuzzy(entries):
    fuzzy = [_label(e) for e in entries if "fuzzy" in e.flags]
    assert not fuzzy, f"{len(fuzzy)} fuzzy: {fuzzy}"


def test_plural_entries_have_the_one_vietnamese_form(entries):
    wrong = [_label(e) for e in entries if e.msgid_plural and sorted(e.msgstr_plural) != [0]]
    assert not wrong, f"plural entries must have exactly msgstr[0]: {wrong}"


def test_translations_keep_their_placeholders(entries):
    problems = []
    for e in entries:
        sources = [e.msgid] + ([e.msgid_plural] if e.msgid_plural else [])
        expected = [placeholders(s, e.flags) for s in sources]
        for text in _translations(e):
            if not text:
                continue
            got = placeholders(text, e.flags)
            # With one plural form, msgstr[0] stands for every count: it must match the
            # plural source (which carries the same placeholders as the singular).
            if got != expected[-1]:
                problems.append(f"{_label(e)}: expected {expected[-1]}, got {got} in {text!r}")
    assert not problems, "\n".join(problems)


def test_python_format_flag_matches_source(entries):
    """A msgid with %(x)s must be flagged python-format, or msgfmt will not check it."""
    unflagged = [_label(e) for e in entries if NAMED.search(e.msgid) and "python-format" not in e.flags]
    assert not unflagged, unflagged


def test_translations_are_nfc(entries):
    not_nfc = [_label(e) for e in entries for t in _translations(e) if not unicodedata.is_normalized("NFC", t)]
    assert not not_nfc, f"not in NFC: {not_nfc}"


def test_mo_is_in_step_with_po(entries):
    def key(e):
        return (e.msgctxt or None, e.msgid)

    def value(e):
        if e.msgid_plural:
            return (e.msgid_plural, tuple(e.msgstr_plural[k] for k in sorted(e.msgstr_plural)))
        return e.msgstr

    po_map = {key(e): value(e) for e in entries if e.translated() and "fuzzy" not in e.flags}
    mo = polib.mofile(str(MO_PATH))
    mo_map = {key(e): value(e) for e in mo if e.msgid}
    stale = sorted(set(po_map.items()) ^ set(mo_map.items()), key=repr)
    assert not stale, (
        "django.mo differs from django.po; run: manage.py compilemessages -l vi --ignore=.venv\n"
        + "\n".join(repr(item) for item in stale[:20])
    )


def test_django_uses_the_catalogue():
    with translation.override("vi"):
        assert translation.gettext("Sign in") == "Đăng nhập"
        assert translation.gettext("Poor household") == "Hộ nghèo"
        assert translation.ngettext("%(counter)s household", "%(counter)s households", 1) % {"counter": 1} == "1 hộ"
        assert translation.ngettext("%(counter)s household", "%(counter)s households", 7) % {"counter": 7} == "7 hộ"
    with translation.override("en"):
        assert translation.gettext("Sign in") == "Sign in"


# --- the pages ---------------------------------------------------------------------
#
# core.middleware.LanguageMiddleware: Vietnamese unless the user chose English with
# the language switch (the django_language cookie). The browser's Accept-Language
# is deliberately not followed: many officers' phones are set to English.

LOGIN_URL = "/accounts/login/"


def _page(response) -> str:
    assert response.status_code == 200
    return response.content.decode("utf-8")


def _is_vietnamese(html: str) -> bool:
    return '<html lang="vi">' in html and "Đăng nhập" in html and "Sign in" not in html


def _is_english(html: str) -> bool:
    return '<html lang="en">' in html and "Sign in" in html and "Đăng nhập" not in html


def test_login_page_is_vietnamese_by_default(client, db):
    response = client.get(LOGIN_URL)
    assert _is_vietnamese(_page(response))
    assert response.headers["Content-Language"] == "vi"


@pytest.mark.parametrize("accept_language", ["en", "en-US,en;q=0.9", "fr", "vi"])
def test_accept_language_does_not_change_the_language(client, db, accept_language):
    assert _is_vietnamese(_page(client.get(LOGIN_URL, HTTP_ACCEPT_LANGUAGE=accept_language)))


def test_language_cookie_selects_english(client, db):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = client.get(LOGIN_URL)
    assert _is_english(_page(response))
    assert response.headers["Content-Language"] == "en"


def test_language_cookie_en_with_accept_language_en(client, db):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    assert _is_english(_page(client.get(LOGIN_URL, HTTP_ACCEPT_LANGUAGE="en")))


def test_language_cookie_vi_wins_over_accept_language_en(client, db):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "vi"
    assert _is_vietnamese(_page(client.get(LOGIN_URL, HTTP_ACCEPT_LANGUAGE="en")))


def test_unsupported_language_cookie_falls_back_to_vietnamese(client, db):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    assert _is_vietnamese(_page(client.get(LOGIN_URL)))


def test_set_language_view_switches_to_english_and_back(client, db):
    response = client.post("/i18n/setlang/", {"language": "en", "next": LOGIN_URL})
    assert response.status_code == 302
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    assert _is_english(_page(client.get(LOGIN_URL)))
    client.post("/i18n/setlang/", {"language": "vi", "next": LOGIN_URL})
    assert _is_vietnamese(_page(client.get(LOGIN_URL)))
