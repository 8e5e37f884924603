"""The ``err.*`` part of the label catalogue: the errors a dashboard user can meet, in Korean and English.

A library error that a page may show carries one of these keys (``KurrantError(message, key=…,
**values)``); :func:`kurrant_core.ui_text.error_text` shows it in the session's language. The
English entries say what the exception's own English message says (the CLI prints that one), without
the CLI commands a PM cannot run. Kept in its own module so the catalogue's largest section does not
crowd ``ui_text``; ``ui_text.TEXT`` includes every entry, so there is still one catalogue.

Fields ending in ``status`` hold a run or job status (``done``, ``queued`` …) and are shown through the
``rt.status.*`` entries; a field holding an exception is shown through its own key.
"""
from __future__ import annotations

ERROR_TEXT: dict[str, tuple[str, str]] = {
    # ----------------------------------------------------------------- the DE database (db.check_ready)
    "err.no_tables": ("DE 데이터베이스에 아직 테이블이 없습니다. 데이터 담당자에게 초기화(init-db)와 데이터 적재, "
                      "전처리(preprocess)를 요청하세요.",
                      "The DE database has no tables yet. Ask the data team to initialise it (init-db), "
                      "load data and run preprocess."),
    "err.not_preprocessed": ("DE 데이터베이스에 전처리된 주문이 없습니다. 데이터를 불러온 뒤(demo-data 또는 sync) "
                             "전처리(preprocess)를 실행하세요.",
                             "The DE database has no preprocessed orders. Load data (demo-data or sync), "
                             "then run preprocess."),
    "err.marts_outdated": ("DE 데이터베이스의 마트가 다른 버전의 Kurrant Lens로 만들어졌습니다. 전처리(preprocess)를 "
                           "다시 실행해 마트를 새로 만드세요.",
                           "The DE database's marts were built by another version of Kurrant Lens. Run "
                           "preprocess to rebuild them."),
    "err.unreachable": ("{url} 의 DE 데이터베이스에 연결할 수 없습니다. 서버가 실행 중인지, KURRANT_DE_URL 이 "
                        "맞는지 확인하세요.",
                        "Cannot reach the DE database at {url}. Check that the server is running and "
                        "KURRANT_DE_URL is right."),
    "err.sqlite_folder": ("DE 데이터베이스 경로 {path} 는 폴더입니다. 그 안의 .sqlite 파일을 가리키세요.",
                          "The DE database path {path} is a folder, not a SQLite file; point the URL at the "
                          ".sqlite file inside it."),
    "err.sqlite_missing": ("{path} 에 DE 데이터베이스가 없습니다. 경로를 고치거나 데이터베이스를 만드세요(init-db).",
                           "No DE database at {path}. Fix the path, or create the database (init-db)."),
    "err.url_malformed": ("{source} 의 DE 데이터베이스 URL 형식이 잘못되었습니다. 다음처럼 쓰세요: {examples}.",
                          "The DE database URL in {source} is malformed; write it like {examples}."),
    "err.url_backend": ("DE 데이터베이스는 SQLite 또는 MySQL/MariaDB 여야 합니다({backend!r}, {source}). 다음처럼 "
                        "쓰세요: {examples}.",
                        "The DE database must be SQLite or MySQL/MariaDB, not {backend!r} ({source}); write "
                        "it like {examples}."),
    "err.url_driver": ("{source} 의 DE URL 이 쓰는 데이터베이스 드라이버 {driver!r} 를 쓸 수 없습니다. 관리자에게 "
                       "알려 주세요({how}).",
                       "The database driver {driver!r} of the DE URL in {source} is not available; {how}."),
    # ----------------------------------------------------------------- compare
    "err.unknown_user": ("사용자 {user_id} 은(는) DE 데이터베이스(mart_user)에 없습니다. ID를 확인하거나 빠른 선택으로 "
                         "사용자를 고르세요. 최근 가입자라면 동기화와 전처리가 필요합니다.",
                         "User {user_id} is not in the DE database (mart_user). Check the id, pick a user "
                         "with the quick picks, or sync + preprocess if they joined recently."),
    "err.unknown_quick_pick": ("알 수 없는 빠른 선택 {kind!r} 입니다. 다음 중 하나를 고르세요: {choices}.",
                               "Unknown quick pick {kind!r}; choose one of {choices}."),
    "err.no_quick_pick": ("빠른 선택에 맞는 사용자가 없습니다. 다른 고객사나 다른 빠른 선택을 고르세요.",
                          "No user fits this quick pick. Try another group or quick pick."),
    "err.no_menu_ever": ("{group} 에는 {meal} 메뉴가 있는 날이 없습니다. 다른 식사를 고르거나 전체 카탈로그로 "
                         "순위를 매기세요.",
                         "{group} has no {meal} menu on any day. Pick another dining type, or rank the "
                         "catalog instead."),
    "err.no_menu": ("{group} 에는 {date} 에 {meal} 메뉴가 없습니다. 가장 가까운 메뉴가 있는 날: {nearest}. 그중 하루를 "
                    "고르거나 전체 카탈로그로 순위를 매기세요.",
                    "{group} has no {meal} menu on {date}. Nearest days with one: {nearest}. Pick one of "
                    "them, or rank the catalog instead."),
    "err.run_not_comparable": ("실행 {run_id} 은(는) '{status}' 상태입니다. 완료된 실행만 비교할 수 있습니다.",
                               "Run {run_id} is {status}; only a finished run can be compared."),
    "err.artifacts_missing": ("실행 {run_id} 의 저장된 모델이 없어 목록을 다시 정렬할 수 없습니다. 저장된 목록만 "
                              "볼 수 있습니다. 실시간 비교를 하려면 {model} 을(를) 다시 학습하세요.",
                              "Run {run_id}'s saved model is missing, so its lists cannot be re-ranked; only "
                              "its stored lists can be shown. Retrain {model} to compare it live."),
    # ----------------------------------------------------------------- runs
    "err.unknown_run": ("실행 {run_id} 은(는) 없습니다. 실행 기록에서 있는 ID를 고르세요.",
                        "Run {run_id} does not exist. Pick one of the ids in the runs list."),
    "err.run_status": ("실행 {run_id} 은(는) '{status}' 상태입니다. '{wanted_status}' 상태인 실행만 {action} 할 수 "
                       "있습니다.",
                       "Run {run_id} is {status}; only a {wanted_status} run can be {action}."),
    "err.not_active": ("실행 {run_id} 은(는) 현재 사용 중인 {model} 실행이 아닙니다. 먼저 활성화한 뒤 배포하세요.",
                       "Run {run_id} is not the active {model} run; activate it first, then publish."),
    "err.no_finished_run": ("추천에 쓸 완료된 실행이 없습니다. 먼저 *재학습 · 실행 기록* 페이지에서 학습하세요.",
                            "No finished run to plan with: retrain first (the Retrain page)."),
    "err.format_rule": ("추천 결과가 공통 출력 형식 규칙 '{rule}' 을(를) 어겼습니다. 이번 묶음은 아무것도 저장하지 "
                        "않았습니다.",
                        "Recommendations break the shared format rule '{rule}'. Nothing of this batch "
                        "was written."),
    # ----------------------------------------------------------------- auto-order inputs and settings
    "err.bad_date": ("서비스일은 2026-11-02 같은 날짜여야 합니다({value!r} 는 아님).",
                     "The service date must look like 2026-11-02, not {value!r}."),
    "err.bad_dining": ("식사는 {choices} 중 하나여야 합니다({value!r} 는 아님).",
                       "The dining type must be one of {choices}, not {value!r}."),
    "err.bad_mode": ("방식은 {choices} 중 하나여야 합니다({value!r} 는 아님).",
                     "The plan mode must be one of {choices}, not {value!r}."),
    "err.no_menu_any_group": ("{date} 에 {meal} 메뉴가 있는 고객사가 없어 배정할 것이 없습니다. 메뉴가 있는 날을 "
                              "고르세요(추천 비교 페이지에 나옵니다).",
                              "No group has a {meal} menu on {date}: nothing to plan. Pick a date with a "
                              "menu (the Compare page lists them)."),
    "err.settings_ids": ("{what} 은(는) 쉼표로 구분한 정수여야 합니다({value!r} 는 아님).",
                         "{what} must be whole numbers separated by commas, not {value!r}."),
    "err.settings_user": ("user_id 는 양의 정수여야 합니다({value} 는 아님).",
                          "user_id must be a positive id, not {value}."),
    "err.settings_dining": ("dining_types 는 {choices} 중에서 골라야 합니다({value} 는 아님).",
                            "dining_types must be some of {choices}, not {value}."),
    "err.settings_weekdays": ("weekdays 는 0(월요일)부터 6(일요일) 사이여야 합니다({value} 는 아님).",
                              "weekdays must be some of 0 (Monday) .. 6 (Sunday), not {value}."),
    "err.settings_price": ("max_price 는 원 단위의 양수여야 합니다({value} 는 아님).",
                           "max_price must be a positive amount in won, not {value}."),
    "err.settings_period": ("active_to({end}) 가 active_from({start}) 보다 앞섭니다.",
                            "active_to ({end}) is before active_from ({start})."),
    "err.settings_date": ("{what} 은(는) 2026-11-02 같은 날짜여야 합니다({value!r} 는 아님).",
                          "{what} must be a date like 2026-11-02, not {value!r}."),
    "err.settings_numbers": ("user_id 와 max_price 는 정수여야 합니다(입력: {user_id!r}, {max_price!r}).",
                             "user_id and max_price must be whole numbers (got {user_id!r}, {max_price!r})."),
    "err.settings_unknown_users": ("알 수 없는 사용자 ID {ids}: DE 의 mart_user 에 있는 사용자만 자동 주문에 동의할 수 "
                                   "있습니다.",
                                   "Unknown user id(s) {ids}: only users in the DE's mart_user can opt in."),
    "err.settings_row": ("{row}행: {detail}", "Row {row}: {detail}"),
    "err.settings_duplicate": ("같은 사용자가 두 번 있습니다. 사용자마다 한 행만 남기세요.",
                               "A user appears twice; keep one row per user."),
    "err.plan_weights": ("배정 가중치는 음수일 수 없습니다.", "Plan weights cannot be negative."),
    "err.spread_share": ("spread_share 는 (0, 1] 범위여야 합니다({value} 는 아님).",
                         "spread_share must be in (0, 1], not {value}."),
    # ----------------------------------------------------------------- policies (rerank.Policy, policies)
    "err.policy_json": ("정책이 올바른 JSON 이 아닙니다({msg}, {pos}번째 문자).",
                        "The policy is not valid JSON ({msg} at character {pos})."),
    "err.policy_off": ("'off' 는 아무것도 재정렬하지 않는 기본 정책입니다. 다른 이름을 고르세요.",
                       "'off' is the built-in policy that re-ranks nothing; choose another name."),
    "err.unknown_policy": ("{name!r} 라는 정책은 없습니다. 있는 정책: {known}.",
                           "No policy is called {name!r}. Known policies: {known}."),
    "err.policy_name": ("정책 이름은 1–64자여야 합니다({name!r} 는 아님).",
                        "A policy needs a name of 1 to 64 characters, not {name!r}."),
    "err.policy_version": ("정책 {name!r} 은(는) 버전 {version} 입니다. 이 빌드는 버전 {supported} 만 읽습니다.",
                           "Policy {name!r} is of version {version}; this build reads version {supported}."),
    "err.policy_whole": ("{name} 은(는) 1 이상의 정수여야 합니다({value!r} 는 아님).",
                         "{name} must be a whole number of at least 1, not {value!r}."),
    "err.policy_unit": ("{name} 은(는) 0과 1 사이여야 합니다(또는 끔). {value} 는 안 됩니다.",
                        "{name} must lie between 0 and 1 (or be off), not {value}."),
    "err.policy_at_least_one": ("{name} 은(는) 1 이상이어야 합니다(또는 끔). {value} 는 안 됩니다.",
                                "{name} must be at least 1 (or off), not {value}."),
    "err.policy_window": ("repeat_window_days 는 0일 이상이어야 합니다(또는 끔).",
                          "repeat_window_days must be 0 or more days (or off)."),
    "err.policy_non_negative": ("popularity_penalty 와 explore_temperature 는 0 이상이어야 합니다.",
                                "popularity_penalty and explore_temperature must be 0 or more."),
    "err.policy_normalisation": ("normalisation 은 {choices} 중 하나여야 합니다({value!r} 는 아님).",
                                 "normalisation must be one of {choices}, not {value!r}."),
    "err.policy_spread": ("spread_max_share 는 (0, 1] 범위여야 합니다(또는 끔). {value} 는 안 됩니다.",
                          "spread_max_share must lie in (0, 1] (or be off), not {value}."),
    "err.policy_object": ("정책은 설정을 담은 JSON 객체여야 합니다({kind} 는 아님).",
                          "A policy is a JSON object of settings, not {kind}."),
    "err.policy_unknown_setting": ("알 수 없는 정책 설정 {names}. 정책이 받는 설정: {known}.",
                                   "Unknown policy setting {names}; a policy takes {known}."),
    "err.policy_setting_type": ("정책 설정 {name} 은(는) {kind} 여야 합니다({value!r} 는 아님).",
                                "Policy setting {name} must be a {kind}, not {value!r}."),
    "err.memory": ("이 서버에서 쓸 수 있는 메모리는 {free} MB인데, 이 DE 데이터베이스를 재학습하려면 약 {need} MB가 "
                   "필요합니다. 다른 프로그램을 닫거나 더 큰 서버에서 재학습하세요.",
                   "This machine has {free} MB of memory available, and a retrain of this DE database needs "
                   "about {need} MB. Close other programs, or run the retrain on a larger machine."),
    # ----------------------------------------------------------------- ensembles
    "err.ens_no_members": ("앙상블에는 구성원이 하나 이상 필요합니다: 실행 ID(12,15) 또는 모델 이름"
                           "(hybrid,sequential).",
                           "An ensemble needs at least one member: run ids (12,15) or model names "
                           "(hybrid,sequential)."),
    "err.ens_no_active": ("{model} 에는 합칠 수 있는 활성 완료 실행이 없습니다. 학습하고 활성화하거나 실행 ID를 "
                          "직접 주세요.",
                          "{model} has no active done run to fuse. Train it and activate the run, or give "
                          "run ids instead."),
    "err.ens_twice": ("구성원 중 같은 실행이 두 번 있습니다({ids}). 실행마다 한 번만 적으세요.",
                      "A run is listed twice among the members ({ids}); list each run once."),
    "err.ens_member": ("구성원: {detail}", "Member {detail}"),
    "err.ens_not_done": ("실행 {run_id}({model}) 은(는) '{status}' 상태입니다. 완료된 실행만 합칠 수 있습니다. 다른 "
                         "실행을 고르거나 모델을 다시 학습하세요.",
                         "Run {run_id} ({model}) is {status}; only done runs can be fused. Pick another "
                         "run or retrain the model."),
    "err.ens_nested": ("실행 {run_id} 은(는) 그 자체가 앙상블입니다. 그것을 이루는 모델 실행들을 합치세요.",
                       "Run {run_id} is itself an ensemble; fuse the model runs it was made of."),
    "err.ens_cutoffs": ("구성원들이 서로 다른 기준일로 학습되었습니다({listed}). 같은 기준일의 실행을 합치세요"
                        "(함께 다시 학습).",
                        "The members were trained on different cutoffs ({listed}); fuse runs of one "
                        "cutoff (retrain them together)."),
    "err.ens_model_gone": ("{label} 이(가) 일부 사용자·날짜의 목록을 저장하지 않았고 저장된 모델도 없습니다. 저장된 "
                           "날짜로만 앙상블을 만들거나 구성원을 다시 학습하세요.",
                           "{label} stored no list for some of the users or dates asked, and its saved "
                           "model is gone; build the ensemble for the stored dates only, or retrain the "
                           "member."),
    # ----------------------------------------------------------------- retrain jobs
    "err.job_lock": ("다른 재학습(작업 {job_id}: {models})이 진행 중입니다. 재학습은 한 번에 하나만 돌아갑니다. "
                     "끝날 때까지 기다리거나 취소 버튼으로 취소한 뒤 다시 시작하세요.",
                     "Another retrain (job {job_id}: {models}) is running. Only one retrain runs at a "
                     "time: wait for it to finish, or cancel it with the Cancel button, then start again."),
    "err.job_lock_gone": ("다른 재학습이 방금 끝났습니다. 다시 시작하세요.",
                          "Another retrain finished just as this one was submitted; submit again."),
    "err.job_no_models": ("재학습할 모델을 하나 이상 고르세요.", "Choose at least one model to retrain."),
    "err.job_k": ("k(목록 길이)는 1 이상이어야 합니다({value} 는 아님).",
                  "k (the list length) must be at least 1, not {value}."),
    "err.job_horizon": ("평가 기간은 1일 이상이어야 합니다({value} 는 아님).",
                        "The evaluation horizon must be at least 1 day, not {value}."),
    "err.job_stray_params": ("작업에 없는 모델 {models} 의 파라미터가 주어졌습니다.",
                             "Parameters were given for {models}, which is not being retrained."),
    "err.job_stray_policy": ("작업에 없는 모델 {models} 의 정책이 주어졌습니다.",
                             "A policy was given for {models}, which is not in the job."),
    "err.job_apply_one": ("정책 적용은 완료된 실행 하나로 새 실행 하나를 만듭니다.",
                          "Applying a policy makes one new run from one done run."),
    "err.job_ensemble": ("앙상블 작업은 구성원 실행을 합칩니다. 실행 ID만 주고 적용할 정책은 주지 마세요.",
                         "An ensemble job fuses its member runs; give their ids, nothing to apply."),
    "err.job_dates": ("기간 {start} ~ {end} 는 시작보다 끝이 앞섭니다.",
                      "The date range {start} to {end} ends before it starts."),
    "err.job_not_cancellable": ("작업 {job_id} 은(는) 이미 '{status}' 상태입니다. 대기 중이거나 학습 중인 작업만 "
                                "취소할 수 있습니다.",
                                "Job {job_id} is already {status}; only a queued or learning job can be "
                                "cancelled."),
    "err.unknown_job": ("작업 {job_id} 은(는) 없습니다.", "Job {job_id} does not exist."),
    "err.worker_start": ("재학습 작업자를 시작하지 못했습니다. 작업 {job_id} 은(는) 실패로 기록되었습니다. 관리자에게 "
                         "알려 주세요.",
                         "The retrain worker could not be started; job {job_id} was marked failed. Tell "
                         "an administrator."),
    # ----------------------------------------------------------------- EDA filters
    "err.eda_empty": ("DE 데이터베이스에 전처리된 주문이 없습니다. 데이터를 불러온 뒤 전처리(preprocess)를 "
                      "실행하세요.",
                      "The DE database has no preprocessed orders. Load data, then run preprocess."),
}
