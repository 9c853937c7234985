"""``seedlock export``: write the store's results to other tools. ``seedlock export mlflow EXP``."""

from __future__ import annotations

import click

from seedlock.cli.readstore import store_option
from seedlock.launch.paths import check_sqlite_uri


@click.group(epilog="Example: seedlock export mlflow baseline")
def export() -> None:
    """Export an experiment of the store to another tool."""


@export.command(
    epilog="Examples: seedlock export mlflow baseline; "
    "seedlock export mlflow baseline --tracking-uri http://localhost:5000"
)
@click.argument("experiment")
@click.option(
    "--tracking-uri",
    metavar="URI",
    default=None,
    help="MLflow tracking URI; a sqlite:///PATH store keeps artifacts in mlartifacts/ beside PATH, "
    "not in the working directory. Default: sqlite:///.seedlock/mlflow.db.",
)
@click.option(
    "--mlflow-experiment",
    metavar="NAME",
    default=None,
    help="MLflow experiment to write into. Default: EXPERIMENT's name.",
)
@store_option
def mlflow(experiment: str, tracking_uri: str | None, mlflow_experiment: str | None, store_path: str) -> None:
    """Write EXPERIMENT to MLflow: a parent run with the statistics over seeds and the report's
    plots, and a child run per seed with its params, metric curves, fingerprint and manifest."""
    from seedlock.repeat.store import Store

    with Store(store_path, create=False) as store:
        exp = store.experiment(experiment, create=False)  # a typo is answered before mlflow is imported
        from seedlock.integrations import mlflow as to_mlflow

        uri = tracking_uri or to_mlflow.default_tracking_uri()
        check_sqlite_uri(uri, "--tracking-uri", "--tracking-uri sqlite:///mlflow.db")
        parent = to_mlflow.export(store, exp, uri, mlflow_experiment=mlflow_experiment)
        count = len(store.trials(exp))
    click.echo(f"exported {experiment!r}: {count} trials under parent run {parent} to {uri}")
    click.echo(f"view: mlflow ui --backend-store-uri {uri}")
