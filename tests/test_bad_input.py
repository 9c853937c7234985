"""Bad input is one line on stderr and exit code 2, never a traceback: output paths that cannot
be written (run, report, export, repeat), out-of-range repeat options, modules `python -m`
refuses, crafted trace headers. Each case runs the real command in a fresh process."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conftest import clean_env, run_py, run_seedlock
from seedlock.errors import SeedlockError
from seedlock.repeat.report import render_html
from seedlock.repeat.store import Store
from seedlock.trace import NotATrace, TraceWriter, read_trace

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc")


def one_line(args: list[str], cwd: Path, *messages: str) -> None:
    p = run_seedlock(args, cwd=cwd, env=clean_env())
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("seedlock: error: "), p.stderr
    for message in messages:
        assert message in lines[0], p.stderr


@pytest.fixture
def where(tmp_path: Path) -> Path:
    (tmp_path / "ok.py").write_text("print('ran')\n")
    (tmp_path / "adir").mkdir()
    return tmp_path


# --- seedlock run --trace / --manifest ---------------------------------------------------------


def case(*values: object, proc: bool = False) -> object:
    """A parameter set named by its first value; ``proc``: it writes under /proc."""
    first = values[0]
    return pytest.param(
        *values,
        id=" ".join(first) if isinstance(first, list) else repr(first),
        marks=[linux_only] if proc else [],
    )


RUN_PATHS = [
    case(["--trace", "ok.py/x.trace"], "--trace 'ok.py/x.trace': ", "ok.py' is not a directory"),
    case(["--trace", "adir"], "--trace 'adir' is a directory", "pass a file path"),
    case(["--trace="], "--trace names no file", "pass a file path"),
    case(["--manifest", "ok.py/m.json"], "--manifest 'ok.py/m.json': ", "ok.py' is not a directory"),
    case(["--manifest", "adir"], "--manifest 'adir' is a directory", "pass a file path"),
    case(
        ["--trace", "t.trace", "--manifest", "ok.py/sub/m.json"],
        "--manifest 'ok.py/sub/m.json'",
        "is not a directory",
    ),
    case(
        ["--trace", "/proc/x.trace"],
        "--trace '/proc/x.trace': cannot create files in '/proc'",
        "pass a path in a writable directory",
        proc=True,
    ),
    case(
        ["--manifest", "/proc/m.json"],
        "--manifest '/proc/m.json': cannot create files in '/proc'",
        "pass a path in a writable directory",
        proc=True,
    ),
]


@pytest.mark.parametrize("opts,message,fix", RUN_PATHS)
def test_run_refuses_unwritable_trace_or_manifest(
    where: Path, opts: list[str], message: str, fix: str
) -> None:
    one_line(["run", *opts, "ok.py"], where, message, fix)
    assert not (where / "t.trace").exists()  # refused before the script started


def test_run_click_path_checks_the_same(where: Path) -> None:
    # `-mjson.tool` is left to click's parser (launch.command.parse gives None); both reach layer_env.
    one_line(["run", "--trace", "ok.py/x.trace", "-mjson.tool"], where, "ok.py' is not a directory")


def test_run_still_creates_missing_folders_and_leaves_no_probe(where: Path) -> None:
    p = run_seedlock(["run", "--trace", "new/deeper/t.trace", "ok.py"], cwd=where, env=clean_env())
    assert p.returncode == 0, p.stderr
    assert (where / "new" / "deeper" / "t.trace").is_file()
    assert (where / "new" / "deeper" / "t.trace.manifest.json").is_file()
    assert not list(where.rglob(".seedlock-probe-*"))


# --- seedlock report / export / repeat --mlflow -----------------------------------------------


@pytest.fixture
def store(where: Path) -> Path:
    path = where / "st.db"
    with Store(path) as s:
        exp = s.experiment("base", script="ok.py")
        for seed in range(3):
            s.finish_trial(exp, seed, "ok", fingerprint="ab" * 20, metrics=[("acc", None, 0.5 + seed / 10)])
    return path


REPORT_PATHS = [
    case("ok.py/x.html", "--html 'ok.py/x.html': ", "ok.py' is not a directory; pass a path in a directory"),
    case("adir", "--html 'adir' is a directory", "pass a file path, e.g. --html report.html"),
    case("", "--html names no file", "pass a file path, e.g. --html report.html"),
    case(
        "/proc/x.html",
        "--html '/proc/x.html': cannot create files in '/proc'",
        "pass a path in a writable directory",
        proc=True,
    ),
]


@pytest.mark.parametrize("out,message,fix", REPORT_PATHS)
def test_report_refuses_unwritable_html(where: Path, store: Path, out: str, message: str, fix: str) -> None:
    one_line(["report", "base", "--store", str(store), "--html", out], where, message, fix)
    assert not list(where.rglob("*.tmp"))


def test_render_html_turns_write_errors_into_one_line(where: Path, store: Path) -> None:
    with Store(store, create=False) as s:
        with pytest.raises(SeedlockError, match="adir' is not a file path"):
            render_html(s, ["base"], where / "adir")
        with pytest.raises(SeedlockError, match=r"cannot write the report to .*ok\.py/r\.html"):
            render_html(s, ["base"], where / "ok.py" / "r.html")


def test_export_refuses_unwritable_sqlite_uri(where: Path, store: Path) -> None:
    for uri, message in (
        ("sqlite:///ok.py/m.db", "ok.py' is not a directory"),
        ("sqlite:///adir", "--tracking-uri 'sqlite:///adir' is a directory"),
    ):
        one_line(["export", "mlflow", "base", "--store", str(store), "--tracking-uri", uri], where, message)


def test_repeat_refuses_unwritable_mlflow_uri_before_running(where: Path) -> None:
    one_line(
        ["repeat", "--seeds", "1", "--mlflow=sqlite:///ok.py/m.db", "ok.py"],
        where,
        "--mlflow 'sqlite:///ok.py/m.db': ",
    )
    assert not (where / ".seedlock").exists()  # no trial ran


# --- seedlock repeat: counts and non-finite numbers --------------------------------------------

REPEAT = [
    (["--seeds", "99999999999999999999"], "--seeds must be at most 1000000"),
    (["--seeds", "5000000000"], "--seeds must be at most 1000000"),
    (
        ["--until-ci", "0.1", "-M", "x", "--max-seeds", "99999999999999999999"],
        "--max-seeds must be at most 1000000",
    ),
    (["--seeds", "2", "--timeout", "nan"], "--timeout must be positive and finite, got nan"),
    (["--seeds", "2", "--timeout", "inf"], "--timeout must be positive and finite, got inf"),
    (["--until-ci", "nan", "-M", "x"], "--until-ci must be positive and finite, got nan"),
    (["--until-ci", "-inf", "-M", "x"], "--until-ci must be positive and finite, got -inf"),
]


@pytest.mark.parametrize("opts,message", REPEAT, ids=[" ".join(o) for o, _ in REPEAT])
def test_repeat_refuses_out_of_range_numbers(where: Path, opts: list[str], message: str) -> None:
    one_line(["repeat", *opts, "ok.py"], where, message)
    assert not (where / ".seedlock").exists()


# --- seedlock run -m ---------------------------------------------------------------------------


def test_run_module_that_python_refuses(where: Path) -> None:
    one_line(
        ["run", "-m", "json"],
        where,
        "No module named json.__main__; 'json' is a package and cannot be directly executed",
    )
    one_line(
        ["run", "-m", "no_such_pkg_xyz.train"],
        where,
        "Error while finding module specification for 'no_such_pkg_xyz.train' "
        "(ModuleNotFoundError: No module named 'no_such_pkg_xyz')",
    )


def test_run_module_shows_its_packages_own_import_error(where: Path) -> None:
    pkg = where / "brokenpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("import nonexistent_dep_xyz\n")
    (pkg / "train.py").write_text("print('train')\n")
    plain = run_py(["-m", "brokenpkg.train"], cwd=where)
    p = run_seedlock(["run", "-m", "brokenpkg.train"], cwd=where, env=clean_env())
    # Not bad input to seedlock: the user's package fails, and shows it as `python -m` does.
    assert p.returncode == plain.returncode == 1, p.stderr
    assert "no module named 'brokenpkg.train'" not in p.stderr
    last = "ModuleNotFoundError: No module named 'nonexistent_dep_xyz'"
    assert p.stderr.strip().splitlines()[-1] == plain.stderr.strip().splitlines()[-1] == last
    assert 'brokenpkg/__init__.py", line 1' in p.stderr
    assert "runpy" not in p.stderr and "boot.py" not in p.stderr  # the launcher's frames are trimmed


# --- seedlock diff: crafted headers --------------------------------------------------------------

HEADERS = [
    ({"meta": "x"}, "its header's 'meta' is 'x', not an object or null"),
    ({"meta": [1]}, "its header's 'meta' is [1], not an object or null"),
    ({"granularity": 5}, "its header's 'granularity' is 5, not a string or null"),
    ({"framework": {"a": 1}}, "its header's 'framework' is {'a': 1}, not a string or null"),
]


@pytest.mark.parametrize("fields,message", HEADERS, ids=[str(f) for f, _ in HEADERS])
def test_diff_refuses_crafted_header(where: Path, fields: dict[str, object], message: str) -> None:
    with TraceWriter(where / "a.trace", granularity="epoch"):
        pass
    crafted = where / "c.trace"
    crafted.write_text(
        json.dumps({"seedlock_trace": 1, "kind": "header", **fields})
        + "\n"
        + json.dumps({"kind": "stdout", "digest": "00" * 16, "lines": 1})
        + "\n"
    )
    with pytest.raises(NotATrace, match="is not a seedlock trace"):
        read_trace(crafted)
    one_line(["diff", "a.trace", "c.trace"], where, f"c.trace is not a seedlock trace ({message})")


@pytest.mark.slow
def test_good_output_paths_stay_good(tmp_path: Path) -> None:
    # Refused by the first version of these checks: a second `check --workdir DIR` ("is a
    # directory"), and a manifest path that is a link to a file not written yet ("permission denied").
    (tmp_path / "ok.py").write_text("print('ran')\n")
    for _ in range(2):
        p = run_seedlock(["check", "--workdir", "wd", "ok.py"], cwd=tmp_path, env=clean_env())
        assert p.returncode == 0, p.stderr
    (tmp_path / "link.json").symlink_to("later.json")
    p = run_seedlock(["run", "--manifest", "link.json", "ok.py"], cwd=tmp_path, env=clean_env())
    assert p.returncode == 0 and p.stdout == "ran\n", p.stderr
    assert json.loads((tmp_path / "link.json").read_text())["seed"] is not None
