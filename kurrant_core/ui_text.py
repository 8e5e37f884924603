"""The dashboard's one label catalogue: every title, label, help and message, in Korean and English.

The UI speaks Korean by default; the sidebar's language switch picks English. Pages never hard-code
display text: they call ``app_support.t(key, **values)``, which reads the language from the session
and calls :func:`text` here. Keeping the catalogue in the library (which never imports streamlit)
lets tests check it without a browser, and gives the CLI and the pages the same words.

Also here, because they are display rules rather than data: the one timestamp style
(:func:`timestamp`), prices with thousands separators (:func:`won`), the 0–100 match
(:func:`match_percent`) and the Korean reading of the models' why-lines (:func:`why_line`).
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import date, datetime

import pandas as pd

from kurrant_core import columns as C
from kurrant_core.ui_error_text import ERROR_TEXT

KO, EN = "ko", "en"
LANGUAGES: dict[str, str] = {KO: "한국어", EN: "English"}
DEFAULT_LANGUAGE = KO
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M"
"""The one timestamp style of the UI (minutes; seconds never help a reader)."""

# key -> (Korean, English). Values may hold str.format fields, filled by text(key, **values).
TEXT: dict[str, tuple[str, str]] = {
    # ----------------------------------------------------------------- app and navigation
    "app.language": ("언어 · Language", "언어 · Language"),
    "nav.overview": ("개요", "Overview"),
    "nav.order_eda": ("주문 분석", "Order EDA"),
    "nav.compare": ("추천 비교", "Compare recommendations"),
    "nav.leaderboard": ("모델 순위표", "Leaderboard"),
    "nav.retrain": ("재학습 · 실행 기록", "Retrain & runs"),
    "nav.auto_order": ("자동 주문 미리보기", "Auto-order preview"),
    # ----------------------------------------------------------------- auto-order preview
    "ao.title": ("자동 주문 미리보기", "Auto-order preview"),
    "ao.caption": ("자동 구매에 동의한 사용자에게 이 날 이 식사로 무엇을 주문할지 미리 봅니다. 알레르기·가격 상한·기피 "
                   "설정·메이커스와 음식의 남은 수량을 지키고, 모델의 취향 점수와 다양성·분산을 함께 최적화합니다. "
                   "미리보기일 뿐이며 운영에는 아무것도 보내지 않습니다.",
                   "What the automatic purchase would order for the users who opted in, for this date and "
                   "meal: allergies, price caps, avoid-lists and each maker's and food's remaining portions "
                   "are kept; the model's taste scores, variety and a spread across the group are optimised "
                   "together. A preview only: nothing is sent to production."),
    "ao.run": ("추천 실행", "Run"), "ao.date": ("서비스일", "Service date"), "ao.dining": ("식사", "Meal"),
    "ao.as_of": ("기준 시각", "As of"),
    "ao.as_of_help": ("이 시각까지의 주문이 수량을 차지합니다. 기본값은 마감(전날 17:00).",
                      "Orders placed by then take capacity. Default: the deadline (17:00 the day before)."),
    "ao.mode": ("방식", "Mode"),
    "ao.mode.preview": ("미리보기: 아직 주문하지 않은 동의 사용자", "Preview: opted-in users without an order"),
    "ao.mode.replay": ("재현: 동의 사용자 모두, 실제 주문과 비교", "Replay: every opted-in user, against what they ordered"),
    "ao.no_runs": ("완료된 추천 실행이 없습니다. *재학습 · 실행 기록* 페이지에서 먼저 학습하세요.",
                   "No finished run yet. Train one on the *Retrain & runs* page first."),
    "ao.no_menu_days": ("메뉴가 있는 날이 없습니다. 데이터를 불러오고 전처리하세요.",
                        "No day has a menu. Load data and run preprocess."),
    "ao.users": ("대상 사용자", "Users to plan"), "ao.planned": ("배정", "Planned"),
    "ao.unplanned": ("배정 못 함", "Left without a pick"), "ao.already": ("직접 주문함", "Ordered themselves"),
    "ao.total_price": ("총 금액", "Total price"), "ao.match": ("실제 주문과 일치", "Equal to the real order"),
    "ao.match_value": ("{matches} / {users}명 ({rate:.0%})", "{matches} of {users} ({rate:.0%})"),
    "ao.objective": ("최적화 목적값 {opt:,.2f} (탐욕 기준 {greedy:,.2f})",
                     "Objective {opt:,.2f} (greedy baseline {greedy:,.2f})"),
    "ao.leaked": ("이 실행은 {cutoff}까지의 주문으로 학습해 이 날의 실제 주문을 보았습니다: 재현 일치율이 "
                  "실제보다 높게 나옵니다. 공정한 비교는 `auto-order backtest`를 쓰세요.",
                  "This run was trained on orders up to {cutoff}, so it saw this day's orders: the replay's "
                  "match rate is optimistic. For a fair figure use `auto-order backtest`."),
    "ao.reasons": ("배정하지 못한 이유", "Why some users got no pick"),
    "ao.makers": ("메이커스별 배정 수량과 남은 수량", "Planned portions per maker against what is left"),
    "ao.makers_help": ("남은 수량 = 정원 − 이미 들어온 주문 − 이번 배정. 비어 있으면 정원 기록이 없습니다.",
                       "Left = capacity − orders already in − this plan. Empty: no capacity recorded."),
    "ao.foods": ("음식별 배정 vs 실제 주문 (같은 고객사들)", "Planned foods against what the groups really ordered"),
    "ao.table": ("사용자별 배정", "Each user's pick"),
    "ao.nobody": ("이 날 이 식사에 배정할 동의 사용자가 없습니다.", "No opted-in user to plan for this meal."),
    "ao.save": ("이 계획 저장", "Save this plan"),
    "ao.saved": ("계획 {plan_id}을(를) 저장했습니다 (미리보기, 운영으로 보내지 않음).",
                 "Saved as plan {plan_id} (a preview; nothing sent to production)."),
    "ao.download": ("CSV 내려받기", "Download CSV"),
    "ao.settings": ("자동 주문 동의 설정", "Opt-in settings"),
    "ao.settings_caption": ("한 줄에 한 사용자. 식사·요일은 쉼표로 구분한 코드(식사 1 아침·2 점심·3 저녁, 요일 0 월 … 6 일), "
                            "기피 음식·메이커스는 id 목록입니다.",
                            "One row per user. Meals and weekdays are comma-separated codes (meal 1 breakfast, "
                            "2 lunch, 3 dinner; weekday 0 Monday … 6 Sunday); avoided foods and makers are id lists."),
    "ao.settings_save": ("설정 저장", "Save settings"),
    "ao.settings_saved": ("{n}명의 설정을 저장했습니다.", "Saved the settings of {n} users."),
    "ao.settings_count": ("동의 사용자 {n}명", "{n} users opted in"),
    C.PLANNED: ("배정", "Planned"), C.REMAINING: ("남은 수량", "Left"), C.REASON: ("이유", "Why"),
    C.ORDERED_FOOD_IDS: ("실제 주문", "Really ordered"), C.IS_MATCH: ("일치", "Equal"),
    C.MAX_PRICE: ("가격 상한(원)", "Price cap (won)"), C.DINING_TYPES: ("식사", "Meals"),
    C.WEEKDAYS: ("요일", "Weekdays"), C.AVOID_FOOD_IDS: ("기피 음식", "Avoided foods"),
    C.AVOID_MAKERS_IDS: ("기피 메이커스", "Avoided makers"), C.ACTIVE_FROM: ("시작일", "From"),
    C.ACTIVE_TO: ("종료일", "To"), C.UPDATED_BY: ("수정한 사람", "Updated by"),
    "ao.user": ("사용자", "User"), C.PRICE: ("가격", "Price"),
    "ao.source.planned": ("자동 주문 계획", "Planned"), "ao.source.actual": ("실제 주문", "Real orders"),
    # ----------------------------------------------------------------- overview
    "ov.caption": ("DE 데이터베이스: `{url}` — 대시보드는 운영 DB를 읽지 않습니다.",
                   "DE database: `{url}` — the dashboard never reads production."),
    "ov.data": ("데이터", "Data"),
    "ov.users": ("사용자", "Users"), "ov.foods": ("음식", "Foods"), "ov.order_items": ("주문 항목", "Order items"),
    "ov.paid_items": ("결제된 항목", "Paid items"), "ov.groups": ("고객사", "Groups"),
    "ov.makers": ("메이커스", "Makers"), "ov.first_date": ("첫 서비스일", "First service date"),
    "ov.last_date": ("마지막 서비스일", "Last service date"),
    "ov.freshness": ("데이터 신선도", "Freshness"),
    "ov.latest_order": ("최근 주문", "Latest order"), "ov.marts_built": ("마트 마지막 생성", "Marts last built"),
    "ov.none": ("없음", "none"), "ov.never": ("아직 없음", "never"),
    "ov.active_runs": ("운영 중인 추천 실행", "Active recommendation runs"),
    "ov.no_active": ("아직 운영 중인 실행이 없습니다. *재학습 · 실행 기록* 페이지에서 학습하거나 "
                     "`python -m kurrant_core train --model hybrid` 를 실행하세요.",
                     "No active run yet. Train one on the *Retrain & runs* page or with "
                     "`python -m kurrant_core train --model hybrid`."),
    "ov.sync": ("운영 DB 동기화", "Sync from production"),
    "ov.no_sync": ("이 DE 데이터베이스에는 동기화 기록이 없습니다 (데모 데이터는 로컬에서 생성). 운영에서 복사하려면 "
                   "`python -m kurrant_core sync --source URL` 을 실행하세요.",
                   "No sync has run against this DE database (demo data is generated locally). "
                   "Run `python -m kurrant_core sync --source URL` to copy from production."),
    "ov.all_counts": ("전체 테이블 행 수", "All counts"), "ov.table": ("테이블", "table"), "ov.rows": ("행 수", "rows"),
    # ----------------------------------------------------------------- compare: sidebar
    "cmp.title": ("추천 비교", "Compare recommendations"),
    "cmp.caption": ("한 사용자에게 각 모델이 무엇을 추천하는지 나란히 — 그리고 다양성 조절이 무엇을 바꾸는지. "
                    "알레르기 필터는 항상 적용됩니다.",
                    "One user, what each model would recommend, side by side — and what the diversity "
                    "knobs do. The allergy filter always applies."),
    "cmp.user": ("사용자", "User"), "cmp.group": ("고객사", "Group"), "cmp.all_groups": ("전체 고객사", "All groups"),
    "cmp.group_help": ("빠른 선택과 목록 탐색을 이 고객사로 좁힙니다", "Filters the quick picks and the browse list"),
    "cmp.browse": ("고객사 사용자 탐색", "Browse the group"), "cmp.browse_pick": ("사용자 선택…", "Pick a user…"),
    "cmp.browse_item": ("#{user} · {n}개 주문", "#{user} · {n} items"),
    "cmp.user_id": ("사용자 ID", "User id"),
    "cmp.pick.heavy": ("주문 많은 사용자", "Heavy user"), "cmp.pick.light": ("주문 적은 사용자", "Light user"),
    "cmp.pick.cold": ("신규 사용자", "Cold-start user"), "cmp.pick.random": ("무작위 사용자", "Random user"),
    "cmp.setting": ("무엇을 순위 매길까", "Setting"), "cmp.rank": ("대상", "Rank"),
    "cmp.scope.menu": ("하루 메뉴", "A day's menu"), "cmp.scope.catalog": ("전체 카탈로그", "The catalog"),
    "cmp.date": ("서비스일", "Service date"), "cmp.dining": ("식사", "Dining type"),
    "cmp.models": ("모델", "Models"), "cmp.runs": ("비교할 실행 (2–4개)", "Runs (2–4)"),
    "cmp.runs_help": ("rec_run 의 완료된 실행, 최신순", "Finished runs in rec_run, newest first"),
    "cmp.no_runs_side": ("아직 완료된 실행이 없습니다.", "No finished runs yet."),
    "cmp.knobs": ("다양성 조절", "Diversity knobs"),
    "cmp.k": ("목록 길이 k", "List length k"),
    "cmp.mmr": ("MMR λ (1 = 끔, 0 = 다양성만)", "MMR λ (1 = off, 0 = diversity only)"),
    "cmp.dpp": ("DPP θ (1 = 끔)", "DPP θ (1 = off)"),
    "cmp.calibration": ("취향 보정 λ (0 = 끔)", "Calibration λ (0 = off)"),
    "cmp.calibration_help": ("각 목록을 사용자의 카테고리 구성에 가깝게 당깁니다",
                             "Pull each list towards the user's category mix"),
    "cmp.max_category": ("카테고리당 최대", "Max per category"), "cmp.max_maker": ("메이커스당 최대", "Max per maker"),
    "cmp.zero_off": ("0 = 끔", "0 = off"),
    "cmp.history_cap": ("카테고리 쏠림을 주문 이력 수준으로 제한", "Cap a category at the user's own top share"),
    "cmp.history_cap_help": ("한 카테고리가 목록에서 차지하는 비율이 사용자의 가장 많이 주문한 카테고리 비율을 넘지 않도록 "
                             "아래로 옮깁니다 (목록 길이는 그대로)",
                             "Moves foods down so no category fills more of the list than the user's most-ordered "
                             "category fills their orders (the list keeps its length)"),
    "cmp.repeat": ("재주문 제외 기간 (일, 0 = 끔)", "Repeat window (days, 0 = off)"),
    "cmp.repeat_help": ("최근 N일 안에 먹은 음식을 숨깁니다", "Hide foods the user ate in the last N days"),
    "cmp.popularity": ("인기 페널티 β", "Popularity penalty β"), "cmp.explore": ("탐색 τ", "Exploration τ"),
    "cmp.seed": ("탐색 시드", "Exploration seed"),
    "cmp.reset": ("조절값 초기화", "Reset knobs"),
    "cmp.reset_help": ("기본 다양성 정책으로: 실행이 실제로 내보내는 목록", "Back to the default policy: the lists runs ship"),
    "cmp.knobs_caption": ("조절값은 기본 다양성 정책에서 시작하므로 보이는 목록이 실제로 내보내는 목록입니다. 모델 고유의 "
                          "순서를 보려면 모든 조절을 끄세요.",
                          "The knobs start at the default diversity policy, so the lists shown are the lists "
                          "runs ship; set every knob to its off value to see the models' own order."),
    "cmp.save_policy": ("이 조절값을 정책으로 저장", "Save these knobs as a policy"),
    "cmp.save_caption": ("저장한 정책은 재학습 페이지에서 모델에 지정할 수 있고, 그 실행은 목록을 정확히 이렇게 재정렬해 "
                         "저장(및 배포)합니다.",
                         "A saved policy can be chosen for a model on the Retrain & runs page: its runs then "
                         "write (and publish) their lists re-ranked exactly like this."),
    "cmp.policy_name": ("정책 이름", "Policy name"), "cmp.team_password": ("팀 비밀번호", "Team password"),
    "cmp.save_button": ("정책 저장", "Save policy"),
    "cmp.saved": ("정책 {name} 저장됨: {steps}", "Saved policy {name}: {steps}"),
    "cmp.share": ("이 화면의 링크", "Link to this view"),
    "cmp.share_caption": ("주소창의 URL에 사용자, 대상, 날짜, 식사, 실행과 조절값이 담겨 있어 그대로 공유하면 같은 목록이 "
                          "열립니다.",
                          "The address bar holds the user, setting, date, dining type, runs and knobs: share it "
                          "and the same lists open."),
    # ----------------------------------------------------------------- compare: the user
    "cmp.user_title": ("사용자 {user}", "User {user}"),
    "cmp.spot": ("스팟", "Spot"), "cmp.status": ("상태", "Status"), "cmp.left": (" ({day} 탈퇴)", " (left {day})"),
    "cmp.paid_items": ("결제 항목", "Paid items"), "cmp.first_order": ("첫 주문", "First order"),
    "cmp.last_order": ("마지막 주문", "Last order"), "cmp.survey": ("취향 설문", "Taste survey"),
    "cmp.not_answered": ("응답 안 함", "not answered"), "cmp.allergies": ("알레르기", "Allergies"),
    "cmp.none": ("없음", "none"), "cmp.diet": ("식단", "Diet"),
    # ----------------------------------------------------------------- compare: the setting
    "cmp.no_menus": ("DE 데이터베이스에 일별 메뉴가 없습니다: 대신 전체 카탈로그를 순위 매기세요.",
                     "The DE database holds no daily menus: rank the catalog instead."),
    "cmp.setting_menu": ("{group}의 {day} ({weekday}) {meal} 메뉴 ({n}개 음식)",
                         "{group}'s {meal} menu on {day} ({weekday}, {n} foods)"),
    "cmp.setting_catalog": ("전체 카탈로그 (판매 중인 모든 음식)", "the catalog (every food on sale)"),
    "cmp.ranking": ("순위 대상: {setting}.", "Ranking {setting}."),
    "cmp.no_runs": ("비교할 완료된 실행이 아직 없습니다. 빠른 모델을 여기서(데모 데이터로 몇 초), 재학습 페이지에서, "
                    "또는 명령줄에서 학습하세요:",
                    "There are no finished runs to compare yet. Start a retrain of the fast models here "
                    "(seconds on the demo data), on the retrain page, or from the command line:"),
    "cmp.retrain_now": ("{models} 지금 재학습", "Retrain {models} now"),
    "cmp.retrain_started": ("재학습 작업 {job}이(가) 백그라운드에서 시작됐습니다. 끝나면 이 페이지를 새로고침하세요 "
                            "(재학습 페이지에서 진행 상황을 볼 수 있습니다).",
                            "Retrain job {job} started in the background. Reload this page when it is done "
                            "(the retrain page follows its progress)."),
    "cmp.pick_runs": ("사이드바의 *모델*에서 실행을 2–4개 고르세요.", "Pick 2–4 runs under *Models* in the sidebar."),
    # ----------------------------------------------------------------- compare: the pick of the day
    "cmp.pick_title": ("오늘의 AI 추천", "The AI pick of the day"),
    "cmp.pick_caption_past": ("각 모델의 1위가 앱에 'AI 추천'으로 보입니다. {day}은(는) 지난 날이라 사용자가 실제로 "
                              "주문한 음식과 비교합니다.",
                              "Each model's #1 is what the app shows as the AI pick. {day} is in the past, so "
                              "it is checked against what the user actually ordered."),
    "cmp.pick_caption": ("각 모델의 1위가 앱에 'AI 추천'으로 보입니다.", "Each model's #1 is what the app shows as the AI pick."),
    "cmp.ai_pick": ("AI 추천", "AI pick"),
    "cmp.hit": ("적중: 실제로 주문한 음식", "Hit: the food they ordered"),
    "cmp.miss": ("빗나감 — 실제 주문: {foods}", "Miss — they ordered: {foods}"),
    "cmp.no_order_that_day": ("이 사용자는 이날 이 식사를 주문하지 않았습니다.",
                              "The user did not order this meal that day."),
    "cmp.in_list_at": ("실제 주문 음식은 이 목록의 {rank}위", "the ordered food is #{rank} in this list"),
    "cmp.not_in_list": ("실제 주문 음식이 이 목록에 없음", "the ordered food is not in this list"),
    "cmp.no_pick": ("추천 없음", "no pick"),
    "cmp.identical": ("{labels}의 목록이 완전히 같아 지표도 같습니다{why}.",
                      "The lists of {labels} are identical, so their figures are equal{why}."),
    "cmp.same_set": ("{labels}의 목록은 같은 음식들을 순서만 다르게 담고 있어 목록 지표가 같습니다{why}: 순서를 비교하세요.",
                     "{labels} hold the same foods in a different order, so the list figures are equal{why}: "
                     "compare the order."),
    "cmp.short_menu": (" (메뉴가 {n}개뿐이라 k = {k} 목록이 메뉴 전체를 담습니다)",
                       " (the menu has only {n} foods, so a k = {k} list holds all of it)"),
    # ----------------------------------------------------------------- compare: lists
    "cmp.side_by_side": ("나란히 보기", "Side by side"),
    "cmp.cold_start": (":snowflake: 신규 사용자: 모델이 대체 방식으로 답합니다 (취향 설문, 없으면 고객사 인기).",
                       ":snowflake: Cold start: the model answers with its fallback (taste survey, else group "
                       "popularity)."),
    "cmp.hidden": ("숨김: {parts}.", "Hidden: {parts}."),
    "cmp.hidden_allergy": ("알레르기 필터로 {n}개", "{n} by the allergy filter"),
    "cmp.hidden_repeat": ("재주문 제외로 {n}개", "{n} by the repeat window"),
    "col.rank": ("#", "#"), "col.food": ("음식", "Food"), "col.maker": ("메이커스", "Maker"),
    "col.category": ("카테고리", "Category"), "col.spiciness": ("맵기", "Spiciness"), "col.price": ("가격", "Price"),
    "col.match": ("적합도", "Match"),
    "col.match_help": ("모델 점수를 이 후보들 안에서 0–100으로 환산 (100 = 모델이 가장 높게 본 음식)",
                       "The model's score on a 0–100 scale among these candidates (100 = the model's favourite)"),
    "col.model_rank": ("모델 순위", "Model rank"),
    "col.model_rank_help": ("다양성 조절 전 모델 고유의 순위", "Rank before the knobs re-ranked it"),
    "col.marks": ("표시", "Marks"),
    "col.marks_help": ("🛒 실제 주문 · ◆ 다른 목록에도 있음 · ↺ 전에 먹음 (마지막 날짜)",
                       "🛒 actually ordered · ◆ also in other lists · ↺ eaten before (last time)"),
    "col.food_why": ("음식 · 추천 이유", "Food · why"),
    "mark.ordered": ("🛒 실제 주문", "🛒 ordered"),
    "mark.shared": ("◆ {n}/{total}개 목록", "◆ in {n} of {total} lists"),
    "mark.eaten": ("↺ {day}에 먹음", "↺ ate {day}"),
    "cmp.measured": ("{n}개 목록을 {ms:.0f} ms에 재정렬·측정; 변화는 각 모델 고유의 top-k (모든 조절 끔) 대비입니다.",
                     "Re-ranked and measured {n} lists in {ms:.0f} ms; changes are against each model's own "
                     "top-k (every knob off)."),
    "cmp.overlap": ("목록 간 겹침", "Overlap between the lists"),
    "cmp.overlap_one": ("두 번째 실행을 고르면 목록이 얼마나 일치하는지 볼 수 있습니다.",
                        "Pick a second run to see how much the lists agree."),
    "col.list": ("목록", "List"), "col.other_list": ("다른 목록", "Other list"),
    "col.jaccard_help": ("공통 음식 / 전체 음식", "Shared foods / all foods"),
    "col.rbo_help": ("순위 가중 겹침 (p = 0.9): 상위 순위 일치를 더 중시", "Rank-biased overlap (p = 0.9): agreement, top ranks first"),
    "cmp.history": ("사용자의 주문 이력", "The user's history"),
    "cmp.history_title": ("주문한 음식", "What they ordered"),
    "cmp.mix_title": ("카테고리 구성: 이력 vs 각 목록", "Category mix: history vs each list"),
    "cmp.history_label": ("주문 이력", "Order history"),
    "cmp.no_history": ("사용자 {user}은(는) {before}결제된 주문이 없습니다. 주문을 본 적 없는 모델은 신규 사용자 대체 방식으로 "
                       "답합니다.",
                       "User {user} has no paid orders{before}. A model that never saw them order answers "
                       "with its cold-start fallback."),
    "cmp.before": ("{day} 이전에 ", " before {day}"),
    # ----------------------------------------------------------------- compare: metrics of a list
    "metric.diversity": ("다양성", "Diversity"),
    "metric.diversity_help": ("목록 안 음식끼리 얼마나 다른지 (특징 코사인 거리의 평균). 높을수록 좋음.",
                              "Intra-list diversity: mean pairwise 1 − cosine similarity of the foods' features. "
                              "Higher is better."),
    "metric.coverage": ("카테고리 폭", "Coverage"),
    "metric.coverage_help": ("목록의 서로 다른 카테고리 수 / 비교 중인 모든 목록의 공통 후보에서 가능한 최대. 모든 열이 같은 "
                             "기준이라 서로 비교할 수 있습니다. 높을수록 좋음.",
                             "Distinct categories in the list / the most a list of this length could hold from "
                             "the candidates all compared lists share, so every column uses the same yardstick. "
                             "Higher is better."),
    "metric.novelty": ("참신함", "Novelty"),
    "metric.novelty_help": ("후보 중 인기 점유율의 −log2 평균 (비트): 높을수록 덜 뻔한 음식.",
                            "Mean −log2 popularity share among the candidates (bits): higher = less mainstream."),
    "metric.calibration": ("취향 오차", "Calib. error"),
    "metric.calibration_help": ("사용자의 카테고리 구성과 목록 구성의 KL 발산: 낮을수록 취향에 가깝습니다.",
                                "KL divergence of the user's category mix from the list's: lower = closer to their "
                                "taste."),
    "metric.relevance": ("관련도 유지", "Relevance kept"),
    "metric.relevance_help": ("모델 고유 top-k 대비 이 목록의 모델 관련도 (후보 안 min-max): 100% = 잃은 것 없음, 최대 "
                              "100%.",
                              "The list's model relevance (min-max scaled over the pool) against the model's own "
                              "top-k: 100% = nothing given up, and never more."),
    # ----------------------------------------------------------------- compare: replay
    "replay.title": ("지난 서비스일 다시 보기", "Replay the last service days"),
    "replay.days": ("최근 며칠", "Last N days"),
    "replay.caption": ("사용자가 {meal}을(를) 주문한 최근 {n}일 (선택한 날짜 이전·당일): 날마다 각 모델의 1위와 실제 주문, "
                       "그리고 적중률. 현재 다양성 조절이 적용됩니다.",
                       "The last {n} days on which the user ordered {meal} (up to the chosen date): each "
                       "model's #1 and the actual order, day by day, and the hit rate. The current knobs "
                       "apply."),
    "replay.none": ("이 사용자는 선택한 날짜까지 {meal} 주문이 없어 다시 볼 날이 없습니다.",
                    "The user has no {meal} order up to the chosen date, so there is no day to replay."),
    "replay.menu_only": ("다시 보기는 '하루 메뉴' 대상에서만 의미가 있습니다.", "The replay applies to a day's menu."),
    "replay.hit_rate": ("{label} 적중률", "{label} hit rate"),
    "replay.hits": ("{days}일 중 {hits}일", "{hits} of {days} days"),
    "col.day": ("날짜", "Day"), "col.actual": ("실제 주문", "Actual order"),
    # ----------------------------------------------------------------- who may write (kurrant_core.access)
    "auth.password": ("팀 비밀번호", "Team password"),
    "auth.password_help": ("재학습·취소·활성화·게시·정책 저장에 필요합니다. 보기에는 필요 없습니다.",
                           "Retrain, cancel, activate, publish and policies need it; looking does not."),
    "auth.name": ("이름 (감사 기록에 남습니다)", "Your name (kept in the audit trail)"),
    "auth.acting_as": ("현재 사용자: **{who}**", "Acting as **{who}**"),
    "auth.sign_in": ("로그인", "Sign in"),
    "auth.sign_out": ("로그아웃", "Sign out"),
    "auth.sign_in_title": ("Kurrant Lens 로그인", "Sign in to Kurrant Lens"),
    "auth.sign_in_body": ("회사 계정으로 로그인하세요. 팀원은 재학습·게시를 할 수 있고, 그 밖의 분(PM 등)은 모든 화면을 "
                          "볼 수 있습니다.",
                          "Sign in with your company account. Team members can retrain and publish; everyone "
                          "else (PMs, …) can look at everything."),
    "role.team": ("팀", "team"), "role.viewer": ("보기 전용", "viewer"),
    "action.read": ("보기", "read"), "action.retrain": ("재학습", "retrain"),
    "action.cancel": ("작업 취소", "cancel a job"), "action.activate": ("실행 활성화", "activate a run"),
    "action.publish": ("백엔드 게시", "publish to the backend"), "action.apply_policy": ("정책 적용", "apply a policy"),
    "action.save_policy": ("정책 저장", "save a policy"),
    "action.auto_order_settings": ("자동 주문 설정 변경", "change auto-order settings"),
    "action.auto_order_plan": ("자동 주문 계획 만들기", "make auto-order plans"),
    "action.make_ensemble": ("앙상블 만들기", "make an ensemble"),
    "access.allowed": ("{who}: {action} 가능", "{who}: may {action}"),
    "access.no_password": (
        "지금은 보기 전용입니다: 모든 화면을 볼 수 있지만 재학습·게시는 할 수 없습니다. 재학습이나 게시가 필요하면 "
        "데이터팀에 요청하세요.",
        "This dashboard is read-only for now: you can look at everything, but not retrain or publish. Ask "
        "the data team if you need a retrain or a publish."),
    "access.admin_title": ("관리자용: 쓰기 권한을 켜는 방법", "For administrators: how to allow writes"),
    "access.no_password_admin": (
        "팀 비밀번호가 설정되지 않았습니다. `.streamlit/secrets.toml` 의 `[kurrant] team_password_sha256` 또는 "
        "환경 변수 `KURRANT_TEAM_PASSWORD_SHA256` 에 비밀번호의 SHA-256 을 넣거나, 사내 로그인 `[auth]` 와 "
        "`team_emails` 를 설정하세요. 내장 데모 DB 에서는 `make run` 이 임시 비밀번호를 만들어 줍니다.",
        "No team password is configured. Put the SHA-256 of a password in `[kurrant] team_password_sha256` "
        "in `.streamlit/secrets.toml` or in the environment variable `KURRANT_TEAM_PASSWORD_SHA256`, or "
        "configure company sign-in `[auth]` and `team_emails`. On the embedded demo database `make run` "
        "makes a local password."),
    "access.enter_password": ("보기 전용: 재학습·취소·활성화·게시·정책은 팀 비밀번호가 필요합니다 "
                              "(PM 은 비밀번호 없이 모든 화면을 볼 수 있습니다).",
                              "Read-only: retrain, cancel, activate, publish and policies need the team "
                              "password (PMs can look at everything here without it)."),
    "access.wrong_password": ("팀 비밀번호가 아닙니다. 화면은 보기 전용으로 남습니다.",
                              "That is not the team password; the page stays read-only."),
    "access.sign_in_first": ("먼저 로그인하세요. 보기는 누구나, 쓰기는 팀원만 할 수 있습니다.",
                             "Sign in first: anyone signed in may look; only the team may write."),
    "access.no_email": ("로그인 정보에 이메일이 없어 보기 전용입니다. 제공자의 email scope 를 확인하세요.",
                        "The sign-in carried no e-mail, so this session is read-only; check the provider's "
                        "email scope."),
    "access.viewer_signed_in": ("{who} 님은 보기 전용입니다: {action}은(는) 팀원만 할 수 있습니다. 팀 권한이 필요하면 "
                                "데이터팀에 team_emails 에 추가해 달라고 요청하세요.",
                                "{who} is a viewer: only the team may {action}. Ask the data team to add you to "
                                "team_emails if you need to."),
    "access.viewer": ("보기 전용입니다: {action}은(는) 팀원만 할 수 있습니다.", "Read-only: only the team may {action}."),
    "audit.title": ("감사 기록", "Audit trail"),
    "audit.caption": ("최근 쓰기 작업 — 누가, 언제, 무엇을, 결과. 전체 기록: `python -m kurrant_core audit`.",
                      "The latest writes — who, when, what, and how it ended. All of it: "
                      "`python -m kurrant_core audit`."),
    "audit.empty": ("아직 기록된 쓰기 작업이 없습니다.", "No write recorded yet."),
    "audit.at": ("시각", "When"), "audit.who": ("누가", "Who"), "audit.action": ("작업", "Action"),
    "audit.target": ("대상", "Target"), "audit.outcome": ("결과", "Outcome"), "audit.error": ("오류", "Error"),
    "audit.ok": ("성공", "ok"), "audit.failed": ("실패", "failed"), "audit.denied": ("거부", "denied"),
    "cmp.why_title": ("추천 이유", "Why these foods"),
    "cmp.same_metrics": ("{label}과(와) 같은 목록이라 지표도 같습니다.", "Same list as {label}, so the same figures."),
    "col.count": ("수량", "Count"),
    # ----------------------------------------------------------------- order EDA
    "eda.title": ("주문 분석", "Order EDA"),
    "eda.caption": ("무엇이, 누구에게, 얼마나 몰려서 주문되는지 — 모든 수치는 사이드바 필터를 따릅니다.",
                    "What is ordered, by whom, and how concentrated it is — every figure follows the sidebar "
                    "filters."),
    "eda.no_orders": ("이 필터에 맞는 주문이 없습니다. 기간을 넓히거나 필터를 일부 지우세요.",
                      "No orders match these filters. Widen the date range or clear some filters."),
    "eda.choose": ("전체 (선택하면 좁혀집니다)", "All (pick to narrow)"),
    "eda.csv": ("CSV", "CSV"), "eda.filters": ("필터", "Filters"), "eda.dates": ("서비스 기간", "Service dates"),
    "eda.groups": ("고객사", "Group (company)"), "eda.spots": ("스팟", "Spot"), "eda.dining": ("식사", "Dining type"),
    "eda.makers": ("메이커스", "Maker"), "eda.cuisines": ("카테고리", "Cuisine / category"),
    "eda.paid_only": ("결제된 항목만", "Paid items only"),
    "eda.period": ("{start} – {end} ({n}일)", "{start} – {end} ({n} days)"),
    "eda.vs": (", 비교 기간 {start} – {end}", ", change against {start} – {end}"),
    "eda.no_previous": (" — 같은 길이의 이전 기간이 데이터 시작 전이라 변화는 표시하지 않습니다",
                        " — the previous period of equal length starts before the data, so no change is shown"),
    "eda.clipped": ("링크의 기간 {start} – {end}이(가) 데이터 범위({first} – {last}) 밖이라 {shown_start} – {shown_end}"
                    "(으)로 맞췄습니다.",
                    "The link's dates {start} – {end} lie outside the data ({first} – {last}); showing "
                    "{shown_start} – {shown_end} instead."),
    "eda.cancel_paid_only": ("결제된 항목만 보면 취소가 없어 취소율을 표시하지 않습니다. '결제된 항목만'을 끄세요.",
                             "With paid items only there are no cancellations; switch 'Paid items only' off to "
                             "see the cancel rate."),
    "eda.period_unit": ("기간 단위", "Period"), "eda.period_unit.daily": ("일별", "Daily"),
    "eda.period_unit.weekly": ("주별", "Weekly"),
    "eda.measure": ("지표", "Measure"), "eda.rank": ("순위 대상", "Rank"), "eda.by": ("기준", "By"),
    "eda.what.food": ("음식", "Foods"), "eda.what.maker": ("메이커스", "Makers"), "eda.what.category": ("카테고리", "Categories"),
    "eda.by.items": ("수량", "Items"), "eda.by.revenue": ("매출", "Revenue"), "eda.by.share": ("비중", "Share"),
    "eda.top_title": ("{what} 상위 ({by})", "Top {what} ({by})"),
    "eda.daily_title": ("일별 주문 (막대) 과 7일 이동평균 (선)", "Daily orders (bars) and 7-day average (lines)"),
    "eda.avg_suffix": ("{name} 7일 평균", "{name} 7-day average"),
    "eda.weekly_title": ("주별 주문 (월요일 시작)", "Weekly orders (weeks start on Monday)"),
    "eda.weekday_title": ("요일 × 식사 유형 주문 수량", "Items by weekday × meal"),
    "eda.lorenz_title": ("로렌츠 곡선 (음식별 주문 수량)", "Lorenz curve (items per food)"),
    "eda.equality": ("완전 균등", "Perfect equality"),
    "eda.weekly_conc_title": ("주별 집중도: 지니 계수와 상위 10% 음식 점유율", "Weekly concentration: Gini and top 10% share"),
    "eda.take_title": ("메뉴 노출 횟수 vs 노출됐을 때의 점유율", "Times on a menu vs take rate when offered"),
    "eda.repeat_title": ("같은 음식을 다시 주문하기까지의 일수 (최근 30일 이내)", "Days until the same food is ordered again (within 30)"),
    "eda.per_user_title": ("사용자별 주문 수량 분포", "Items per user"),
    "eda.new_old_title": ("주별 신규 / 재방문 사용자", "New and returning users per week"),
    "eda.no_cohort": ("이 기간 안에 첫 주문을 한 사용자가 없어 따라갈 코호트가 없습니다.",
                      "No user had a first order inside this date range, so there is no cohort to follow."),
    "eda.cohort_title": ("주간 코호트 유지율", "Weekly cohort retention"),
    "eda.sat_category_title": ("카테고리별 평균 만족도", "Mean satisfaction by category"),
    "eda.sat_maker": ("메이커스별 만족도", "Satisfaction by maker"),
    "eda.sat_maker_caption": ("리뷰가 적은 메이커스는 전체 평균 쪽으로 당긴 '보정 만족도'(리뷰 {m}개 분량의 전체 평균을 더함) "
                              "순입니다.",
                              "Ranked by the adjusted satisfaction: the overall mean counts as {m} extra reviews, "
                              "so a maker with few reviews stays near it."),
    "eda.price_title": ("단가 분포 (1,000원 단위)", "Unit prices (1,000원 buckets)"),
    "eda.food": ("음식", "Food"), "eda.food_trend": ("{name}: 주별 추이", "{name}: weekly trend"),
    "eda.food_groups": ("고객사", "Groups"), "eda.food_sat_title": ("만족도 분포", "Satisfaction"),
    "eda.series": ("구분", "Series"), "eda.value": ("값", "Value"),
    "eda.tab.trends": ("추이", "Trends"), "eda.tab.weekday": ("요일 × 식사", "Weekday × meal"), "eda.tab.top": ("상위", "Top"),
    "eda.tab.concentration": ("집중도", "Concentration"), "eda.tab.take_rate": ("메뉴 선택률", "Menu take rate"),
    "eda.tab.repeats": ("재주문", "Repeats"), "eda.tab.users": ("사용자", "Users"),
    "eda.tab.satisfaction": ("만족도 · 가격", "Satisfaction · price"), "eda.tab.groups": ("고객사 비교", "Groups"),
    "eda.tab.drilldown": ("음식 상세", "Food detail"),
    "eda.kpi_revenue": ("매출", "Revenue"),
    # ----------------------------------------------------------------- leaderboard
    "lb.title": ("모델 순위표", "Leaderboard"),
    "lb.caption": ("각 모델은 기준일 T 이전 주문으로 학습하고 그 뒤 며칠의 실제 주문으로 평가합니다. 하루 메뉴: 사용자가 고른 "
                   "음식이 그날 순위 매긴 메뉴에서 몇 위였는지. 카탈로그: 판매 중인 모든 음식을 사용자별로 한 번 순위 매겨 "
                   "실제 주문과 비교.",
                   "Each model is trained on orders before a cutoff T and judged on the orders of the days "
                   "after it. Daily menu: where the food each user chose landed in that day's ranked menu. "
                   "Catalog: every food on sale ranked once per user, against the foods they ordered."),
    "lb.no_eval": ("이 DE 데이터베이스에서 평가된 모델이 아직 없습니다. `python -m kurrant_core evaluate --models all` "
                   "(또는 `--models popularity,als,hybrid` 처럼 골라서)을 실행한 뒤 새로고침하세요.",
                   "No model has been evaluated on this DE database yet. Run "
                   "`python -m kurrant_core evaluate --models all` (or pick models, e.g. "
                   "`--models popularity,als,hybrid`), then reload this page."),
    "lb.split": ("평가 구간", "Split"),
    "lb.split_label": ("기준일 {cutoff} · 평가 {days}일 · k = {k}", "cutoff {cutoff} · {days} test days · k = {k}"),
    "lb.tab.daily_menu": ("하루 메뉴 (AI 추천)", "Daily menu (the AI pick)"), "lb.tab.catalog": ("카탈로그", "Catalog"),
    "lb.baselines": ("기준 모델(표시됨): 고객사 인기(popularity), 각자 주문 이력(history), 무작위(random, 기대값 = 넘어야 할 "
                     "바닥). 막대는 각 모델과 가장 좋은 기준 모델의 {metric} 차이, 선은 사용자 재표본 부트스트랩 95% 구간입니다: "
                     "구간 전체가 0보다 오른쪽일 때만 '기준 모델보다 낫다'고 봅니다.",
                     "Baselines (marked): group popularity, each user's own history, a random ranking (its "
                     "expectation: the floor). Each dot is a model's {metric} difference to the best baseline, "
                     "the line its paired bootstrap 95 % interval (users resampled): a model beats the baselines "
                     "only when the whole interval lies right of 0."),
    "lb.interval_title": ("가장 좋은 기준 모델 대비 {metric} 차이 (95% 구간)", "{metric}: difference to the best baseline (95 % interval)"),
    "lb.model": ("모델", "Model"), "lb.baseline": ("기준 모델", "Baseline"), "lb.run": ("실행", "Run"),
    "lb.diff": ("차이", "Difference"),
    "lb.vs": ("{metric} 비교 기준", "{metric} against"), "lb.diff_of": ("{metric} 차이", "{metric} difference"),
    "lb.policy": ("정책", "Policy"), "lb.cost.off": ("정책 없음", "without policy"),
    "lb.cost.policy": ("정책 적용", "with policy"), "lb.cost.change": ("변화", "change"),
    "lb.low": ("95% 하한", "95 % low"), "lb.high": ("95% 상한", "95 % high"), "lb.beats": ("기준 모델보다 나음", "Beats the baselines"),
    "lb.verdict.beats": ("{model}은(는) 모든 기준 모델보다 {metric}이(가) {diff} 높습니다 (95% 구간 {low} ~ {high})",
                         "{model} beats every baseline on {metric} by {diff} ({low} to {high})"),
    "lb.verdict.tied": ("{model}은(는) {reference}와(과) {metric}에서 구별되지 않습니다 (95% 구간 {low} ~ {high})",
                        "{model} is not distinguishable from {reference} on {metric} ({low} to {high})"),
    "lb.verdict.worse": ("{model}은(는) {reference}보다 {metric}이(가) {diff} 낮습니다 (95% 구간 {low} ~ {high})",
                         "{model} is worse than {reference} on {metric} by {diff} ({low} to {high})"),
    "lb.verdict.none": ("{metric} 구간이 있는 학습 모델이 없습니다.", "No learned model has an interval on {metric}."),
    "lb.higher": ("높을수록 좋음", "higher is better"), "lb.lower": ("낮을수록 좋음", "lower is better"),
    "lb.context": ("좋고 나쁨 없음: 데이터와 함께 읽기", "neither: read it beside the data"),
    "lb.cold": ("신규 사용자(cold_*) 성적", "Cold-start users (cold_*)"),
    "lb.cold_caption": ("cold_* 는 기준일 전에 주문이 없던 사용자만 모은 같은 지표입니다.",
                        "cold_* are the same metrics over the users with no order before the cutoff."),
    "lb.every_metric": ("저장된 모든 지표", "Every stored metric"),
    "lb.cost": ("다양성 정책의 비용", "What the diversity policy costs"),
    "lb.cost_caption": ("각 모델의 정책 없음/있음 비교: 포기한 정확도(변화 < 0), 취향 오차(낮을수록 사용자의 카테고리 구성에 가까움), "
                        "카테고리 폭, 그리고 한 음식이 고객사 절반 이상의 AI 추천이 된 날의 비율(실제 주문에서 한 음식이 절반 "
                        "이상이었던 날의 비율과 비교).",
                        "Each model without and with the policy its runs ship: accuracy given up (change < 0), "
                        "calibration error (lower = closer to each user's cuisine mix), category coverage, and the "
                        "share of group-days on which one food was the pick of the day for more than half of the "
                        "group, against the share on which one food took more than half of the actual orders."),
    "lb.no_policy": ("이 실행들은 정책 없이 평가됐습니다 (`--policy off`).", "These runs were evaluated without a policy (`--policy off`)."),
    "lb.tradeoff": ("정확도 vs 다양성", "Accuracy vs diversity"),
    "lb.tradeoff_caption": ("각 모델의 상위 후보를 MMR로 재정렬(표본 사용자): λ = 1 은 모델 고유 순서, λ = 0 은 다양성만. "
                            "오른쪽 위일수록 좋습니다.",
                            "MMR re-ranking of each model's top catalog candidates for a sample of test users: "
                            "lambda = 1 is the model's own order, lambda = 0 diversity alone. Up and to the right is "
                            "better."),
    "lb.no_tradeoff": ("이 실행들은 트레이드오프 곡선 없이 평가됐습니다 (`--no-tradeoff`).",
                       "These runs were evaluated without the trade-off curve (`--no-tradeoff`)."),
    # ----------------------------------------------------------------- retrain page
    "rt.title": ("재학습 · 실행 기록", "Retrain & runs"),
    "rt.retrain": ("재학습", "Retrain"), "rt.models": ("모델", "Models"), "rt.runs": ("실행 기록", "Runs"),
    "rt.act": ("실행 관리", "Act on a run"), "rt.ensemble": ("앙상블 만들기", "Make an ensemble"),
    "rt.log": ("작업 로그 (마지막 {n}줄)", "Job log (last {n} lines)"),
    "rt.log_empty": ("(아직 없음)", "(nothing yet)"),
    # the live job
    "rt.seconds": ("{s:,.0f}초", "{s:,.0f} s"),
    "rt.no_job": ("아직 재학습 작업이 없습니다.", "No retrain job yet."),
    "rt.job_line": ("**작업 {job}**{by} · **{status}**{stage} · {elapsed}", "**Job {job}**{by} · **{status}**{stage} · {elapsed}"),
    "rt.job_by": (" · {who}", " by {who}"),
    "rt.model_progress": ("{model} — {state} {elapsed}", "{model} — {state} {elapsed}"),
    "rt.cancel": ("작업 취소", "Cancel"),
    "rt.cancel_toast": ("작업 {job}은(는) 다음 확인 시점에 멈춥니다.", "Job {job} stops at its next check."),
    "rt.cancel_requested": ("취소 요청됨: 지금 단계가 끝나면 작업이 멈춥니다.",
                            "Cancel requested: the job stops after its current step."),
    "rt.status.queued": ("대기 중", "queued"), "rt.status.learning": ("학습 중", "learning"),
    "rt.status.stopped": ("중단됨", "stopped"), "rt.status.done": ("완료", "done"), "rt.status.failed": ("실패", "failed"),
    "rt.status.waiting": ("차례 기다리는 중", "waiting"), "rt.status.not run": ("실행 안 됨", "not run"),
    # the retrain form
    "rt.all_data": ("모든 주문으로 학습", "Train on every order"),
    "rt.cutoff": ("이 날짜 이전 주문으로 학습", "Train on orders before"),
    "rt.k": ("목록 길이 k", "List length k"),
    "rt.dates": ("미리 계산할 서비스일", "Service dates to pre-compute"),
    "rt.dates_help": ("날마다 그날 메뉴를 해당 고객사의 모든 사용자에게 순위 매겨 둡니다.",
                      "Each day's menu is ranked for every user of the groups served."),
    "rt.evaluate": ("평가 지표 저장", "Store evaluation metrics"),
    "rt.evaluate_help": ("각 모델을 최근 14일로 평가합니다 (모델을 한 번 더 학습).",
                         "Scores each model on the last 14 days (fits it once more)."),
    "rt.activate": ("작업이 끝나면 새 실행을 운영에 적용", "Activate the new runs when the job is done"),
    "rt.params_title": ("{model}: 하이퍼파라미터와 다양성 정책", "{model} hyper-parameters and diversity policy"),
    "rt.policy": ("목록의 다양성 정책", "Diversity policy of its lists"),
    "rt.policy_help": ("실행이 저장하고 게시하는 목록은 모델 점수를 이 정책으로 재정렬한 것입니다. '끔'은 모델 고유 순서를 "
                       "그대로 둡니다.",
                       "The lists the run writes (and publish ships) are the model's scores re-ranked by this "
                       "policy; 'off' keeps the model's own order."),
    "rt.busy": ("작업 {job}이(가) 실행 중입니다. 재학습은 한 번에 하나씩만 실행됩니다.",
                "Job {job} is running; one retrain runs at a time."),
    "rt.submit": ("재학습 시작", "Retrain"),
    "rt.policy_name.default": ("기본 (default)", "default"), "rt.policy_name.off": ("끔 (off)", "off"),
    "rt.policy_name.varied": ("이력만큼 다양하게 (varied)", "varied"),
    # the run history
    "rt.history_model": ("모델", "Model"), "rt.all_models": ("모든 모델", "all models"),
    f"rt.col.{C.RUN_ID}": ("실행", "Run"), f"rt.col.{C.MODEL}": ("모델", "Model"),
    f"rt.col.{C.STARTED_AT}": ("시작 시각", "Started"), f"rt.col.{C.TRIGGERED_BY}": ("실행한 사람", "By"),
    f"rt.col.{C.DATA_CUTOFF}": ("기준일", "Cutoff"), f"rt.col.{C.TRAIN_START}": ("학습 시작일", "Trained from"),
    f"rt.col.{C.TRAIN_END}": ("학습 종료일", "Trained to"), f"rt.col.{C.DURATION_S}": ("걸린 시간", "Duration"),
    f"rt.col.{C.STATUS_LABEL}": ("상태", "Status"), f"rt.col.{C.IS_ACTIVE}": ("운영 중", "Active"),
    f"rt.col.{C.JOB_ID}": ("작업", "Job"), f"rt.col.{C.TUNED}": ("튜닝으로 고른 값", "Tuned to"),
    f"rt.col.{C.METRIC}": ("지표", "Metric"), f"rt.col.{C.CHANGE}": ("변화 (B − A)", "Change (B − A)"),
    "rt.section.menu": ("하루 메뉴", "daily menu"), "rt.section.daily_menu": ("하루 메뉴", "daily menu"),
    "rt.section.catalog": ("카탈로그", "catalog"), "rt.section.with_policy": ("정책 적용", "with policy"),
    "rt.section.versus_best_baseline": ("최고 기준 모델 대비", "against the best baseline"),
    "rt.section.diff": ("차이", "difference"), "rt.section.low": ("95% 하한", "95 % low"),
    "rt.section.high": ("95% 상한", "95 % high"), "rt.section.convergence": ("쏠림", "convergence"),
    "rt.section.n_events": ("평가한 주문 수", "orders judged"),
    "rt.section.n_unranked": ("순위에 없던 주문 수", "orders not ranked"),
    "rt.section.n_users": ("평가한 사용자 수", "users judged"),
    "rt.section.random": ("무작위 기준", "random baseline"),
    "rt.choose": ("선택하세요", "Choose"),
    # acting on a run
    "rt.act_model": ("모델", "Model"), "rt.run": ("실행", "Run"), "rt.run_n": ("실행 {run}", "run {run}"),
    "rt.no_done_run": ("{model}에는 아직 완료된 실행이 없습니다. 위에서 재학습하세요.",
                       "{model} has no finished run yet; retrain it above."),
    "rt.run_caption": ("{active} · 학습 기간 {start} – {end} · 실행한 사람 {who}",
                       "{active} · trained on {start} – {end} · by {who}"),
    "rt.active": ("운영 중", "Active"), "rt.not_active": ("운영 중 아님", "Not active"),
    "rt.unknown": ("알 수 없음", "unknown"),
    "rt.activate_run": ("운영에 적용", "Activate"),
    "rt.publish": ("백엔드에 게시", "Publish to the backend"),
    "rt.publish_help": ("이 실행의 날짜별 목록을 recommend__user_recommends 에 복사합니다. 운영 중인 실행만 게시할 수 "
                        "있습니다.",
                        "Copies the run's dated lists into recommend__user_recommends; only the active run can "
                        "be published."),
    "rt.published": ("실행 {run}의 {n:,}행을 게시했습니다.", "Published {n:,} rows of run {run}."),
    "rt.download": ("Parquet 내려받기", "Download Parquet"),
    "rt.shipped_policy": ("목록의 다양성 정책: **{name}** — {steps}", "Diversity policy of its lists: **{name}** — {steps}"),
    "rt.apply_choice": ("이 실행에 다른 정책 적용 (새 실행, 재학습 없음)",
                        "Apply another policy to this run (a new run, no refit)"),
    "rt.apply": ("정책 적용", "Apply policy"),
    "rt.apply_help": ("재학습처럼 작업으로 실행됩니다.", "Runs as a job, like a retrain."),
    "rt.compare_title": ("{model}의 두 실행 비교", "Compare two {model} runs"),
    "rt.run_a": ("실행 A", "Run A"), "rt.run_b": ("실행 B", "Run B"),
    "rt.users_both": ("두 실행 모두에 있는 사용자", "Users in both"),
    "rt.jaccard": ("평균 목록 겹침 (Jaccard)", "Mean list overlap (Jaccard)"),
    "rt.jaccard_help": ("사용자별 공통 음식 / 두 목록의 전체 음식, 평균 (1 = 같은 음식들)",
                        "Shared foods / all foods of the two lists, per user, averaged (1 = the same foods)"),
    "rt.same_top": ("1위가 같은 비율", "Same top pick"),
    # diversity policy steps (kurrant_core.rerank.Policy), as policy_steps words them
    "rt.policy.mmr": ("MMR λ {v}", "MMR λ {v}"), "rt.policy.dpp": ("DPP θ {v}", "DPP θ {v}"),
    "rt.policy.calibration": ("취향 보정 {v}", "calibration {v}"),
    "rt.policy.max_category": ("카테고리당 최대 {v}개", "max {v} per category"),
    "rt.policy.max_maker": ("메이커스당 최대 {v}개", "max {v} per maker"),
    "rt.policy.repeat": ("재주문 제외 {v}일", "repeat window {v} d"),
    "rt.policy.popularity": ("인기 페널티 {v}", "popularity penalty {v}"),
    "rt.policy.explore": ("탐색 {v}", "exploration {v}"),
    "rt.policy.history_cap": ("어떤 카테고리도 사용자의 최다 카테고리 비율을 넘지 않음",
                              "no category above the user's own top share"),
    "rt.policy.spread": ("한 음식은 고객사의 {v:.0%} 이하의 AI 추천", "≤ {v:.0%} of a group on one pick"),
    "rt.policy.none": ("재정렬 없음 (모델 고유 순서)", "no re-ranking (the model's own order)"),
    # making an ensemble
    "rt.ensemble_caption": ("같은 기준일의 완료된 실행들을 하나의 새 실행으로 합칩니다 (다른 실행처럼 저장·운영 적용·게시). "
                            "RRF와 점수 혼합은 저장된 목록으로 몇 초면 끝나고, 스태킹은 검증 기간에서 가중치를 학습하므로 "
                            "작업으로 실행됩니다.",
                            "Fuse done runs of one cutoff into a new run (written, activated and published like "
                            "any run). rrf and blend take seconds from the stored lists; stacked learns its "
                            "weights on the validation window and runs as a job."),
    "rt.ens_runs": ("합칠 실행", "Runs to fuse"),
    "rt.ens_run_label": ("{model} #{run} · 기준일 {day}{active}", "{model} #{run} · cutoff {day}{active}"),
    "rt.ens_active": (" · 운영 중", " · active"),
    "rt.ens_rule": ("합치는 방식", "Rule"),
    "rt.rule.rrf": ("RRF (순위 융합)", "rrf (reciprocal rank fusion)"),
    "rt.rule.blend": ("점수 혼합", "blend (mixed scores)"),
    "rt.rule.stacked": ("스태킹 (가중치 학습, 작업)", "stacked (learned weights, a job)"),
    "rt.ens_policy": ("합친 뒤의 다양성 정책", "Diversity policy after the fusion"),
    "rt.rrf_k": ("RRF k", "RRF k"),
    "rt.rrf_k_help": ("클수록 순위가 낮은 음식도 점수를 더 받습니다 (기본 60).",
                      "Larger values give lower-ranked foods more weight (default 60)."),
    "rt.ens_activate": ("앙상블 실행을 운영에 적용", "Activate the ensemble run"),
    "rt.ens_submit": ("앙상블 만들기", "Make the ensemble"),
    "rt.ens_spinner": ("실행을 합치는 중…", "Fusing the runs…"),
    "rt.ens_done": ("앙상블 실행 {run}이(가) 완료됐습니다.", "Ensemble run {run} is done."),
    # the evaluated runs
    "rt.no_eval": ("아직 평가된 실행이 없습니다: '평가 지표 저장'을 켜고 재학습하거나 "
                   "`python -m kurrant_core evaluate --models all` 을 실행하세요.",
                   "No evaluated run yet: retrain with “Store evaluation metrics” on, or run "
                   "`python -m kurrant_core evaluate --models all`."),
    "rt.board_caption": ("가장 최근 평가 구간에서 각 모델의 최신 평가 실행, 하루 메뉴 평균 역순위(고른 음식이 그날 순위 매긴 "
                         "메뉴에서 얼마나 위에 있었는지) 순. 구간과 판정은 *모델 순위표* 페이지에 있습니다.",
                         "The latest evaluated run of each model on the newest split, ranked by daily-menu MRR "
                         "(how high the chosen food sat in that day's ranked menu). Intervals and verdicts are "
                         "on the *Leaderboard* page."),
    "rt.tradeoff_title": ("정확도 vs 다양성 (MMR 재정렬)", "Accuracy vs diversity (MMR re-ranking)"),
    "rt.mmr_lambda": ("MMR λ", "MMR λ"),
    # ----------------------------------------------------------------- errors shared by pages
    "err.db_down": ("{url} 의 DE 데이터베이스가 응답하지 않습니다. 실행 중인지 확인한 뒤 페이지를 새로고침하세요.",
                    "The DE database at {url} is not answering. Check that it is running, then reload the page."),
    "err.malformed_url": ("<잘못된 URL>", "<malformed URL>"),
}
TEXT.update(ERROR_TEXT)          # the err.* entries library errors carry (see ui_error_text)


MEASURES: dict[str, tuple[str, str]] = {
    C.N_ORDERS: ("주문 수(식사별)", "Orders (per meal)"), C.N_ITEMS: ("주문 수량", "Items ordered"),
    C.N_USERS: ("활성 사용자", "Active users"), C.REVENUE: ("매출(원)", "Revenue (원)"),
    C.ITEMS_PER_USER: ("사용자당 주문 수량", "Items per user"), C.CANCEL_RATE: ("취소율", "Cancel rate"),
    C.AVG_SATISFACTION: ("평균 만족도", "Mean satisfaction"), C.N_CANCELLED: ("취소 수량", "Items cancelled"),
    C.N_REVIEWS: ("리뷰 수", "Reviews"), C.N_FOODS: ("음식 수", "Foods"), C.SHARE: ("비중", "Share"),
    C.SERVICE_DATE: ("서비스일", "Service date"), C.WEEK: ("주(월요일 시작)", "Week (from Monday)"),
    C.WEEKDAY_LABEL: ("요일", "Weekday"), C.DINING_LABEL: ("식사", "Meal"),
    C.MOVING_AVG_7D: ("7일 이동평균", "7-day average"), C.FOOD_NAME: ("음식", "Food"),
    C.MAKERS_NAME: ("메이커스", "Maker"), C.CUISINE_LABEL: ("카테고리", "Category"), C.GROUP_NAME: ("고객사", "Group"),
    C.FOOD_SHARE: ("음식 누적 비율", "Cumulative share of foods"),
    C.ITEM_SHARE: ("주문 누적 비율", "Cumulative share of items"), C.GINI: ("지니 계수", "Gini"),
    C.TOP10_SHARE: ("상위 10% 음식 점유율", "Top 10% foods' share"), C.TIMES_OFFERED: ("메뉴 노출 횟수", "Times on a menu"),
    C.TIMES_CHOSEN: ("선택된 횟수", "Times chosen"), C.PICK_RATE: ("선택 비율", "Pick rate"),
    C.TAKE_RATE: ("점유율(노출 시)", "Take rate (when offered)"), C.DAYS_BETWEEN: ("재주문 간격(일)", "Days between"),
    C.N_REPEATS: ("재주문 수량", "Repeat items"), C.REPEAT_7D_SHARE: ("7일 내 재주문 비중", "Repeats within 7 days"),
    C.REPEAT_30D_SHARE: ("30일 내 재주문 비중", "Repeats within 30 days"), C.NEW_USERS: ("신규 사용자", "New users"),
    C.RETURNING_USERS: ("재방문 사용자", "Returning users"), C.COHORT_WEEK: ("코호트(첫 주문 주)", "Cohort (first week)"),
    C.WEEKS_SINCE: ("경과 주", "Weeks since"), C.COHORT_SIZE: ("코호트 크기", "Cohort size"),
    C.RETENTION: ("유지율", "Retention"), C.UNIT_PRICE: ("단가(원)", "Unit price (원)"),
    C.SATISFACTION: ("만족도", "Satisfaction"), C.CURRENT: ("현재 기간", "This period"),
    C.PREVIOUS: ("이전 기간", "Previous period"), C.CHANGE: ("변화", "Change"),
    C.COUNT: ("수량", "Count"), C.LIST_LABEL: ("목록", "List"),
    C.ADJUSTED_SATISFACTION: ("보정 만족도", "Adjusted satisfaction"), C.MAKERS_ID: ("메이커스 ID", "Maker id"),
    C.FOOD_ID: ("음식 ID", "Food id"), C.GROUP_ID: ("고객사 ID", "Group id"), C.CUISINE_CODE: ("카테고리 코드", "Category code"),
}
"""Measure / column name -> (Korean, English) label for chart axes, legends and table headers."""


METRIC_TEXT: dict[str, tuple[str, str, str, str]] = {
    # metric (before @k) -> (Korean name, English name, Korean meaning, English meaning)
    "hr": ("적중률", "Hit rate", "상위 k개 안에 실제 주문 음식이 있었던 비율 (HR@1 = AI 추천이 맞은 비율)",
           "share of orders whose food was in the top k (HR@1: the AI pick was right)"),
    "mrr": ("평균 역순위", "Mean reciprocal rank", "실제 주문 음식 순위의 역수 평균 (1위 = 1, 2위 = 0.5)",
            "mean of 1 / the rank of the ordered food (1st = 1, 2nd = 0.5)"),
    "ndcg": ("순위 품질", "NDCG", "주문한 음식이 위쪽에 있을수록 높은 점수 (0–1)", "higher when ordered foods sit near the top (0–1)"),
    "recall": ("재현율", "Recall", "사용자가 주문한 음식 중 목록에 든 비율", "share of the ordered foods the list holds"),
    "map": ("평균 정밀도", "MAP", "맞힌 음식들의 순위별 정밀도 평균", "mean precision at each hit"),
    "coverage": ("카탈로그 커버리지", "Catalog coverage", "한 번이라도 추천된 음식의 비율", "share of foods recommended to anyone"),
    "ild": ("목록 다양성", "Intra-list diversity", "한 목록 안 음식들이 서로 다른 정도", "how different the foods of one list are"),
    "novelty": ("참신함", "Novelty", "덜 알려진 음식을 추천하는 정도", "how far from the mainstream the picks are"),
    "exposure_gini": ("노출 쏠림", "Exposure Gini", "추천이 소수 음식에 몰린 정도 (0 = 고름)",
                      "how concentrated recommendations are on few foods (0 = even)"),
    "personalisation": ("개인화", "Personalisation", "사용자끼리 목록이 다른 정도", "how different users' lists are"),
    "calibration_error": ("취향 오차", "Calibration error", "목록의 카테고리 구성이 사용자 취향과 다른 정도",
                          "how far a list's category mix is from the user's"),
    "category_coverage": ("카테고리 폭", "Category coverage", "목록이 담은 카테고리의 폭", "how many categories a list spans"),
    "top_category_share": ("최다 카테고리 비중", "Top cuisine share", "목록에서 가장 많은 카테고리의 비중 (중앙값)",
                           "the biggest cuisine's share of a list (median)"),
    "history_top_category_share": ("최근 10끼의 최다 카테고리 비중", "Top cuisine share, last 10 meals",
                                   "사용자 자신의 최근 10끼에서 가장 많은 카테고리의 비중",
                                   "the biggest cuisine's share of the users' own last ten items"),
    "whole_history_top_category_share": ("전체 주문 이력의 최다 카테고리 비중", "Top cuisine share, whole history",
                                         "사용자 자신의 전체 주문에서 가장 많은 카테고리의 비중",
                                         "the biggest cuisine's share of the users' own orders"),
    "repeat_rate": ("재주문 추천 비율", "Repeat rate", "전에 먹은 음식을 추천한 비율", "share of picks the user had before"),
    "fit_seconds": ("학습 시간(초)", "Fit seconds", "학습에 걸린 시간", "time to fit"),
    "fit_cpu_seconds": ("학습 CPU 초", "Fit CPU seconds", "학습에 쓴 CPU 시간", "CPU time to fit"),
    "score_seconds": ("추천 시간(초)", "Score seconds", "추천 목록을 만드는 데 걸린 시간", "time to score"),
    "majority pick days": ("AI 추천 쏠림 날 비율", "Converged pick days",
                           "한 음식이 고객사 절반 이상의 AI 추천이었던 날의 비율 (낮을수록 쏠림 적음)",
                           "share of group-days on which one food was the pick for over half the group"),
    "majority order days": ("실제 주문 쏠림 날 비율", "Converged order days",
                            "한 음식이 실제 주문의 절반 이상이었던 날의 비율 (비교 기준)",
                            "share of group-days on which one food took over half the actual orders"),
}


def metric_name(metric: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """A stored metric key as a PM reads it: ``hr@1`` -> ``적중률@1``; unknown keys as they are."""
    base, _, k = metric.partition("@")
    cold = base.startswith("cold_")
    base = base.removeprefix("cold_")
    if base not in METRIC_TEXT:
        return metric
    ko, en, _, _ = METRIC_TEXT[base]
    name = (en if lang == EN else ko) + (f"@{k}" if k else "")
    return (("cold " if lang == EN else "신규 ") + name) if cold else name


def metric_meaning(metric: str, lang: str = DEFAULT_LANGUAGE) -> str:
    base = metric.partition("@")[0].removeprefix("cold_")
    if base not in METRIC_TEXT:
        return ""
    _, _, ko, en = METRIC_TEXT[base]
    return en if lang == EN else ko


def text(key: str, lang: str = DEFAULT_LANGUAGE, /, **values: object) -> str:
    """The catalogue entry ``key`` in ``lang`` (Korean unless "en"), formatted with ``values``.

    An unknown key raises KeyError: a typo must fail a test, not show a raw key to a PM.
    """
    ko, en = TEXT[key]
    template = en if lang == EN else ko
    return template.format(**values) if values else template


def error_text(exc: BaseException, lang: str = DEFAULT_LANGUAGE) -> str:
    """What a page shows for ``exc``: its ``err.*`` catalogue entry in ``lang`` when it carries a key
    (``KurrantError(message, key=…, **values)``), else ``str(exc)`` (the English message).

    A value that is itself an exception is shown the same way (``Row 3: …`` wraps the row's error);
    a value named ``…status`` (``done``, ``queued``) is shown through its ``rt.status.*`` label.
    """
    in_language = getattr(exc, "in_language", None)          # access.AccessDenied: a reason per language
    if callable(in_language):
        return in_language(lang)
    key = getattr(exc, "key", None)
    if not key or key not in TEXT:
        return str(exc)

    def shown(name: str, value: object) -> object:
        if isinstance(value, BaseException):
            return error_text(value, lang)
        if name.endswith("status") and f"rt.status.{value}" in TEXT:
            return text(f"rt.status.{value}", lang)
        return value

    values = {name: shown(name, value) for name, value in (getattr(exc, "values", None) or {}).items()}
    try:
        return text(key, lang, **values)
    except (KeyError, IndexError, ValueError):          # a field the raise site did not fill
        return str(exc)


def labels(mapping: Mapping[str, tuple[str, str]], lang: str = DEFAULT_LANGUAGE) -> dict[str, str]:
    """``{name: label}`` of a (Korean, English) mapping in ``lang``."""
    return {name: (en if lang == EN else ko) for name, (ko, en) in mapping.items()}


# ----------------------------------------------------------------------------------- formats
def timestamp(value: datetime | pd.Timestamp | str | None, lang: str = DEFAULT_LANGUAGE) -> str:
    """The UI's one timestamp style, ``YYYY-MM-DD HH:MM`` ("–" when missing)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return "–"
    stamp = pd.Timestamp(value)
    return "–" if pd.isna(stamp) else stamp.strftime(TIMESTAMP_FORMAT)


def won(value: float | int | None) -> str:
    """A price with thousands separators: ``9,000원`` ("–" when missing)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{round(float(value)):,}원"


def match_percent(scores) -> list[int]:
    """Scores as a 0–100 match among the given candidates (min-max; all 100 when they are equal).

    A model's raw score has no unit a PM can read (log-odds, cosine, counts); its place between the
    weakest and the strongest candidate of the same pool does.
    """
    values = pd.to_numeric(pd.Series(list(scores), dtype="float64"), errors="coerce")
    if values.empty:
        return []
    low, high = values.min(), values.max()
    if pd.isna(low) or high - low <= 0:
        return [100 if not pd.isna(v) else 0 for v in values]
    return [int(round(100 * (v - low) / (high - low))) if not pd.isna(v) else 0 for v in values]


def day(value: date | pd.Timestamp | None) -> str:
    """A service date as ``YYYY-MM-DD`` ("–" when missing)."""
    if value is None or (not isinstance(value, date) and pd.isna(value)):
        return "–"
    return pd.Timestamp(value).date().isoformat()


LOG_TAIL_LINES = 20
"""Lines of a job's log the retrain page shows (the rest is in the job table and the CLI)."""


def tail_lines(log: str | None, n: int = LOG_TAIL_LINES) -> str:
    """The last ``n`` lines of a log ("" for none), so a PM sees where the job is, not its history."""
    if not log:
        return ""
    return "\n".join(log.rstrip("\n").splitlines()[-n:])


def policy_steps(policy, lang: str = DEFAULT_LANGUAGE) -> str:
    """The steps of a diversity policy (``kurrant_core.rerank.Policy``) that are on, in ``lang``;
    in English it reads exactly like ``Policy.steps_text`` (the CLI's wording)."""
    steps = [("rt.policy.mmr", policy.mmr_lambda, policy.mmr_lambda is not None),
             ("rt.policy.dpp", policy.dpp_theta, policy.dpp_theta is not None),
             ("rt.policy.calibration", policy.calibration_lambda, policy.calibration_lambda is not None),
             ("rt.policy.max_category", policy.max_per_category, bool(policy.max_per_category)),
             ("rt.policy.max_maker", policy.max_per_maker, bool(policy.max_per_maker)),
             ("rt.policy.history_cap", None, policy.cap_by_history),
             ("rt.policy.repeat", policy.repeat_window_days, policy.repeat_window_days is not None),
             ("rt.policy.popularity", policy.popularity_penalty, bool(policy.popularity_penalty)),
             ("rt.policy.explore", policy.explore_temperature, bool(policy.explore_temperature)),
             ("rt.policy.spread", policy.spread_max_share, bool(policy.spread_max_share))]
    return " · ".join(text(key, lang, v=value) for key, value, on in steps if on) or text("rt.policy.none", lang)


def metric_key_label(key: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """A stored metric's flattened key as a PM reads it: ``daily_menu hr@1`` -> ``하루 메뉴 · 적중률@1``.

    Words are the evaluation's sections (protocol, ``with_policy``, interval fields: ``rt.section.*``)
    or metric keys (:func:`metric_name`); anything else is kept as written.
    """
    def word(part: str) -> str:
        section = f"rt.section.{part}"
        if section in TEXT:
            return text(section, lang)
        base, random, rest = part.partition("_")
        if base == "random" and random and rest:    # evaluation.protocols.random_key: the random ranking's mrr
            return f"{text('rt.section.random', lang)} {metric_name(rest, lang)}"
        return metric_name(part, lang)

    return " · ".join(word(part) for part in key.split(" ") if part)


# ----------------------------------------------------------------------------------- list notes
_NOTE_KO: list[tuple[re.Pattern[str], str]] = [(re.compile(pattern), template) for pattern, template in [
    (r"User (\d+) is not in (.+)'s training data \(cutoff (.+)\); retrain it to include them\.",
     "사용자 {0}은(는) {1}의 학습 데이터에 없습니다 (기준일 {2}). 포함하려면 재학습하세요."),
    (r"(.+) has nothing to rank here: the menu is empty or every food on it carries one of the user's allergies\.",
     "{0}은(는) 여기서 순위 매길 음식이 없습니다: 메뉴가 비었거나 모든 음식에 사용자의 알레르기 성분이 있습니다."),
    (r"Showing the list it stored; the knobs do not apply to it\.", "저장된 목록을 보여줍니다. 다양성 조절은 적용되지 않습니다."),
    (r"It stored no list for this user and setting either\.", "이 사용자와 설정에 저장된 목록도 없습니다."),
    (r"only (\d+) of (\d+) foods are left after the allergy filter and the repeat window; the list has (\d+) of "
     r"the (\d+) asked", "알레르기 필터와 재주문 제외 후 {1}개 중 {0}개만 남아 목록이 요청한 {3}개 중 {2}개입니다"),
    (r"the caps \((.+)\) leave only (\d+) of the (\d+) asked", "상한({0})때문에 요청한 {2}개 중 {1}개만 남습니다"),
    (r"at most (\d+) per category", "카테고리당 최대 {0}개"),
    (r"at most (\d+) per maker", "메이커스당 최대 {0}개"),
]]


def note_line(note: str | None, lang: str = DEFAULT_LANGUAGE) -> str:
    """A list's note (why it is short, stored, or empty), in Korean unless ``lang`` is English;
    sentences without a Korean reading are shown as written."""
    if not note or lang == EN:
        return note or ""

    def read(part: str) -> str:
        for pattern, template in _NOTE_KO:
            found = pattern.fullmatch(part)
            if found:
                return template.format(*(read(g) if " and " not in g else " · ".join(read(x) for x in g.split(" and "))
                                         for g in found.groups()))
        return part

    sentences = re.split(r"(?<=\.) ", note)
    return " ".join(read(sentence) for sentence in sentences)


# ----------------------------------------------------------------------------------- why-lines
_WHY_KO: list[tuple[re.Pattern[str], str]] = [(re.compile(pattern), template) for pattern, template in [
    (r"^new user: (.+)$", "신규 사용자: {0}"),
    (r"^(.+) \((\w+) unavailable: (.+)\)$", "{0} ({1} 사용 불가: {2})"),
    (r"^popular in your group lately$", "최근 고객사에서 인기"),
    (r"^never ordered it: popular in your group lately$", "주문한 적 없음: 최근 고객사에서 인기"),
    (r"^([\d.]+%) of your group's recent orders$", "최근 고객사 주문의 {0}"),
    (r"^because you ate (.+?)( \(you ate it before\))?$", "{0}을(를) 드셔서{1}"),
    (r"^unlike what you usually order( \(you ate it before\))?$", "평소 주문과 다른 음식{0}"),
    (r"^shares (.+) with your past orders$", "지난 주문과 공통점: {0}"),
    (r"^shares (.+) with your taste survey$", "취향 설문과 공통점: {0}"),
    (r"^little in common with your past orders$", "지난 주문과 공통점이 적음"),
    (r"^little in common with your taste survey$", "취향 설문과 공통점이 적음"),
    (r"^you ordered it (\d+) times \(([\d.]+%) of your recent orders\)(.*)$", "{0}번 주문함 (최근 주문의 {1}){2}"),
    (r"^you ordered it (\d+) times; (.+)$", "{0}번 주문함; {1}"),
    (r"^you ordered it (\d+)x$", "{0}번 주문함"),
    (r"^(\d+) of the (\d+) users who eat most like you had it(.*)$", "입맛이 가장 비슷한 {1}명 중 {0}명이 먹음{2}"),
    (r"^(\d+) of the (\d+) users most like you ordered it(.*)$", "가장 비슷한 사용자 {1}명 중 {0}명이 주문{2}"),
    (r"^close to (.+), which you ordered$", "주문했던 {0}와(과) 비슷함"),
    (r"^choice model: ([\d.]+%) chance you pick it$", "선택 모델: 고를 확률 {0}"),
    (r"^follows your recent (.+) \((.+)\)$", "최근 드신 {0} 다음으로 ({1})"),
    (r"^you had it (.+) \(variety lowers it, (.+)\)(.*)$", "{0}에 드심 (다양성을 위해 낮춤, {1}){2}"),
    (r"^you had it (.+) \(habit raises it, (.+)\)(.*)$", "{0}에 드심 (습관이라 높임, {1}){2}"),
    (r"^ate (.+) ([\d.]+) times$", "{0}을(를) {1}번 먹음"),
    (r"^new to you: (.+)$", "처음: {0}"),
    (r"^([\d.]+%) of your orders from (.+)$", "주문의 {0}가 {1}"),
    (r"^a change of maker: (.+)$", "메이커스 바꿔보기: {0}"),
    (r"^you often eat (.+) \(([\d.]+%)\)$", "{0}을(를) 자주 드심 ({1})"),
    (r"^a change of cuisine: (.+)$", "카테고리 바꿔보기: {0}"),
    (r"^never tried (.+)$", "{0}은(는) 처음"),
    (r"^not eaten in ([\d.]+) days$", "{0}일 동안 안 드심"),
    (r"^new maker for you: (.+)$", "처음 만나는 메이커스: {0}"),
    (r"^no (.+) for ([\d.]+) days$", "{1}일 동안 {0} 없음"),
    (r"^no (.+) for a while$", "한동안 {0} 없음"),
    (r"^(.+) again$", "또 {0}"),
    (r"^([\d.]+%) of your recent orders$", "최근 주문의 {0}"),
    (r"^you took it ([\d.]+%) of the times it was on your menu$", "메뉴에 나올 때 {0} 선택"),
    (r"^you pick (.+) ([\d.]+)x as often as chance$", "{0}을(를) 우연보다 {1}배 자주 고름"),
    (r"^(.+) score ([-\d.]+) \(top ([\d.]+%) of all foods for this user\)$", "{0} 점수 {1} (이 사용자의 전체 음식 중 상위 {2})"),
    (r"^had it on a recent service day, so it moves down for variety$", "최근에 드셔서 다양성을 위해 뒤로"),
    (r"^1 day ago$", "1일 전"),
    (r"^(\d+) days ago$", "{0}일 전"),
    (r"^ \(you ate it before\)$", " (전에 드심)"),
]]
_SEPARATORS = re.compile(r"( · |; )")
_WHOLE_LINE = re.compile(r"^(new user: )?shares .+ with your (past orders|taste survey)$")


def _translate_part(part: str) -> str:
    for pattern, template in _WHY_KO:
        found = pattern.match(part)
        if found:
            return template.format(*(_translate_part(g) if g else "" for g in found.groups()))
    return part


def why_line(line: str | None, lang: str = DEFAULT_LANGUAGE) -> str:
    """A model's why-line, in Korean unless ``lang`` is English.

    The models explain themselves in English (the CLI, logs and tests read the same lines); the
    reading for the page is here, phrase by phrase (" · " and "; " separate phrases). A phrase with
    no Korean reading yet is shown as the model wrote it.
    """
    if not line or lang == EN:
        return line or ""
    if _WHOLE_LINE.match(line):              # a phrase whose own text holds " · " (content's shared features)
        return _translate_part(line)
    return "".join(part if _SEPARATORS.fullmatch(part) else _translate_part(part)
                   for part in _SEPARATORS.split(line))
