"""Runs that cannot see each other: each run of ``check`` and each trial of ``repeat`` starts in a
private view of the working directory (seedlock.launch.workspace), writes copied on write
(seedlock.launch.cow), and what slips past both is a "no verdict" naming the file."""

from __future__ import annotations

import os
import shutil
import textwrap
from pathlib import Path

import pytest

from conftest import SCRIPTS, clean_env, run_py, run_seedlock
from seedlock.launch import workspace


def listing(root: Path) -> dict[str, bytes | str]:
    """Every entry under ``root`` but .seedlock: a file's bytes, a link's target, a directory's "dir"."""
    out: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel.split("/")[0] == ".seedlock":
            continue
        if path.is_symlink():
            out[rel] = "-> " + os.readlink(path)
        elif path.is_dir():
            out[rel] = "dir"
        else:
            out[rel] = path.read_bytes()
    return out


def tree(root: Path) -> Path:
    """A small project: nested directories, a .git and a venv (linked whole), seedlock's own directory."""
    (root / "data" / "deep").mkdir(parents=True)
    (root / "data" / "a.txt").write_text("a")
    (root / "data" / "deep" / "b.txt").write_text("b")
    (root / "log.txt").write_text("old log\n")
    (root / "result.txt").write_text("user's result\n")
    (root / ".git" / "objects").mkdir(parents=True)
    (root / ".git" / "HEAD").write_text("ref: main\n")
    (root / "env").mkdir()
    (root / "env" / "pyvenv.cfg").write_text("home = /usr\n")
    (root / ".seedlock" / "check").mkdir(parents=True)
    (root / ".seedlock" / "check" / "old.txt").write_text("x")
    (root / "link-to-a").symlink_to("data/a.txt")
    return root


# --- the view --------------------------------------------------------------------------------------


def test_view_mirrors_directories_and_links_files(tmp_path: Path) -> None:
    user = tree(tmp_path / "proj")
    (tmp_path / "sibling.csv").write_text("1,2\n")
    snap = workspace.snapshot(user)
    view = workspace.build(tmp_path / "run" / "view", user, snap)
    top = Path(view.cwd)
    assert top == (tmp_path / "run" / "view" / "proj").resolve()
    assert (top / "data").is_dir() and not (top / "data").is_symlink()  # a real directory
    assert (top / "data" / "deep").is_dir() and not (top / "data" / "deep").is_symlink()
    assert (top / "data" / "deep" / "b.txt").samefile(user / "data" / "deep" / "b.txt")  # a hard link
    assert (top / "data" / "deep" / "b.txt").read_bytes() == b"b"
    # linked whole: .git and a virtual environment (pyvenv.cfg); seedlock's own directory left out
    assert os.readlink(top / ".git") == str((user / ".git").resolve())
    assert os.readlink(top / "env") == str((user / "env").resolve())
    assert not (top / ".seedlock").exists()
    # the user's own link is a link to it, so it resolves as the user's does
    assert (top / "link-to-a").read_bytes() == b"a"
    # ../ resolves: the working directory's siblings are linked beside the view
    assert (top / ".." / "sibling.csv").read_text() == "1,2\n"
    assert snap["data/deep/b.txt"][0] == "f" and snap[".git"][0] == "w" and snap["data"][0] == "d"


def test_a_view_built_again_in_the_same_place_replaces_the_old_one(tmp_path: Path) -> None:
    """check --workdir DIR twice: the second run's view takes the first's place; the user's files stay."""
    user = tree(tmp_path / "proj")
    old = workspace.build(tmp_path / "run" / "view", user, workspace.snapshot(user))
    (Path(old.cwd) / "written.txt").write_text("first check's")
    new = workspace.build(tmp_path / "run" / "view", user, workspace.snapshot(user))
    assert new == old and not (Path(new.cwd) / "written.txt").exists()
    assert (user / "data" / "a.txt").read_text() == "a"


def test_view_leaves_out_the_runs_own_directories(tmp_path: Path) -> None:
    user = tree(tmp_path / "proj")
    runs = user / "check-runs"
    (runs / "run-1").mkdir(parents=True)
    snap = workspace.snapshot(user, skip=[runs])
    assert "check-runs" not in snap and "data/a.txt" in snap


