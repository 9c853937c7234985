"""Export to a real MLflow tracking store (a SQLite file, no server), read back with MlflowClient."""

from __future__ import annotations

import json
import math
import runpy
import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from seedlock.repeat.stats import describe
from seedlock.repeat.store import Store
from test_integration_docs import block, console

pytest.importorskip("mlflow")

pytestmark = pytest.mark.filterwarnings(
    "ignore:The ..noload.. loader strategy is deprecated"
)  # inside mlflow
QUIET = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", "MLFLOW_ENABLE_ASYNC_LOGGING": "false"}


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An empty MLflow store, made once: creating one runs every schema migration (seconds)."""
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("mlflow") / "template.db"
    with pytest.MonkeyPatch.context() as mp:
        for k, v in QUIET.items():
            mp.setenv(k, v)
        MlflowClient(f"sqlite:///{path}").search_experiments()
        yield path


@pytest.fixture
def tracking(template_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh tracking URI (a copy of the template), also the default, so nothing lands in ./mlruns."""
    for k, v in QUIET.items():
        monkeypatch.setenv(k, v)
    db = tmp_path / "mlflow.db"
    shutil.copy(template_db, db)
    uri = f"sqlite:///{db}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


def fill(path: Path) -> Store:
    store = Store(path)
    exp = store.experiment("baseline", script="train.py", args=["--lr", "0.1"], config={"note": "x"})
    for seed in range(4):
        ok = seed < 3
        curve = [("loss", step, 1.0 / (step + 1) + seed / 100) for step in range(5)]
        store.start_trial(exp, seed)
        store.finish_trial(
            exp,
            seed,
            "ok" if ok else "failed",
            exit_code=0 if ok else 1,
            reason=None if ok else "exit code 1",
            stderr_tail=None if ok else "Traceback\nboom",
            fingerprint=f"{seed:032x}",
            manifest={"seed": seed, "argv": ["train.py"]},
            metrics=[*curve, ("acc@1", None, 0.9 + seed / 100)] if ok else curve[:2],
        )
    return store


