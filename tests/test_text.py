import unicodedata

from core.text import fold, nfc, search_terms


def test_fold_removes_marks_and_maps_d_with_stroke():
    assert fold("Giàng A Páo") == "giang a pao"
    assert fold("Đặng Thị Đào") == "dang thi dao"
    assert fold("  Nguyễn   Văn  Bình ") == "nguyen van binh"


def test_fold_of_decomposed_text_equals_fold_of_composed_text():
    composed = "Nguyễn Văn Bình"
    decomposed = unicodedata.normalize("NFD", composed)
    assert decomposed != composed
    assert fold(decomposed) == fold(composed)


def test_nfc_composes_decomposed_input_and_trims():
    decomposed = unicodedata.normalize("NFD", " Tẩn Láo  San ")
    assert nfc(decomposed) == "Tẩn Láo San"
    assert unicodedata.is_normalized("NFC", nfc(decomposed))


def test_search_terms_split_folded_words():
    assert search_terms("Giàng  A páo") == ["giang", "a", "pao"]
    assert search_terms("") == []


from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

VIETNAMESE = "aăâbcdđeêghiklmnoôơpqrstuưvxyàảãáạằẳẵắặầẩẫấậèẻẽéẹềểễếệìỉĩíịòỏõóọồổỗốộờởỡớợùủũúụừửữứựỳỷỹýỵ "


@given(st.text(alphabet=VIETNAMESE + VIETNAMESE.upper()))
def test_folded_vietnamese_is_plain_ascii_and_folding_is_stable(text):
    folded = fold(text)
    assert folded.isascii()
    assert fold(folded) == folded
    assert fold(unicodedata.normalize("NFD", text)) == folded


@given(st.text())
def test_nfc_output_is_always_nfc_and_stable(text):
    once = nfc(text)
    assert unicodedata.is_normalized("NFC", once)
    assert nfc(once) == once