def test_changed_sees_a_write_in_place_the_views_did_not_catch(tmp_path: Path) -> None:
    user = tree(tmp_path / "proj")
    (user / "model.h5").write_bytes(b"weights")
    (user / "train.py").write_text("print(1)\n")
    before = workspace.snapshot(user)
    assert workspace.changed(before, workspace.snapshot(user)) == []
    with open(user / "model.h5", "r+b") as f:  # what a C writer through a view's link does
        f.write(b"W")
    (user / "train.py").write_text("print(2)\n")  # an editor's save: source files are left out
    (user / "data" / "a.txt").unlink()  # removed, added, replaced: not through a link
    (user / "new.bin").write_bytes(b"\0")
    assert workspace.changed(before, workspace.snapshot(user)) == ["model.h5"]


def test_crossed_names_a_file_one_run_wrote_and_another_read(tmp_path: Path) -> None:
    one, two = tmp_path / "1.txt", tmp_path / "2.txt"
    one.write_text("w /shared/cache.npy\nr /shared/cache.npy\nw /own/1.log\n")
    two.write_text("w /own/2.log\nr /shared/cache.npy\n")
    assert workspace.crossed([one, two]) == ("/shared/cache.npy", 0, 1)
    two.write_text("w /own/2.log\nr /own/1.log.not\n")
    assert workspace.crossed([one, two]) is None  # its own files only: nothing shared
    assert workspace.crossed([one, tmp_path / "missing.txt"]) is None


def test_settle_keeps_only_what_the_run_wrote(tmp_path: Path) -> None:
    user = tree(tmp_path / "proj")
    view = workspace.build(tmp_path / "run" / "view", user, workspace.snapshot(user))
    (Path(view.cwd) / "data" / "deep" / "out.txt").write_text("mine")
    workspace.settle(view)
    left = sorted(p.relative_to(view.root).as_posix() for p in Path(view.root).rglob("*"))
    assert left == ["proj", "proj/data", "proj/data/deep", "proj/data/deep/out.txt"]
    assert listing(user)["data/deep/b.txt"] == b"b"  # the user's files untouched


# --- copy on write in the run's process (a subprocess: an audit hook cannot be removed) -------------

COW_SCRIPT = textwrap.dedent(
    """
    import os, pathlib, shutil, sys
    from seedlock.launch import cow
    cow.install()
    with open("result.txt", "w") as f:          # truncate: the link is dropped, a new file made
        f.write("run's result\\n")
    with open("log.txt", "a") as f:             # append: a private copy first
        f.write("run's line\\n")
    with open("data/a.txt", "r+") as f:         # update in place: a private copy first
        f.write("A")
    os.truncate("data/deep/b.txt", 0)
    pathlib.Path(".git/objects/new").write_text("object")  # inside a directory linked whole
    os.remove(".git/HEAD")
    with open("tmp.txt", "w") as f:
        f.write("renamed over")
    os.replace("tmp.txt", "link-to-a")
    shutil.rmtree("data/deep")
    open(sys.argv[1], "w").write("outside")     # outside the view: recorded, not redirected
    open(sys.argv[2]).read()
    print(open("result.txt").read(), end="")
    print(open("log.txt").read(), end="")
    """
)