@pytest.mark.slow
def test_export_writes_runs_metrics_and_artifacts(tracking: str, tmp_path: Path) -> None:
    from mlflow import MlflowClient

    from seedlock.integrations.mlflow import export

    with fill(tmp_path / "seedlock.db") as store:
        parent_id = export(store, "baseline", tracking, n_boot=500)
        again = export(store, "baseline", tracking, n_boot=500)  # replaces the first export
    client = MlflowClient(tracking)
    exp = client.get_experiment_by_name("baseline")
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 1 + 4 and again != parent_id
    parent = client.get_run(again)
    children = client.search_runs([exp.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{again}'")
    assert len(children) == 4

    assert parent.info.run_name == "baseline" and parent.info.status == "FINISHED"
    assert parent.data.params == {"script": "train.py", "args": '["--lr", "0.1"]', "trials": "4"}
    m = parent.data.metrics
    assert m["trials.ok"] == 3 and m["trials.failed"] == 1
    want = describe([1 / 5 + s / 100 for s in range(3)], n_boot=500)  # the ok seeds' last loss
    assert m["loss.mean"] == want.mean and m["loss.n"] == 3
    assert (m["loss.ci_low"], m["loss.ci_high"]) == (want.mean_ci.low, want.mean_ci.high)
    assert math.isclose(m["acc_1.mean"], 0.91) and "acc_1.iqm_ci_high" in m  # "acc@1" as MLflow allows
    assert parent.data.tags["seedlock.metric_names"] == '{"acc@1": "acc_1"}'
    top = {a.path for a in client.list_artifacts(again)}
    assert top == {"plots", "summary.json", "report.html"}
    pngs = [a.path for a in client.list_artifacts(again, "plots")]
    assert len(pngs) == 5 and all(p.endswith(".png") for p in pngs)  # loss: strip, hist, curves; acc@1: 2

    by_seed = {int(r.data.params["seed"]): r for r in children}
    assert sorted(by_seed) == [0, 1, 2, 3]
    ok, failed = by_seed[0], by_seed[3]
    assert ok.info.run_name == "seed 0" and ok.info.status == "FINISHED" and failed.info.status == "FAILED"
    assert ok.data.params == {"seed": "0", "status": "ok", "exit_code": "0"}
    assert failed.data.params["exit_code"] == "1" and failed.data.tags["seedlock.reason"] == "exit code 1"
    assert ok.data.tags["seedlock.fingerprint"] == f"{0:032x}"
    history = client.get_metric_history(ok.info.run_id, "loss")
    assert [(h.step, h.value) for h in sorted(history, key=lambda h: h.step)] == [
        (s, 1 / (s + 1)) for s in range(5)
    ]
    assert ok.data.metrics["acc_1"] == 0.9
    assert {a.path for a in client.list_artifacts(ok.info.run_id)} == {"manifest.json"}
    manifest = Path(client.download_artifacts(ok.info.run_id, "manifest.json", str(tmp_path)))
    assert json.loads(manifest.read_text()) == {"argv": ["train.py"], "seed": 0}
    assert {a.path for a in client.list_artifacts(failed.info.run_id)} == {"manifest.json", "stderr.txt"}


@pytest.mark.slow
def test_docs_example_and_console_line(
    tracking: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlflow import MlflowClient

    from seedlock.cli import main

    monkeypatch.chdir(tmp_path)  # the example's relative paths: .seedlock/seedlock.db, sqlite:///mlflow.db
    fill(tmp_path / ".seedlock" / "seedlock.db").close()
    runpy.run_path(str(_write(tmp_path / "export_mlflow.py", block("export_mlflow.py"))), run_name="__main__")
    assert capsys.readouterr().out.startswith("parent run ")

    argv = shlex.split(console("seedlock export mlflow"))
    assert main(argv[1:]) is None
    out = capsys.readouterr().out
    assert out.startswith("exported 'baseline': 4 trials under parent run ") and "sqlite:///mlflow.db" in out
    client = MlflowClient("sqlite:///mlflow.db")
    assert len(client.search_runs([client.get_experiment_by_name("baseline").experiment_id])) == 5

    with pytest.raises(SystemExit) as exit_info:
        main(["export", "mlflow", "nope", "--tracking-uri", "sqlite:///mlflow.db"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (
        "seedlock: error: no experiment 'nope' in '.seedlock/seedlock.db'; experiments there: 'baseline'\n"
    )


def test_default_tracking_uri_is_a_local_sqlite_file(
    template_db: Path, tracking: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from seedlock.integrations.mlflow import default_tracking_uri, export

    monkeypatch.chdir(tmp_path)
    (tmp_path / ".seedlock").mkdir()
    shutil.copy(template_db, tmp_path / ".seedlock" / "mlflow.db")
    assert default_tracking_uri() == f"sqlite:///{tmp_path / '.seedlock' / 'mlflow.db'}"
    with fill(tmp_path / "seedlock.db") as store:
        export(store, "baseline", n_boot=200)
    assert len(list((tmp_path / ".seedlock" / "mlartifacts").glob("*/artifacts/manifest.json"))) == 4


@pytest.mark.slow
def test_export_from_another_directory_puts_artifacts_beside_the_store(
    template_db: Path,
    tracking: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """MLflow's default artifact root is the working directory; seedlock's is beside the store's file."""
    from seedlock.cli import main

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.chdir(scratch)
    fill(tmp_path / "seedlock.db").close()
    (tmp_path / "rel").mkdir()
    shutil.copy(template_db, tmp_path / "rel" / "mlflow.db")
    store = ["--store", str(tmp_path / "seedlock.db")]
    assert main(["export", "mlflow", "baseline", *store, "--tracking-uri", tracking]) is None
    relative = "sqlite:///../rel/mlflow.db"  # relative to the working directory, as SQLite reads it
    assert main(["export", "mlflow", "baseline", *store, "--tracking-uri", relative]) is None
    assert "exported 'baseline': 4 trials" in capsys.readouterr().out
    assert list(scratch.iterdir()) == []  # no ./mlartifacts, no ./mlruns
    for beside in (tmp_path / "mlartifacts", tmp_path / "rel" / "mlartifacts"):
        assert len(list(beside.glob("*/artifacts/manifest.json"))) == 4, beside


def test_in_memory_store_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """sqlite:///:memory: has no file to put artifacts beside: they went to ./mlartifacts, and the runs were lost."""
    from seedlock.cli import main

    monkeypatch.chdir(tmp_path)
    fill(tmp_path / "seedlock.db").close()
    for uri in ("sqlite:///:memory:", "sqlite://"):
        with pytest.raises(SystemExit) as exit_info:
            main(["export", "mlflow", "baseline", "--store", "seedlock.db", "--tracking-uri", uri])
        assert exit_info.value.code == 2
        assert capsys.readouterr().err == (
            f"seedlock: error: MLflow tracking URI {uri!r} is an in-memory database, gone when the export "
            "ends; pass a file, e.g. --tracking-uri sqlite:///mlflow.db\n"
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seedlock.db"]


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.slow
def test_repeat_with_mlflow_flag(tmp_path: Path) -> None:
    """`seedlock repeat --mlflow=URI` runs the trials, then exports them: one child run per trial."""
    from mlflow.tracking import MlflowClient

    from conftest import run_seedlock

    script = tmp_path / "score.py"
    script.write_text("import json, random\nprint(json.dumps({'score': random.random()}))\n")
    uri = f"sqlite:///{tmp_path / 'ml.db'}"
    p = run_seedlock(
        [
            "repeat",
            "--seeds",
            "3",
            "--no-fork",
            "--store",
            str(tmp_path / "s.db"),
            f"--mlflow={uri}",
            str(script),
        ],
        cwd=tmp_path,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    assert "MLflow: experiment 'score' exported" in p.stderr
    client = MlflowClient(tracking_uri=uri)
    runs = [r for e in client.search_experiments() for r in client.search_runs([e.experiment_id])]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId")]
    assert len(children) == 3 and {r.data.params["seed"] for r in children} == {"0", "1", "2"}
