"""Ensembles: runs made of runs, fused by a rule, written in the shared format like any run.

- ``fusion``: the rules (reciprocal rank fusion, blend of normalised scores, stacked blend);
- ``members``: which runs, checked (done, one cutoff), and their stored lists;
- ``ranker``: ``FusedRanker``, the ensemble behind the model contract (stored rows first, the
  members' models for the rest; why-lines per member);
- ``stacking``: the stacked weights, learned on the validation window per protocol;
- ``build``: writing an ensemble run (``build_ensemble``) and loading one back (``load_ensemble``);
- ``requests``: the retrain page's form (the runs it can fuse; build now or as a job);
- ``evaluation``: ensembles on the leaderboard (``evaluate --ensemble``).
"""
from kurrant_core.ensembles.build import ENSEMBLE_MODEL, build_ensemble, load_ensemble
from kurrant_core.ensembles.fusion import BLEND, DEFAULT_RRF_K, RRF, RULES, STACKED
from kurrant_core.ensembles.members import ENSEMBLE_KEY, is_ensemble, resolve_members
from kurrant_core.ensembles.ranker import FusedRanker
from kurrant_core.ensembles.requests import SYNC_RULES, EnsembleRequest, fusable_runs, make_ensemble

__all__ = ["BLEND", "DEFAULT_RRF_K", "ENSEMBLE_KEY", "ENSEMBLE_MODEL", "SYNC_RULES", "EnsembleRequest",
           "FusedRanker", "RRF", "RULES", "STACKED", "build_ensemble", "fusable_runs", "is_ensemble",
           "load_ensemble", "make_ensemble", "resolve_members"]