def test_writes_through_python_never_reach_the_users_files(tmp_path: Path) -> None:
    user = tree(tmp_path / "proj")
    outside, readme = tmp_path / "outside.txt", tmp_path / "readme.txt"
    readme.write_text("r")
    before = listing(user)
    view = workspace.build(tmp_path / "run" / "view", user, workspace.snapshot(user))
    record = tmp_path / "run" / "files.txt"
    env = clean_env(**view.env(record))
    r = run_py(["-c", COW_SCRIPT, str(outside), str(readme)], cwd=view.cwd, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "run's result\nold log\nrun's line\n"
    assert listing(user) == before  # every byte of the user's directory as it was
    top = Path(view.cwd)
    assert (top / "data" / "a.txt").read_bytes() == b"A" and not (top / "data" / "a.txt").is_symlink()
    assert (top / ".git" / "objects" / "new").read_text() == "object"
    assert not (top / ".git" / "HEAD").exists() and (user / ".git" / "HEAD").exists()
    assert (top / "link-to-a").read_text() == "renamed over"
    assert not (top / "data" / "deep").exists() and (user / "data" / "deep" / "b.txt").exists()
    wrote, read = workspace.read_record(record)
    assert str(outside) in wrote and str(readme) in read
    assert not any(p.startswith(view.root) for p in wrote | read)  # the view's own files are not listed


def test_without_the_hook_a_write_reaches_the_users_file(tmp_path: Path) -> None:
    """The twin: the same view without the hook writes through its links, into the user's file."""
    user = tree(tmp_path / "proj")
    view = workspace.build(tmp_path / "run" / "view", user, workspace.snapshot(user))
    r = run_py(["-c", "open('result.txt', 'a').write('through\\n')"], cwd=view.cwd, env=clean_env())
    assert r.returncode == 0, r.stderr
    assert (user / "result.txt").read_text() == "user's result\nthrough\n"


SAVE = "import torch; torch.save({'w': torch.arange(4)}, 'ckpt.pt')"


@pytest.mark.slow
def test_torch_save_over_a_users_checkpoint_is_private(tmp_path: Path) -> None:
    """torch.save writes from C++, past the audit hook: its wrapper unlinks the view's link first.
    The twin: the same save in the same view without seedlock's variables overwrites the user's file."""
    user = tmp_path / "proj"
    user.mkdir()
    (user / "ckpt.pt").write_bytes(b"the user's checkpoint")
    hooked = workspace.build(tmp_path / "a" / "view", user, workspace.snapshot(user))
    plain = workspace.build(tmp_path / "b" / "view", user, workspace.snapshot(user))
    r = run_py(
        ["-c", "from seedlock.launch import cow; cow.install()\n" + SAVE],
        cwd=hooked.cwd,
        env=clean_env(**hooked.env()),
    )
    assert r.returncode == 0, r.stderr
    assert (user / "ckpt.pt").read_bytes() == b"the user's checkpoint"
    assert (Path(hooked.cwd) / "ckpt.pt").read_bytes().startswith(b"PK")  # torch's zip, the run's own
    r = run_py(["-c", SAVE], cwd=plain.cwd, env=clean_env())
    assert r.returncode == 0, r.stderr
    assert (user / "ckpt.pt").read_bytes().startswith(b"PK")


# --- check and repeat ------------------------------------------------------------------------------


@pytest.mark.slow
def test_check_of_a_script_that_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    """The measured bug: run 2 resumed from run 1's ckpt.pt, and check said NOT REPRODUCIBLE."""
    shutil.copy(SCRIPTS / "isolation" / "ckpt_resume.py", tmp_path / "train.py")
    (tmp_path / "notes.txt").write_text("the user's\n")
    before = listing(tmp_path)
    r = run_seedlock(["check", "train.py"], cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "REPRODUCIBLE" in r.stdout and "NOT" not in r.stdout
    assert listing(tmp_path) == before  # no ckpt.pt left, every file's bytes as they were
    kept = sorted(tmp_path.glob(".seedlock/check/*/run-*/view/*/ckpt.pt"))
    assert len(kept) == 2  # each run's checkpoint stays in its own view


@pytest.mark.slow
def test_two_runs_in_one_directory_do_resume(tmp_path: Path) -> None:
    """The twin: two `seedlock run`s sharing the directory differ; the second resumed."""
    shutil.copy(SCRIPTS / "isolation" / "ckpt_resume.py", tmp_path / "train.py")
    first = run_seedlock(["run", "train.py"], cwd=tmp_path)
    second = run_seedlock(["run", "train.py"], cwd=tmp_path)
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert "resumed" not in first.stdout and "resumed after epoch 2" in second.stdout
    assert first.stdout != second.stdout and (tmp_path / "ckpt.pt").exists()


OVERWRITE = textwrap.dedent(
    """
    import random
    text = open("data.txt").read()
    with open("data.txt", "w") as f:
        f.write(text + str(random.random()) + "\\n")
    with open("data.txt") as f:
        print(f.read(), end="")
    """
)


@pytest.mark.slow
def test_check_overwriting_a_users_file_leaves_it_as_it_was(tmp_path: Path) -> None:
    (tmp_path / "script.py").write_text(OVERWRITE)
    (tmp_path / "data.txt").write_text("the user's data\n")
    r = run_seedlock(["check", "script.py"], cwd=tmp_path)
    assert r.returncode == 0 and "REPRODUCIBLE" in r.stdout and "NOT" not in r.stdout, r.stdout + r.stderr
    assert (tmp_path / "data.txt").read_bytes() == b"the user's data\n"
    # the twin: the same script run plainly overwrites the user's file
    plain = run_py(["script.py"], cwd=tmp_path)
    assert plain.returncode == 0 and (tmp_path / "data.txt").read_bytes() != b"the user's data\n"


CACHE = textwrap.dedent(
    """
    import os, sys
    path = sys.argv[1]
    if not os.path.exists(path):          # a cache outside the working directory
        with open(path, "w") as f:
            f.write(os.urandom(8).hex())  # not reproducible: every computation differs
    print(open(path).read())
    """
)


@pytest.mark.slow
def test_check_gives_no_verdict_when_a_run_reads_another_runs_file(tmp_path: Path) -> None:
    """A file outside the working directory, written by one run and read by the other: the runs
    print the same value (the cached one) though the computation is not reproducible."""
    work, shared = tmp_path / "work", tmp_path / "shared" / "cache.txt"
    work.mkdir()
    shared.parent.mkdir()
    (work / "script.py").write_text(CACHE)
    r = run_seedlock(["check", "script.py", str(shared)], cwd=work)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "no verdict" in r.stderr and str(shared) in r.stderr and "Traceback" not in r.stderr
    # the twin: each computing for itself, the runs differ
    a = run_py(["script.py", str(tmp_path / "a.txt")], cwd=work)
    b = run_py(["script.py", str(tmp_path / "b.txt")], cwd=work)
    assert a.returncode == b.returncode == 0 and a.stdout != b.stdout


@pytest.mark.slow
def test_check_gives_no_verdict_when_a_run_writes_the_users_directory_by_absolute_path(
    tmp_path: Path,
) -> None:
    script = "import os, sys\nopen(os.path.join(sys.argv[1], 'out.txt'), 'w').write('x')\nprint('done')\n"
    (tmp_path / "script.py").write_text(script)
    r = run_seedlock(["check", "script.py", str(tmp_path)], cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "no verdict" in r.stderr and str(tmp_path / "out.txt") in r.stderr
    assert "in your working directory" in r.stderr


STATE = textwrap.dedent(
    """
    import os
    n = int(open("state.txt").read()) if os.path.exists("state.txt") else 0
    open("state.txt", "w").write(str(n + 1))
    print(f"state {n}")
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("fork", [True, False], ids=["forked", "fresh"])
def test_repeat_trials_write_privately(tmp_path: Path, fork: bool) -> None:
    (tmp_path / "script.py").write_text(STATE)
    before = listing(tmp_path)
    args = ["repeat", "--seeds", "2", "-j", "1", *([] if fork else ["--no-fork"]), "script.py"]
    r = run_seedlock(args, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert listing(tmp_path) == before  # no state.txt in the user's directory
    outs = sorted(tmp_path.glob(".seedlock/runs/*/seed-*/stdout.txt"))
    # every trial (and the cold run that verifies the fork-server) started from no state
    assert len(outs) >= 2 and {p.read_text() for p in outs} == {"state 0\n"}
    # the twin: one after the other in one directory, the second sees the first's state
    plain = [run_py(["script.py"], cwd=tmp_path).stdout for _ in range(2)]
    assert plain == ["state 0\n", "state 1\n"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "script", ["main.py", "./main.py", "{tmp}/main.py"], ids=["relative", "dot", "absolute"]
)
def test_a_script_named_as_users_write_it_imports_the_module_beside_it(tmp_path: Path, script: str) -> None:
    """`seedlock check main.py` in the project, as a user types it: the run's working directory is
    its view, under the directory it mirrors, and the script's directory maps to the view once, so
    `from helper import total` finds helper.py there (mapped twice it was a ModuleNotFoundError)."""
    (tmp_path / "helper.py").write_text("def total():\n    return 3\n")
    (tmp_path / "main.py").write_text("import helper\nprint(helper.total(), helper.__file__)\n")
    given = script.format(tmp=tmp_path)
    r = run_seedlock(["check", "--no-explain", "--no-localize", given], cwd=tmp_path, env=clean_env())
    assert r.returncode == 0 and "REPRODUCIBLE" in r.stdout, r.stdout + r.stderr
    r = run_seedlock(["repeat", "--seeds", "2", "--name", "t", given], cwd=tmp_path, env=clean_env())
    assert r.returncode == 0 and "2 ok of 2 trials" in r.stdout + r.stderr, r.stdout + r.stderr
