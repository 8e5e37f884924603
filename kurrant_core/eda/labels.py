"""Korean display names of the EDA measures, for chart axes, legends and table headers."""
from __future__ import annotations

from kurrant_core import columns as C

MEASURE_LABEL: dict[str, str] = {
    C.N_ORDERS: "주문 수(식사별)", C.N_ITEMS: "주문 수량", C.N_USERS: "활성 사용자", C.REVENUE: "매출(원)",
    C.ITEMS_PER_USER: "사용자당 주문 수량", C.CANCEL_RATE: "취소율", C.AVG_SATISFACTION: "평균 만족도",
    C.N_CANCELLED: "취소 수량", C.N_REVIEWS: "리뷰 수", C.N_FOODS: "음식 수", C.SHARE: "비중",
    C.SERVICE_DATE: "서비스일", C.WEEK: "주(월요일 시작)", C.WEEKDAY_LABEL: "요일", C.DINING_LABEL: "식사",
    C.MOVING_AVG_7D: "7일 이동평균", C.FOOD_NAME: "음식", C.MAKERS_NAME: "메이커스", C.CUISINE_LABEL: "카테고리",
    C.GROUP_NAME: "고객사", C.FOOD_SHARE: "음식 누적 비율", C.ITEM_SHARE: "주문 누적 비율", C.GINI: "지니 계수",
    C.TOP10_SHARE: "상위 10% 음식 점유율", C.TIMES_OFFERED: "메뉴 노출 횟수", C.TIMES_CHOSEN: "선택된 횟수",
    C.PICK_RATE: "선택 비율", C.TAKE_RATE: "점유율(노출 시)", C.DAYS_BETWEEN: "재주문 간격(일)",
    C.N_REPEATS: "재주문 수량", C.REPEAT_7D_SHARE: "7일 내 재주문 비중", C.REPEAT_30D_SHARE: "30일 내 재주문 비중",
    C.NEW_USERS: "신규 사용자", C.RETURNING_USERS: "재방문 사용자", C.COHORT_WEEK: "코호트(첫 주문 주)",
    C.WEEKS_SINCE: "경과 주", C.COHORT_SIZE: "코호트 크기", C.RETENTION: "유지율", C.UNIT_PRICE: "단가(원)",
    C.SATISFACTION: "만족도", C.CURRENT: "현재 기간", C.PREVIOUS: "이전 기간", C.CHANGE: "변화",
}
"""Measure / column name -> Korean label; a name missing here is shown as is."""


def korean(frame_columns) -> dict[str, str]:
    """``{column: label}`` for the columns that have a Korean label (for ``DataFrame.rename``)."""
    return {name: MEASURE_LABEL[name] for name in frame_columns if name in MEASURE_LABEL}
