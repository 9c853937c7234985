"""The HTML report, the plots, and the copy-paste example of docs/repeat-stats.md."""

from __future__ import annotations

import base64
import re
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import ROOT, clean_env, run_py, run_seedlock
from seedlock.errors import SeedlockError
from seedlock.repeat import plots
from seedlock.repeat.report import render_html
from seedlock.repeat.store import Store

EVIL = "<script>alert(1)</script>"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "seedlock.db") as s:
        for name, shift in (("base", 0.0), (EVIL, 0.02)):
            exp = s.experiment(name, script="train.py", args=["--tag", EVIL], config={"note": EVIL})
            for seed in range(5):
                metrics: list[tuple[str, int | None, float]] = [
                    ("acc", e, 0.5 + shift + e / 10 + seed / 100) for e in range(1, 4)
                ]
                metrics.append((EVIL, None, seed + shift))
                s.finish_trial(
                    exp,
                    seed,
                    "ok",
                    fingerprint="ab" * 20,
                    manifest={"argv": [EVIL], "seed": seed},
                    metrics=metrics,
                )
            s.finish_trial(exp, 9, "failed", exit_code=1, reason=EVIL, stderr_tail=f"Traceback\n{EVIL}")
        yield s


def test_report_is_self_contained_and_escaped(store: Store, tmp_path: Path) -> None:
    out = render_html(store, ["base", EVIL], tmp_path / "out" / "report.html")
    doc = out.read_text(encoding="utf-8")
    assert EVIL not in doc and "<script" not in doc.lower()  # every user string escaped
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in doc
    assert not re.search(r"(src|href)=\"(?!data:)", doc) and "http" not in doc  # nothing to fetch
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', doc)
    assert len(images) == 5  # acc: strip, histogram, curves; the step-less metric: strip, histogram
    assert all(base64.b64decode(i).startswith(PNG) for i in images)
    for heading in ("Comparisons", "Metrics", "Summary", "Trials", "Manifest of seed 0"):
        assert heading in doc
    assert "Mann-Whitney U" in doc or "Wilcoxon signed-rank" in doc
    assert "IQM 95% CI" in doc and "P(A&gt;B)" in doc and "failed" in doc
    assert doc.count("<table>") == 1 + 2 * 2  # one comparison; a summary and trials table per experiment


def test_report_refuses_unknown_names(store: Store, tmp_path: Path) -> None:
    with pytest.raises(SeedlockError, match=r"no ok trial reported metric 'f1'; metrics there: .*'acc'"):
        render_html(store, ["base"], tmp_path / "r.html", metrics=["f1"])
    with pytest.raises(SeedlockError, match="no experiment 'nope'"):
        render_html(store, ["nope"], tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


def test_plots_write_pngs_from_plain_data(tmp_path: Path) -> None:
    values = {"a": {0: 1.0, 1: 2.0, 2: float("nan")}, "$b$": {0: 3.0, 1: 3.0}}  # NaN skipped, '$' not math
    curves = {"a": {0: [(1, 0.1), (2, 0.2)], 1: [(1, 0.3)]}}
    paths = plots.plot_metric(values, curves, "loss/val $", tmp_path)
    assert len(paths) == 3 and all(p.read_bytes().startswith(PNG) for p in paths)
    assert all(p.parent == tmp_path for p in paths)  # the '/' in the name did not make a directory
    steps, means, lows, highs = plots.mean_band(curves["a"])
    half = 12.706 * 0.1  # t(0.975, df=1) * SD / sqrt(2) at step 1; one seed at step 2: no band
    assert (steps, means) == ([1, 2], [0.2, 0.2])
    assert lows == pytest.approx([0.2 - half, 0.2], abs=1e-3) and highs == pytest.approx(
        [0.2 + half, 0.2], abs=1e-3
    )


@pytest.mark.slow
def test_cli_report_prints_the_path(store: Store, tmp_path: Path) -> None:
    p = run_seedlock(
        ["report", "base", EVIL, "--store", str(store.path), "--html", str(tmp_path / "r.html")], cwd=tmp_path
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == str(tmp_path / "r.html")
    assert (tmp_path / "r.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


@pytest.mark.slow
def test_docs_example_runs_as_written(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "repeat-stats.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```(\w+)\n(.*?)```", text, flags=re.S)
    python = [code for lang, code in blocks if lang == "python"]
    demo_name = re.match(r"# (\S+\.py):", python[0])
    assert demo_name is not None
    (tmp_path / demo_name.group(1)).write_text(python[0], encoding="utf-8")
    commands = [line[2:] for lang, code in blocks if lang == "console" for line in code.splitlines()]
    assert commands and all(c.split()[0] in ("python", "seedlock") for c in commands)
    outputs = []
    for command in commands:
        argv = shlex.split(command)
        p = run_py(argv[1:], cwd=tmp_path) if argv[0] == "python" else run_seedlock(argv[1:], cwd=tmp_path)
        assert p.returncode == 0, (command, p.stderr)
        outputs.append(p.stdout)
    assert "paired by seed" in "".join(outputs) and (tmp_path / "report.html").exists()
    for code in python[1:]:  # the "from Python" snippets, against the store the example made
        p = run_py(["-c", code], cwd=tmp_path, env=clean_env(PYTHONPATH=str(ROOT / "src")))
        assert p.returncode == 0, p.stderr
    assert sys.executable  # the same interpreter ran every step


def test_the_trials_table_says_which_ray_node_ran_each_trial(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Store(path) as store:
        store.experiment("placed", script="t.py")
        store.finish_trial("placed", 0, "ok", fingerprint="f0", node={"id": "ab12cd34ef", "host": "gpu-7"})
        store.finish_trial(
            "placed", 1, "lost", reason="lost: node gpu-8 went away", node={"id": "99", "host": "gpu-8"}
        )
        store.experiment("here", script="t.py")
        store.finish_trial("here", 0, "ok", fingerprint="f0")
        placed = render_html(store, ["placed"], tmp_path / "placed.html").read_text()
        here = render_html(store, ["here"], tmp_path / "here.html").read_text()
    assert ">node<" in placed
    assert "gpu-7 ab12cd34" in placed and "gpu-8 99" in placed
    assert ">node<" not in here  # no column where nothing ran on Ray
