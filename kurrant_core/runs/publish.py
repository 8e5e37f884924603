"""Handing a run on: publish the active run's dated rows into the table the backend reads, or
export a done run as Parquet plus a manifest (format version, row count, checksum)."""
from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from kurrant_core import access, columns as C, schema
from kurrant_core.audit import audited
from kurrant_core.errors import KurrantError
from kurrant_core.runs.reading import read_recommendations, typed_rows
from kurrant_core.runs.records import get_run, now, require_status
from kurrant_core.schema import FORMAT_VERSION, RUN_DONE

EXPORT_FILE = "rec_user_recommend.parquet"
MANIFEST_FILE = "manifest.json"
EXPORT_SCHEMA = pa.schema([
    (C.RUN_ID, pa.int64()), (C.USER_ID, pa.int64()), (C.GROUP_ID, pa.int64()),
    (C.SERVICE_DATE, pa.date32()), (C.DINING_TYPE, pa.int16()), (C.FOOD_ID, pa.int64()),
    (C.MAKERS_ID, pa.int64()), (C.RANK, pa.int16()), (C.SCORE, pa.float64()),
], metadata={"kurrant.format_version": str(FORMAT_VERSION)})
_rows, _backend = schema.rec_user_recommend, schema.recommend_user_recommends


def publish_run(engine: sa.Engine, run_id: int, *, by: access.Person) -> int:
    """Copy the active run's dated rows into the backend table; the number of rows copied.

    Rows already there for the same (service date, dining type, group) are replaced, in the same
    transaction, so republishing never duplicates and the backend never sees a half-copied slot.
    ``by`` must be allowed to publish; its audit row commits in that transaction too.
    """
    with audited(engine, by, access.PUBLISH, f"run {run_id}") as act:
        run = get_run(engine, run_id)
        require_status(run, RUN_DONE, "published")
        if not run.is_active:
            raise KurrantError(f"Run {run_id} is not the active {run.model} run; activate it first "
                               f"(`python -m kurrant_core activate {run_id}`), then publish.",
                               key="err.not_active", run_id=run_id, model=run.model)
        same_slot = sa.select(sa.literal(1)).where(
            _rows.c.run_id == run_id, _rows.c.service_date == _backend.c.service_date,
            _rows.c.dining_type == _backend.c.dining_type, _rows.c.group_id == _backend.c.group_id)
        dated = (sa.select(*[_rows.c[name] for name in C.BACKEND_COLUMNS])
                 .where(_rows.c.run_id == run_id, _rows.c.service_date.is_not(None)))
        with engine.begin() as conn:
            conn.execute(_backend.delete().where(same_slot.exists()))
            conn.execute(_backend.insert().from_select(
                [_backend.c[name] for name in C.BACKEND_COLUMNS], dated))
            n_rows = int(conn.execute(sa.select(sa.func.count()).select_from(_rows)
                                      .where(_rows.c.run_id == run_id, _rows.c.service_date.is_not(None)))
                         .scalar())
            act.done(conn, f"run {run_id} ({run.model}): {n_rows} rows")
    return n_rows


def file_sha256(path: Path) -> str:
    """The file's sha256, read in 1 MiB blocks (export manifests carry it)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def export_run(engine: sa.Engine, run_id: int, out_dir: str | Path) -> Path:
    """Write a done run's rows as Parquet plus ``manifest.json``; the manifest's path."""
    run = get_run(engine, run_id)
    require_status(run, RUN_DONE, "exported")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = read_recommendations(engine, run_id)
    table = pa.Table.from_pandas(rows, schema=EXPORT_SCHEMA, preserve_index=False)
    parquet_path = out_dir / EXPORT_FILE
    pq.write_table(table, parquet_path)
    manifest = {"format_version": FORMAT_VERSION, "run": run.to_json_dict(), "rows": len(rows),
                "columns": list(C.REC_COLUMNS), "file": EXPORT_FILE,
                "sha256": file_sha256(parquet_path), "exported_at": now().isoformat()}
    manifest_path = out_dir / MANIFEST_FILE
    manifest_path.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    return manifest_path


def export_parquet(engine: sa.Engine, run_id: int) -> bytes:
    """A done run's rows as the Parquet file of ``export_run`` (format version inside), for a
    download button."""
    with tempfile.TemporaryDirectory(prefix=f"kurrant_run_{run_id}_") as folder:
        export_run(engine, run_id, folder)
        return (Path(folder) / EXPORT_FILE).read_bytes()


def load_export(out_dir: str | Path) -> tuple[dict, pd.DataFrame]:
    """Read an export back, checking its format version, checksum and row count."""
    out_dir = Path(out_dir)
    manifest_path = out_dir / MANIFEST_FILE
    if not manifest_path.exists():
        raise KurrantError(f"{out_dir} holds no {MANIFEST_FILE}; point at a folder made by `export`.")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if manifest.get("format_version") != FORMAT_VERSION:
        raise KurrantError(f"{out_dir} is in output format {manifest.get('format_version')}; this "
                           f"version of Kurrant Lens reads format {FORMAT_VERSION}.")
    parquet_path = out_dir / manifest["file"]
    if not parquet_path.exists() or file_sha256(parquet_path) != manifest["sha256"]:
        raise KurrantError(f"{parquet_path} is missing or does not match its manifest's sha256; "
                           "export the run again.")
    rows = typed_rows(pq.read_table(parquet_path).to_pandas())
    if len(rows) != manifest["rows"]:
        raise KurrantError(f"{parquet_path} holds {len(rows)} rows, its manifest says "
                           f"{manifest['rows']}; export the run again.")
    return manifest, rows
