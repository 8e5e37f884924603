"""Code -> label mappers for every integer code the production backend stores.

Production (Spring/JPA) keeps enums as integer codes and multi-valued fields as comma-separated
code strings. This module is the one place that knows what the codes mean; preprocessing, the
demo world, the models and the pages all read their labels from here.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

# --- dining, order and food status -------------------------------------------------------------
BREAKFAST, LUNCH, DINNER = 1, 2, 3
DINING_TYPE = {BREAKFAST: "아침", LUNCH: "점심", DINNER: "저녁"}

ORDER_STATUS = {
    1: "문의중", 2: "처리중", 3: "결제대기중", 4: "주문실패", 5: "결제완료", 6: "배송대기", 7: "취소",
    8: "취소대기", 9: "배송중", 10: "배송완료", 11: "수령완료", 12: "수동 환불", 13: "자동 환불",
    14: "리뷰 작성 완료",
}
ORDER_COMPLETED, ORDER_CANCELLED, ORDER_RECEIVED, ORDER_REVIEWED = 5, 7, 11, 14
PAID_STATUSES = frozenset({5, 6, 9, 10, 11, 14})
CANCELLED_STATUSES = frozenset({7, 8, 12, 13})

FOOD_STATUS = {0: "판매대기", 1: "판매중", 2: "판매중지"}
FOOD_ON_SALE = 1
DAILY_FOOD_STATUS = {0: "판매대기", 1: "판매중", 2: "품절", 3: "취소불가품", 4: "판매중지", 5: "등록대기",
                     6: "주문마감"}
DAILY_FOOD_ON_SALE, DAILY_FOOD_CLOSED = 1, 6

MAKERS_SERVICE_TYPE = {0: "한식", 1: "중식", 2: "일식", 3: "양식", 4: "분식", 5: "아시안", 6: "기타"}
MAKERS_SERVICE_FORM = {0: "직접배송", 1: "배송대행"}

# --- clients and users ---------------------------------------------------------------------------
GROUP_TYPE = {0: "기업", 1: "오픈그룹", 2: "마이스팟존"}
CORPORATION, OPEN_GROUP, MY_SPOT_ZONE = 0, 1, 2
SPOT_STATUS = {0: "비활성", 1: "활성"}
USER_ROLE = {0: "일반", 1: "관리자", 2: "매니저"}
USER_STATUS = {0: "탈퇴", 1: "활성", 2: "탈퇴대기"}
USER_ACTIVE, USER_WITHDRAWN = 1, 0
CLIENT_STATUS = {0: "탈퇴", 1: "소속", 2: "대기"}
CLIENT_BELONG, CLIENT_WITHDRAWN = 1, 0
ORDER_TYPE = {1: "정기식사", 2: "마켓", 3: "카탈로그"}
ORDER_TYPE_DAILY = 1
VEGAN_LEVEL = {0: "해당없음", 1: "플렉시테리언", 2: "폴로", 3: "페스코", 4: "락토오보", 5: "비건"}
WEEKDAY = {0: "월", 1: "화", 2: "수", 3: "목", 4: "금", 5: "토", 6: "일"}
"""Python's ``date.weekday()`` (Monday = 0) -> Korean short weekday name."""

