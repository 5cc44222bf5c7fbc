"""The exchange format: the sheets and columns staff import and export.

Each column has the header a person sees and types, and an ASCII key that is
also accepted. Headers match with or without diacritics, in any letter case,
with surrounding spaces ignored, in any order (see `header_key`).
"""

from dataclasses import dataclass

from core.text import fold


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    required: bool = False
    # Columns sharing a group name: at least one of them must be filled.
    one_of: str = ""


@dataclass(frozen=True)
class Sheet:
    kind: str
    title: str
    columns: tuple[Column, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(column.key for column in self.columns)

    @property
    def required_keys(self) -> tuple[str, ...]:
        return tuple(column.key for column in self.columns if column.required)

    def column(self, key: str) -> Column:
        return next(column for column in self.columns if column.key == key)


HOUSEHOLDS = Sheet("households", "Hộ gia đình", (
    Column("ma_xa", "Mã xã", required=True),
    Column("ma_ho", "Mã hộ", required=True),
    Column("thon", "Thôn", required=True),
    Column("chu_ho", "Họ tên chủ hộ", required=True),
    Column("khu_vuc", "Khu vực"),
    Column("nong_nghiep", "Hộ làm nông, lâm, ngư, diêm nghiệp"),
    Column("dien_thoai", "Số điện thoại"),
    Column("phan_loai", "Phân loại"),
    Column("nam_phan_loai", "Năm phân loại"),
    Column("nguoi_co_cong", "Hộ có người có công"),
    Column("bao_tro_xa_hoi", "Hộ bảo trợ xã hội"),
))

MEMBERS = Sheet("members", "Thành viên", (
    Column("ma_xa", "Mã xã", required=True),
    Column("ma_ho", "Mã hộ", required=True),
    Column("ho_ten", "Họ và tên", required=True),
    Column("gioi_tinh", "Giới tính", required=True),
    Column("ngay_sinh", "Ngày sinh", required=True),
    Column("so_dinh_danh", "Số định danh"),
    Column("dan_toc", "Dân tộc", required=True),
    Column("quan_he", "Quan hệ với chủ hộ", required=True),
    Column("bhyt", "Có thẻ BHYT"),
))

INDICATOR_KEYS = (
    ("thieu_viec_lam", "Thiếu việc làm"),
    ("thieu_phu_thuoc", "Thiếu người phụ thuộc"),
    ("thieu_dinh_duong", "Thiếu dinh dưỡng"),
    ("thieu_bhyt", "Thiếu BHYT"),
    ("thieu_giao_duc", "Thiếu trình độ giáo dục người lớn"),
    ("thieu_di_hoc", "Thiếu đi học trẻ em"),
    ("thieu_chat_luong_nha", "Thiếu chất lượng nhà ở"),
    ("thieu_dien_tich_nha", "Thiếu diện tích nhà ở"),
    ("thieu_nuoc", "Thiếu nguồn nước sinh hoạt"),
    ("thieu_nha_tieu", "Thiếu nhà tiêu hợp vệ sinh"),
    ("thieu_vien_thong", "Thiếu dịch vụ viễn thông"),
    ("thieu_thong_tin", "Thiếu phương tiện tiếp cận thông tin"),
)

SURVEYS = Sheet("surveys", "Phiếu B", (
    Column("ma_xa", "Mã xã", required=True),
    Column("ma_ho", "Mã hộ", required=True),
    Column("nam", "Năm rà soát", required=True),
    Column("thu_nhap", "Thu nhập bình quân", one_of="income"),
    Column("diem_a", "Điểm thu nhập", one_of="income"),
    *(Column(key, header, required=True) for key, header in INDICATOR_KEYS),
    Column("nong_nghiep", "Hộ làm nông, lâm, ngư, diêm nghiệp"),
    Column("nguyen_nhan", "Nguyên nhân nghèo"),
))

SHEETS: dict[str, Sheet] = {sheet.kind: sheet for sheet in (HOUSEHOLDS, MEMBERS, SURVEYS)}


def header_key(text: str) -> str:
    """The comparable form of a header or a key: folded, letters and digits only.

    "Mã xã", "MA XA", " ma_xa " and "Mã  Xã" all give "maxa".
    """
    return "".join(ch for ch in fold(str(text)) if ch.isalnum())


# header_key of every header and every key -> the column key
HEADER_INDEX: dict[str, dict[str, str]] = {
    sheet.kind: {
        **{header_key(column.header): column.key for column in sheet.columns},
        **{header_key(column.key): column.key for column in sheet.columns},
    }
    for sheet in SHEETS.values()
}
