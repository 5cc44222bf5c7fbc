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
