"""Copy selected production tables into the DE raw mirror: allowed columns only, incrementally.

``sync_tables`` is the copier (read-only, chunked, resumable); ``sync_status`` is what the overview
page shows; ``production_schema`` builds a production look-alike (with PII) for tests and benches.
"""
from kurrant_core.sync.copier import SyncResult, sync_tables
from kurrant_core.sync.log import sync_status
from kurrant_core.sync.plan import SYNC_SPECS, TableSpec, select_specs

__all__ = ["SYNC_SPECS", "SyncResult", "TableSpec", "select_specs", "sync_status", "sync_tables"]
