"""What a retrain job is asked to do, as stored in ``rec_job.params`` (JSON).

A spec is validated before a job row is written (unknown model or parameter, k < 1), so a wrong
request is refused on the page or the command line instead of failing minutes later in the worker.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from kurrant_core.errors import KurrantError
from kurrant_core.evaluation import DEFAULT_HORIZON_DAYS, resolve_models
from kurrant_core.models import get_model_class, make_model

MODEL_SEPARATOR = ","


@dataclass(frozen=True)
class RetrainSpec:
    """Models to train (in order), their shared settings and each one's hyper-parameters.

    ``cutoff`` None trains on every order; ``dates`` None pre-computes the next few menu days after
    the cutoff; ``evaluate`` stores the evaluation harness's metrics with each run; ``activate``
    makes each new run its model's active run once the whole job is done.
    """

    models: tuple[str, ...]
    cutoff: date | None = None
    k: int = 10
    dates: tuple[date, ...] | None = None
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    evaluate: bool = True
    horizon_days: int = DEFAULT_HORIZON_DAYS
    activate: bool = True
    policies: dict[str, str] = field(default_factory=dict)
    """Model -> the name of the diversity policy its lists are written with (default: default)."""
    apply_to_run: int | None = None
    """Set: not a retrain but "apply a policy to a done run": the run's saved model, no refit, a new
    run written with ``policies[model]`` (one model, the run's)."""
    ensemble: dict[str, Any] | None = None
    """Set: not a retrain but "make an ensemble" (``ensembles.build_ensemble``): ``members`` (run ids),
    ``rule``, ``rrf_k``, ``weights``, ``policy``; ``models`` are the members' models, for display."""

    @classmethod
    def build(cls, models: str | list[str] | tuple[str, ...] | None = "all",
              **settings: Any) -> RetrainSpec:
        """A validated spec; ``models`` is a list, ``"a,b"`` or ``"all"``."""
        spec = cls(models=tuple(resolve_models(models)), **settings)
        spec.validate()
        return spec

    def validate(self) -> None:
        """Raise KurrantError for anything the worker would only discover later."""
        if not self.models:
            raise KurrantError("Choose at least one model to retrain.", key="err.job_no_models")
        if self.k < 1:
            raise KurrantError(f"k (the list length) must be at least 1, not {self.k}.",
                               key="err.job_k", value=self.k)
        if self.horizon_days < 1:
            raise KurrantError(f"The evaluation horizon must be at least 1 day, not "
                               f"{self.horizon_days}.", key="err.job_horizon", value=self.horizon_days)
        stray = sorted(set(self.params) - set(self.models))
        if stray:
            raise KurrantError(f"Parameters were given for {', '.join(stray)}, which is not being "
                               f"retrained (models: {', '.join(self.models)}).",
                               key="err.job_stray_params", models=", ".join(stray))
        for name in self.models:
            make_model(name, **self.params.get(name, {}))      # unknown parameter -> KurrantError
        stray = sorted(set(self.policies) - set(self.models))
        if stray:
            raise KurrantError(f"A policy was given for {', '.join(stray)}, which is not in the job.",
                               key="err.job_stray_policy", models=", ".join(stray))
        if self.apply_to_run is not None and len(self.models) != 1:
            raise KurrantError("Applying a policy makes one new run from one done run.", key="err.job_apply_one")
        if self.ensemble is not None:
            from kurrant_core.ensembles import fusion
            if self.apply_to_run is not None or not self.ensemble.get("members"):
                raise KurrantError("An ensemble job fuses its member runs; give their ids, nothing to apply.",
                                   key="err.job_ensemble")
            fusion.check_rule(self.ensemble.get("rule", ""), self.ensemble.get("rrf_k", fusion.DEFAULT_RRF_K),
                              self.ensemble.get("weights"), len(self.ensemble["members"]))

    def validate_policies(self, engine: sa.Engine) -> None:
        """Every named policy exists (a job would otherwise fail minutes later)."""
        from kurrant_core.policies import get_policy
        for name in self.policies.values():
            get_policy(engine, name)

    def model_policy(self, name: str, engine: sa.Engine | None = None) -> str:
        """The policy ``name``'s lists are written with (unnamed: the model's default)."""
        from kurrant_core.policies import default_policy_name
        return self.policies.get(name) or default_policy_name(engine, name)

    def model_params(self, name: str) -> dict[str, Any]:
        """``name``'s hyper-parameters for this job (the class defaults for the rest)."""
        return dict(self.params.get(name, {}))

    # ------------------------------------------------------------------ storage in rec_job
    def models_text(self) -> str:
        return MODEL_SEPARATOR.join(self.models)

    def to_json(self) -> str:
        values = asdict(self)
        values["cutoff"] = self.cutoff.isoformat() if self.cutoff else None
        values["dates"] = [d.isoformat() for d in self.dates] if self.dates is not None else None
        values.pop("models")                      # stored in rec_job.models
        return json.dumps(values, default=str)

    @classmethod
    def from_row(cls, models: str, params_json: str) -> RetrainSpec:
        """The spec stored in a ``rec_job`` row."""
        values = json.loads(params_json or "{}")
        cutoff, dates = values.pop("cutoff", None), values.pop("dates", None)
        return cls(models=tuple(m for m in models.split(MODEL_SEPARATOR) if m),
                   cutoff=date.fromisoformat(cutoff) if cutoff else None,
                   dates=tuple(date.fromisoformat(d) for d in dates) if dates is not None else None,
                   **values)


def main_params(name: str, engine: sa.Engine | None = None) -> dict[str, tuple[type, Any]]:
    """The hyper-parameters the retrain page offers for ``name``: name -> (type, default).

    With ``engine`` the defaults are the values ``name`` was last tuned to on the validation
    window (``evaluate --tune``), where it was.
    """
    offered = dict(get_model_class(name).MAIN_PARAMS)
    if engine is not None:
        from kurrant_core.evaluation.tuning import last_tuned_params
        for key, value in last_tuned_params(engine, name).items():
            if key in offered:
                offered[key] = (offered[key][0], value)
    return offered


def date_span(start: date, end: date | None = None) -> tuple[date, ...]:
    """Every calendar day from ``start`` to ``end`` inclusive (a retrain's service dates)."""
    end = end or start
    if end < start:
        raise KurrantError(f"The date range {start} to {end} ends before it starts.",
                           key="err.job_dates", start=start, end=end)
    return tuple(start + timedelta(days=n) for n in range((end - start).days + 1))
