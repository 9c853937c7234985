"""Export an experiment of the store to MLflow: a parent run with the statistics, a child run per seed.

>>> from seedlock.repeat.store import Store
>>> from seedlock.integrations.mlflow import export
>>> parent = export(Store(), "baseline")        # doctest: +SKIP
>>> # into sqlite:///.seedlock/mlflow.db; see it with: mlflow ui --backend-store-uri sqlite:///.seedlock/mlflow.db

What is written, in the MLflow experiment named after the seedlock experiment:

* a **parent run** (``run_name`` = the experiment): params ``script``, ``args``, ``trials``;
  for each metric the statistics of :func:`seedlock.repeat.stats.describe` over the seeds
  that finished ok, as metrics ``<metric>.mean``, ``.sd``, ``.sem``, ``.median``, ``.iqm``,
  ``.q1``, ``.q3``, ``.min``, ``.max``, ``.n``, ``.ci_low``/``.ci_high`` (t CI of the mean),
  ``.median_ci_low``... and ``.iqm_ci_low``...; ``trials.<status>`` counts; artifacts: the
  plots of :mod:`seedlock.repeat.plots` under ``plots/``, ``summary.json`` and ``report.html``;
* a **child run per trial** (``run_name`` ``seed N``, tag ``mlflow.parentRunId``): params
  ``seed``, ``status``, ``exit_code``; every metric at its steps (a value reported without a
  step comes last, at the last step, so MLflow's "latest" value is the one seedlock uses); tag
  ``seedlock.fingerprint``; artifacts ``manifest.json`` and, for a failed trial, ``stderr.txt``.

Artifacts of a ``sqlite:///PATH`` store go to ``mlartifacts/`` beside PATH, whatever the working
directory: seedlock creates the experiment with that artifact location. An MLflow experiment
that exists already keeps the location it was created with (MLflow's ``Default`` experiment:
``mlruns/`` in the directory the store was first opened from).

Exporting the same experiment again replaces the runs of the earlier export. Metric names
MLflow does not accept (it allows letters, digits, ``_ - . /`` and spaces) are written with
``_`` in place of other characters; the parent's ``seedlock.metric_names`` tag maps them back.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from seedlock.errors import SeedlockError
from seedlock.repeat.records import Experiment, Trial
from seedlock.repeat.store import Store

DEFAULT_DB = Path(".seedlock") / "mlflow.db"
DEFAULT_ARTIFACTS = Path(".seedlock") / "mlartifacts"
_RUN_STATUS = {
    "ok": "FINISHED",
    "failed": "FAILED",
    "timeout": "FAILED",
    "killed": "KILLED",
    "interrupted": "KILLED",
}
_STATS = ("mean", "sd", "sem", "median", "iqm", "q1", "q3", "iqr", "min", "max", "n")
_MAX_PARAM = 6000  # MLflow's limit on a param value


def default_tracking_uri() -> str:
    """``sqlite:///`` + the absolute path of ``.seedlock/mlflow.db`` in the working directory."""
    return "sqlite:///" + str(DEFAULT_DB.resolve())


def _sqlite_file(tracking_uri: str) -> Path | None:
    """The file of a ``sqlite:///PATH`` store (its ``?...`` options dropped); None for other stores.

    >>> str(_sqlite_file("sqlite:///runs/mlflow.db?timeout=20")), _sqlite_file("http://host:5000")
    ('runs/mlflow.db', None)
    """
    if not tracking_uri.startswith("sqlite:///"):
        return None
    return Path(tracking_uri.removeprefix("sqlite:///").partition("?")[0])


def _artifact_location(tracking_uri: str) -> str | None:
    """Artifacts of a local SQLite store go beside its file (``mlartifacts/``), not in the working
    directory, where MLflow puts them by default; a server decides for itself."""
    db = _sqlite_file(tracking_uri)
    return None if db is None else (db.resolve().parent / "mlartifacts").as_uri()


