"""Runs: the one home of a run, from its record to the lists the backend reads.

A run is a model plus a diversity policy, written in the shared output format v1:

- ``records``: the ``rec_run`` row and its lifecycle (start, finish, fail or stop and clean up,
  activate);
- ``shared_format``: the format's rules, checked on every write, and the batched write;
- ``reading``: a done run's lists read back (only a done run's rows can come out);
- ``pipeline``: the one pipeline that makes a run (train, evaluate, apply a policy to a saved model);
- ``publish``: the active run's dated rows into the backend table, Parquet export with a manifest;
- ``history`` and ``comparison``: every run at a glance, and two runs side by side.
"""
from kurrant_core.runs.comparison import ListOverlap, RunComparison, compare_runs, flat_metrics, list_overlap, run_label
from kurrant_core.runs.history import (
                                       DEFAULT_MENU_DAYS,
                                       HISTORY_COLUMNS,
                                       IS_ACTIVE,
                                       TUNED,
                                       default_cutoff,
                                       done_runs_of,
                                       run_history,
                                       tuned_text,
                                       upcoming_menu_days,
)
from kurrant_core.runs.pipeline import (
                                       APPLIED_TO,
                                       DEFAULT_DAYS,
                                       USER_BATCH,
                                       EvaluateFn,
                                       ProgressFn,
                                       StopFn,
                                       active_user_ids,
                                       apply_policy_to_run,
                                       check_stop,
                                       menu_slots,
                                       run_pipeline,
                                       train_and_write,
                                       upcoming_menu_dates,
                                       write_run_lists,
)
from kurrant_core.runs.publish import (
                                       EXPORT_FILE,
                                       EXPORT_SCHEMA,
                                       MANIFEST_FILE,
                                       export_parquet,
                                       export_run,
                                       load_export,
                                       publish_run,
)
from kurrant_core.runs.reading import list_shape, read_recommendations, typed_rows
from kurrant_core.runs.records import (
                                       META_ARTIFACT_ROOT,
                                       META_INSTANCE_ID,
                                       WARNINGS_KEY,
                                       RunCancelled,
                                       RunRecord,
                                       abandon_run,
                                       activate_run,
                                       artifact_folder,
                                       code_version,
                                       fail_run,
                                       finish_run,
                                       get_run,
                                       instance_id,
                                       list_runs,
                                       require_status,
                                       resolve_artifact_path,
                                       start_run,
                                       stored_artifact_path,
                                       update_run_metrics,
)
from kurrant_core.runs.shared_format import (
                                       CHUNK_ROWS,
                                       LIST_KEY,
                                       RecommendationFormatError,
                                       validate_recommendations,
                                       write_recommendations,
)

__all__ = [
    "APPLIED_TO", "CHUNK_ROWS", "DEFAULT_DAYS", "DEFAULT_MENU_DAYS", "EXPORT_FILE", "EXPORT_SCHEMA",
    "HISTORY_COLUMNS", "IS_ACTIVE", "LIST_KEY", "MANIFEST_FILE", "META_ARTIFACT_ROOT",
    "META_INSTANCE_ID", "TUNED",
    "USER_BATCH", "WARNINGS_KEY", "EvaluateFn", "ListOverlap", "ProgressFn", "RecommendationFormatError",
    "RunCancelled", "RunComparison", "RunRecord", "StopFn", "abandon_run", "activate_run",
    "active_user_ids", "apply_policy_to_run", "artifact_folder", "check_stop", "code_version",
    "compare_runs", "default_cutoff", "done_runs_of", "export_parquet", "export_run", "fail_run",
    "finish_run", "flat_metrics", "get_run", "instance_id", "list_overlap", "list_runs", "list_shape", "load_export",
    "menu_slots", "publish_run", "read_recommendations", "require_status", "resolve_artifact_path",
    "run_history", "run_label", "run_pipeline", "start_run", "stored_artifact_path", "train_and_write",
    "tuned_text", "typed_rows", "upcoming_menu_dates", "upcoming_menu_days", "update_run_metrics",
    "validate_recommendations", "write_recommendations", "write_run_lists",
]