# --- food tags, by category (code range) ---------------------------------------------------------
_TAG_CATEGORIES: dict[str, tuple[int, list[str]]] = {
    "요리스타일": (1, ["한식", "분식", "중식", "일식", "양식", "동남아", "인도"]),
    "국가": (1001, ["한국", "중국", "일본", "미국", "이탈리아", "프랑스", "스페인", "멕시코", "베트남", "태국",
                  "인도", "인도네시아", "필리핀", "말레이시아", "대만", "터키", "그리스", "독일", "영국", "브라질",
                  "러시아", "레바논", "모로코", "하와이"]),
    "식품유형": (2001, ["밥류", "면류", "국/탕", "찌개/전골", "구이", "볶음", "조림", "튀김", "찜", "샐러드",
                    "샌드위치", "버거", "피자", "파스타", "덮밥", "김밥", "죽", "떡볶이", "만두", "도시락",
                    "커리", "포케", "빵", "디저트"]),
    "주재료": (3001, ["소고기", "돼지고기", "닭고기", "오리고기", "양고기", "생선", "해산물", "두부", "달걀",
                   "채소", "버섯", "곡물", "유제품"]),
    "조리법": (4001, ["구이", "볶음", "튀김", "찜", "조림", "무침", "생식", "훈제", "끓임"]),
    "온도": (5001, ["뜨거운", "따뜻한", "상온", "차가운", "얼린"]),
    "맛": (6001, ["단맛", "짠맛", "신맛", "매운맛", "감칠맛", "담백한맛"]),
    "메뉴성격": (7001, ["든든한", "가벼운", "건강한", "자극적인", "담백한", "고단백", "저칼로리", "프리미엄",
                    "가성비", "집밥", "이색", "트렌디", "클래식", "해장", "보양", "간편한", "푸짐한", "달콤한",
                    "상큼한", "고소한"]),
    "알레르기": (8001, ["난류", "우유", "메밀", "땅콩", "대두", "밀", "고등어", "게", "새우", "돼지고기", "복숭아",
                    "토마토", "아황산류", "호두", "닭고기", "쇠고기", "오징어", "굴", "전복", "홍합", "잣", "기타"]),
    "특이식성": (9001, ["채식", "글루텐프리", "할랄푸드", "키토제닉", "다이어트", "저염식"]),
    "맵기": (10001, ["맵지 않음", "약간 매움", "보통 매움", "불닭볶음면 맵기"]),
    "식품타입": (11001, ["간편식", "샐러드", "정찬도시락", "산후조리식", "다이어트식", "프로틴식", "한그릇 음식"]),
}

CUISINE, COUNTRY, FOOD_KIND, MAIN_INGREDIENT, COOKING, TEMPERATURE, TASTE, MENU_CHARACTER, \
    ALLERGY, DIET, SPICINESS, FOOD_TYPE = _TAG_CATEGORIES

TAG_CATEGORY_CODES: dict[str, list[int]] = {
    name: list(range(start, start + len(labels))) for name, (start, labels) in _TAG_CATEGORIES.items()
}
"""Category name -> the tag codes it owns, in code order."""

FOOD_TAG: dict[int, str] = {
    start + i: label for start, labels in _TAG_CATEGORIES.values() for i, label in enumerate(labels)
}
"""Every food tag code -> its Korean label."""

_CATEGORY_OF_TAG = {code: name for name, codes in TAG_CATEGORY_CODES.items() for code in codes}


def tag_category(code: int) -> str | None:
    """The category a food tag belongs to (``"맵기"`` for 10003), or None for an unknown code."""
    return _CATEGORY_OF_TAG.get(code)


def parse_codes(value: str | None) -> list[int]:
    """Parse production's comma-separated code strings (``"1,3002, 10002"``); blanks, None, NaN -> []."""
    if value is None or (isinstance(value, float) and value != value):   # None or NaN
        return []
    out = []
    for part in str(value).split(","):
        part = part.strip()
        if part:
            out.append(int(part))
    return out


def join_codes(codes: Iterable[int]) -> str:
    """The inverse of :func:`parse_codes`: ``[1, 3002]`` -> ``"1,3002"``."""
    return ",".join(str(int(c)) for c in codes)


def tags_in(codes: Iterable[int], category: str) -> list[int]:
    """The codes of ``codes`` that belong to ``category``, order kept."""
    return [c for c in codes if _CATEGORY_OF_TAG.get(c) == category]


def first_tag(codes: Iterable[int], category: str) -> int | None:
    """The first code of ``category`` in ``codes``, or None."""
    found = tags_in(codes, category)
    return found[0] if found else None


def label(mapping: Mapping[int, str], code: int | None, default: str = "미상") -> str:
    """Label for ``code`` in ``mapping``; unknown or missing codes read as ``default``."""
    if code is None:
        return default
    try:
        return mapping.get(int(code), default)
    except (TypeError, ValueError):
        return default


def labels(mapping: Mapping[int, str], codes: Iterable[int]) -> list[str]:
    """Labels for several codes, unknown ones kept visible as ``"?{code}"``."""
    return [mapping.get(int(c), f"?{c}") for c in codes]