def _check_uri(tracking_uri: str) -> None:
    """Refuse an in-memory store: the export would be gone when the process ends, and with no
    file to put them beside, its artifacts would land in the working directory."""
    db = _sqlite_file(tracking_uri)
    if tracking_uri.partition("?")[0] == "sqlite://" or (db is not None and str(db) == ":memory:"):
        raise SeedlockError(
            f"MLflow tracking URI {tracking_uri!r} is an in-memory database, gone when the export "
            "ends; pass a file, e.g. --tracking-uri sqlite:///mlflow.db"
        )


def metric_key(name: str) -> str:
    """``name`` as an MLflow metric key: other characters become ``_``; no empty, ``.`` or ``..`` parts.

    >>> metric_key("val/acc@1"), metric_key("../x"), metric_key("a//b")
    ('val/acc_1', '_/x', 'a/_/b')
    """
    parts = [re.sub(r"[^\w\-. ]", "_", p, flags=re.ASCII) for p in name.split("/")]
    key = "/".join("_" if p in ("", ".", "..") else p for p in parts)
    return key[:200]


def _keys(names: Sequence[str]) -> dict[str, str]:
    """A distinct MLflow key for each metric name."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        key = base = metric_key(name)
        i = 2
        while key in used:
            key, i = f"{base}_{i}", i + 1
        used.add(key)
        out[name] = key
    return out


def _ms(stamp: str | None) -> int | None:
    return None if stamp is None else int(datetime.fromisoformat(stamp).timestamp() * 1000)


def _param(value: object) -> str:
    text = str(value)
    return text if len(text) <= _MAX_PARAM else text[: _MAX_PARAM - 3] + "..."


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """MLflow and alembic log each schema migration at INFO when a store is created: not our user's concern."""
    loggers = [logging.getLogger(n) for n in ("mlflow", "alembic")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def export(
    store: Store | str | os.PathLike[str],
    experiment: str | Experiment,
    tracking_uri: str | None = None,
    *,
    mlflow_experiment: str | None = None,
    n_boot: int = 10_000,
) -> str:
    """Write ``experiment`` of ``store`` to MLflow and return the parent run's id.

    Args:
        store: a :class:`~seedlock.repeat.store.Store`, or the path of its file.
        experiment: the seedlock experiment (its name or the object).
        tracking_uri: where to write; default ``sqlite:///.seedlock/mlflow.db``. A
            ``sqlite:///PATH`` store keeps the artifacts of the experiments seedlock creates in
            ``mlartifacts/`` beside PATH (``.seedlock/mlartifacts``), whatever the working
            directory. Any URI MLflow takes: ``http://host:5000``, ``databricks``...
        mlflow_experiment: the MLflow experiment to write into; default the experiment's name.
            Give several seedlock experiments one name to see their parent runs side by side.
        n_boot: bootstrap resamples for the median and IQM intervals.

    Example:
        >>> parent_id = export("results/seedlock.db", "baseline", "sqlite:///mlflow.db")  # doctest: +SKIP
    """
    if isinstance(store, Store):
        return _export(store, experiment, tracking_uri, mlflow_experiment, n_boot)
    with Store(store, create=False) as opened:
        return _export(opened, experiment, tracking_uri, mlflow_experiment, n_boot)


def _client(uri: str) -> Any:
    from mlflow import MlflowClient

    db = _sqlite_file(uri)
    if db is not None:
        db.parent.mkdir(parents=True, exist_ok=True)
    try:
        return MlflowClient(tracking_uri=uri)
    except Exception as exc:  # MlflowException, SQLAlchemy errors: a URI MLflow cannot use
        first = (
            str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        )  # SQLAlchemy adds "(Background on...)"
        raise SeedlockError(
            f"cannot open MLflow tracking URI {uri!r} ({type(exc).__name__}: {first}); "
            "pass e.g. --tracking-uri sqlite:///mlflow.db"
        ) from None


def _export(
    store: Store,
    experiment: str | Experiment,
    tracking_uri: str | None,
    mlflow_experiment: str | None,
    n_boot: int,
) -> str:
    exp = experiment if isinstance(experiment, Experiment) else store.experiment(experiment, create=False)
    trials = store.trials(exp)
    if not trials:
        raise SeedlockError(f"experiment {exp.name!r} has no trials to export; run `seedlock repeat` first")
    uri = tracking_uri or default_tracking_uri()
    _check_uri(uri)
    try:
        from mlflow.exceptions import MlflowException  # first: importing mlflow sets its loggers' levels
    except ImportError:
        raise SeedlockError(
            "mlflow is not installed; install it with `pip install 'seedlock[mlflow]'`"
        ) from None
    with _quiet():
        client = _client(uri)
        try:
            exp_id = _mlflow_experiment(client, mlflow_experiment or exp.name, uri)
            _delete_earlier(client, exp_id, exp.name, store)
            keys = _keys(store.metric_names(exp, status=None))
            parent = _parent_run(client, exp_id, store, exp, trials, keys, n_boot)
            for trial in trials:
                _trial_run(client, exp_id, parent, store, exp, trial, keys)
            end = max(filter(None, (_ms(t.finished) for t in trials)), default=None)
            client.set_terminated(parent, "FINISHED", end_time=end)
        except MlflowException as exc:
            raise SeedlockError(
                f"MLflow at {uri!r} refused the export ({exc.message}); check the tracking URI, "
                "and that the server is up"
            ) from None
    return str(parent)


def _mlflow_experiment(client: Any, name: str, uri: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        if found.lifecycle_stage == "deleted":
            client.restore_experiment(found.experiment_id)
        return str(found.experiment_id)
    return str(
        client.create_experiment(
            name,
            artifact_location=_artifact_location(uri),
            tags={"seedlock.source": "seedlock export mlflow"},
        )
    )


def _delete_earlier(client: Any, exp_id: str, name: str, store: Store) -> None:
    """Runs of an earlier export of this experiment from this store: replaced, not duplicated."""
    where = f"tags.`seedlock.experiment` = '{_quote(name)}' AND tags.`seedlock.store` = '{_quote(str(store.path.resolve()))}'"
    for run in client.search_runs([exp_id], filter_string=where, max_results=50_000):
        client.delete_run(run.info.run_id)


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


def _tags(exp: Experiment, store: Store, **more: str) -> dict[str, str]:
    return {"seedlock.experiment": exp.name, "seedlock.store": str(store.path.resolve()), **more}


def _parent_run(
    client: Any,
    exp_id: str,
    store: Store,
    exp: Experiment,
    trials: list[Trial],
    keys: dict[str, str],
    n_boot: int,
) -> str:
    from mlflow.entities import Metric, Param

    from seedlock.repeat.summary import describe

    start = min(filter(None, (_ms(t.started) or _ms(t.finished) for t in trials)), default=None)
    renamed = {name: key for name, key in keys.items() if name != key}
    tags = _tags(exp, store, **{"seedlock.kind": "experiment"})
    if renamed:
        tags["seedlock.metric_names"] = json.dumps(renamed)[:8000]
    run = client.create_run(exp_id, start_time=start, tags=tags, run_name=exp.name)
    run_id = str(run.info.run_id)
    stamp = _ms(max((t.finished for t in trials if t.finished), default=None)) or 0
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.status] = counts.get(t.status, 0) + 1
    metrics = [Metric(f"trials.{s}", float(n), stamp, 0) for s, n in sorted(counts.items())]
    summaries: dict[str, Any] = {}
    for name in store.metric_names(exp):  # statistics over the seeds that finished ok
        try:
            summary = describe(store.metric_values(exp, name), n_boot=n_boot)
        except SeedlockError as exc:  # e.g. no finite value: say so in summary.json, skip the numbers
            summaries[name] = {"error": str(exc)}
            continue
        summaries[name] = summary.to_dict()
        values: dict[str, float | None] = {s: getattr(summary, s) for s in _STATS}
        for label, ci in (
            ("ci", summary.mean_ci),
            ("median_ci", summary.median_ci),
            ("iqm_ci", summary.iqm_ci),
        ):
            values[f"{label}_low"], values[f"{label}_high"] = ci.low, ci.high
        metrics += [
            Metric(f"{keys[name]}.{s}", float(v), stamp, 0) for s, v in values.items() if v is not None
        ]
    params = [
        Param("script", _param(exp.script or "")),
        Param("args", _param(json.dumps(exp.args))),
        Param("trials", str(len(trials))),
    ]
    _log(client, run_id, metrics, params)
    client.log_dict(
        run_id,
        {"experiment": exp.name, "config": exp.config, "metrics": summaries, "metric_keys": keys},
        "summary.json",
    )
    _log_report(client, run_id, store, exp, n_boot)
    return run_id


def _log_report(client: Any, run_id: str, store: Store, exp: Experiment, n_boot: int) -> None:
    from seedlock.repeat import plots
    from seedlock.repeat.report import render_html

    with tempfile.TemporaryDirectory(prefix="seedlock-mlflow-") as tmp:
        plot_dir = Path(tmp) / "plots"
        for name in store.metric_names(exp):
            values = {exp.name: store.metric_values(exp, name)}
            plots.plot_metric(values, {exp.name: store.metric_curves(exp, name)}, name, plot_dir)
        if plot_dir.exists():
            client.log_artifacts(run_id, str(plot_dir), "plots")
        report = render_html(store, [exp], Path(tmp) / "report.html", n_boot=n_boot)
        client.log_artifact(run_id, str(report))


def _trial_run(
    client: Any, exp_id: str, parent: str, store: Store, exp: Experiment, trial: Trial, keys: dict[str, str]
) -> None:
    from mlflow.entities import Metric, Param

    tags = _tags(
        exp,
        store,
        **{
            "mlflow.parentRunId": parent,
            "seedlock.kind": "trial",
            "seedlock.seed": str(trial.seed),
            "seedlock.fingerprint": trial.fingerprint or "",
        },
    )
    if trial.reason:
        tags["seedlock.reason"] = trial.reason[:8000]
    run = client.create_run(
        exp_id, start_time=_ms(trial.started) or _ms(trial.finished), tags=tags, run_name=f"seed {trial.seed}"
    )
    run_id = str(run.info.run_id)
    stamp = _ms(trial.finished) or _ms(trial.started) or 0
    metrics = [(keys[name], value, step) for name, step, value in store.trial_metrics(trial)]
    last: dict[str, int] = {}
    for key, _, step in metrics:
        if step is not None:
            last[key] = max(last.get(key, step), step)
    logged = [
        Metric(
            key,
            math.nan if value is None else value,
            stamp if step is not None else stamp + 1,
            step if step is not None else last.get(key, 0),
        )
        for key, value, step in metrics
    ]
    if trial.duration_s is not None:
        logged.append(Metric("duration_s", trial.duration_s, stamp, 0))
    params = [
        Param("seed", str(trial.seed)),
        Param("status", trial.status),
        Param("exit_code", "" if trial.exit_code is None else str(trial.exit_code)),
    ]
    _log(client, run_id, logged, params)
    if trial.manifest is not None:
        client.log_dict(run_id, trial.manifest, "manifest.json")
    if trial.stderr_tail and trial.status != "ok":
        client.log_text(run_id, trial.stderr_tail, "stderr.txt")
    if trial.status in _RUN_STATUS:
        client.set_terminated(run_id, _RUN_STATUS[trial.status], end_time=_ms(trial.finished))


def _log(client: Any, run_id: str, metrics: list[Any], params: list[Any]) -> None:
    """log_batch within MLflow's limits: 1000 metrics and 100 params per call."""
    for i in range(0, len(params), 100):
        client.log_batch(run_id, params=params[i : i + 100])
    for i in range(0, len(metrics), 1000):
        client.log_batch(run_id, metrics=metrics[i : i + 1000])
