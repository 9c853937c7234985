"""Private working directories for the runs of ``check`` and the trials of ``repeat``.

Runs of one ``check`` go on side by side, and each must start from the user's working directory
as it was: a checkpoint run 1 saves must not be the one run 2 resumes from, and none may be left
in the user's directory. Each run starts in a *view* built under its own run directory:

- ``RUNDIR/view/NAME`` mirrors the working directory ``NAME``: every directory a real one, every
  file a hard link to the user's (a symbolic one across file systems; no data is copied). What a run creates lands in its view;
  what it overwrites or appends to through Python is unlinked or copied first by the audit hook of
  :mod:`seedlock.launch.cow`, so the user's file is never written.
- ``RUNDIR/view`` itself holds a link to each sibling of the working directory, so that ``../data``
  resolves as it did.
- Directories nobody trains into (``.git``, a virtual environment, tools' caches) are linked
  whole (a symbolic link), and ``.seedlock`` (where the views live) is left out.

What the hook cannot see (a C library's writer overwriting a linked file) and what it sees but
cannot redirect (a write through an absolute path into the user's directory) is found by
comparing snapshots of the user's directory from before and after the runs (:func:`changed`); a file one run read after another wrote it
outside the views is found by :func:`crossed`. ``check`` gives no verdict on either. After a run,
:func:`settle` takes the links out of its view: what is left is what the run wrote.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from seedlock.config import ENV_FILES, ENV_VIEW, ENV_VIEW_OF

# Linked whole: large, and not where a training run writes (the hook still makes them private
# before a Python write into them; a C writer there is not seen, and they are not snapshotted).
WHOLE = frozenset(
    [
        ".git",
        ".hg",
        ".svn",
        ".venv",
        "venv",
        "node_modules",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        ".hypothesis",
        ".ipynb_checkpoints",
        ".idea",
        ".vscode",
    ]
)
HOME = ".seedlock"  # seedlock's own directory, with the views in it: never mirrored

# A snapshot: relative path -> (kind, size, mtime_ns, inode); kind d (directory), f (file),
# l (a symbolic link), w (a directory linked whole).
Entry = tuple[str, int, int, int]
Snapshot = dict[str, Entry]


def snapshot(root: str | os.PathLike[str], skip: Collection[str | os.PathLike[str]] = ()) -> Snapshot:
    """Every entry under ``root``, parents before children, with the size and mtime of files
    (``skip``: absolute directories left out, e.g. the runs' own)."""
    out: Snapshot = {}
    left_out = {os.path.abspath(p) for p in skip}

    def walk(path: str, rel: str) -> None:
        try:
            entries = os.scandir(path)
        except OSError:
            return
        with entries:
            for e in entries:
                r = rel + e.name
                if e.path in left_out or (not rel and e.name == HOME):
                    continue
                try:
                    if e.is_dir(follow_symlinks=False):
                        if e.name in WHOLE or os.path.exists(os.path.join(e.path, "pyvenv.cfg")):
                            out[r] = ("w", 0, 0, 0)
                        else:
                            out[r] = ("d", 0, 0, 0)
                            walk(e.path, r + "/")
                    else:
                        st = e.stat(follow_symlinks=False)
                        kind = "l" if e.is_symlink() else "f"
                        out[r] = (kind, st.st_size, st.st_mtime_ns, st.st_ino)
                except OSError:
                    continue  # gone while we looked

    walk(os.path.abspath(root), "")
    return out


class View(NamedTuple):
    """A run's view: ``cwd`` mirrors the user's directory, ``root`` (its parent, or itself) mirrors ``of``."""

    root: str
    of: str
    cwd: str

    def env(self, record: str | os.PathLike[str] | None = None) -> dict[str, str]:
        """The variables that make a run's processes copy on write here (:mod:`seedlock.launch.cow`)
        and append the files they open outside the view to ``record``."""
        out = {ENV_VIEW: self.root, ENV_VIEW_OF: self.of}
        if record is not None:
            out[ENV_FILES] = os.path.abspath(record)
        return out

    def unview(self, text: str) -> str:
        """``text`` (a run's stdout) with the view's paths as the user's: a run that prints its
        working directory prints the same thing in every run, as it did before views."""
        return text.replace(self.root, self.of) if self.root != self.of else text

    def unview_bytes(self, data: bytes) -> bytes:
        return data.replace(os.fsencode(self.root), os.fsencode(self.of)) if self.root != self.of else data


def layout(dest: str | os.PathLike[str], original: str | os.PathLike[str]) -> View:
    """Where :func:`build` puts the view of ``original`` at ``dest`` (``dest`` must exist)."""
    original = os.path.realpath(original)
    root = os.path.realpath(dest)  # a run's os.getcwd() is the physical path: compare like with like
    parent, name = os.path.split(original)
    if not name:  # the file system's root: no siblings
        return View(root, original, root)
    return View(root, parent, os.path.join(root, name))


def build(dest: str | os.PathLike[str], original: str | os.PathLike[str], snap: Snapshot) -> View:
    """The view of ``original`` (as ``snap`` saw it) at ``dest``; an earlier view there (a
    ``--workdir`` used again) is removed first: links and what that run wrote, never the user's."""
    original = os.path.realpath(original)
    if os.path.lexists(dest):
        shutil.rmtree(dest)
    os.makedirs(dest)
    view = layout(dest, original)
    root, parent, top = view
    name = os.path.basename(original)
    if top != root:
        try:
            with os.scandir(parent) as siblings:
                for s in siblings:
                    if s.name != name:
                        os.symlink(s.path, os.path.join(root, s.name))
        except OSError:
            pass  # an unreadable parent: ../ paths will not resolve, the rest does
        os.mkdir(top)
    link = os.link  # a hard link: a directory entry, no inode to make (20x faster than a symlink)
    for rel, (kind, *_) in snap.items():  # parents come before what they hold
        if kind == "d":
            os.mkdir(f"{top}/{rel}")
        elif kind == "f":
            try:
                link(f"{original}/{rel}", f"{top}/{rel}")
            except OSError:  # another file system, or a file the kernel will not let us link
                os.symlink(f"{original}/{rel}", f"{top}/{rel}")
        else:  # the user's own link, or a directory linked whole
            os.symlink(f"{original}/{rel}", f"{top}/{rel}")
    return view


def settle(view: View) -> None:
    """Take the view's links to the user's files out, and the directories left empty: what stays
    is what the run wrote (and thousands of links fewer per run on the disk)."""
    of = os.path.join(view.of, "")
    for path, dirs, files in os.walk(view.root, topdown=False):
        for name in files + dirs:  # os.walk lists a link to a directory among dirs
            p = os.path.join(path, name)
            try:
                st = os.lstat(p)
                if stat.S_ISLNK(st.st_mode):
                    if os.readlink(p).startswith(of):
                        os.unlink(p)
                elif stat.S_ISDIR(st.st_mode):
                    os.rmdir(p)  # only if empty
                elif st.st_nlink > 1 and _same(st, view.of + p[len(view.root) :]):
                    os.unlink(p)
            except OSError:
                pass


def _same(st: os.stat_result, path: str) -> bool:
    try:
        other = os.stat(path)
    except OSError:
        return False
    return (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino)


# Files people edit while a run goes on: a change to one in place is an editor's, not a run's.
SOURCE = frozenset(
    [
        ".py",
        ".pyi",
        ".ipynb",
        ".md",
        ".rst",
        ".toml",
        ".cfg",
        ".ini",
        ".yaml",
        ".yml",
        ".sh",
        ".c",
        ".cc",
        ".cpp",
        ".h",
        ".hpp",
        ".js",
        ".ts",
        ".rs",
        ".go",
    ]
)


def changed(before: Snapshot, after: Snapshot) -> list[str]:
    """Files (relative paths) written in place between two snapshots: same inode, other size or
    mtime. That is what a writer seedlock cannot redirect does through a view's link; a file
    replaced, added or removed cannot have come through one. Source files and Python's bytecode
    caches are left out (an editor, an import)."""
    out = []
    for rel, entry in before.items():
        now = after.get(rel)
        if entry[0] != "f" or now is None or now[0] != "f" or now[3] != entry[3] or now == entry:
            continue
        if "__pycache__" not in rel.split("/") and os.path.splitext(rel)[1] not in SOURCE:
            out.append(rel)
    return sorted(out)


def read_record(path: str | os.PathLike[str]) -> tuple[set[str], set[str]]:
    """A run's ``$SEEDLOCK_FILES``: (files written, files read) outside its view."""
    wrote: set[str] = set()
    read: set[str] = set()
    try:
        text = Path(path).read_bytes().decode(errors="surrogateescape")
    except OSError:
        return wrote, read
    for line in text.splitlines():
        kind, _, name = line.partition(" ")
        (wrote if kind == "w" else read).add(name)
    return wrote, read


def crossed(records: Sequence[str | os.PathLike[str]]) -> tuple[str, int, int] | None:
    """``(file, writer, reader)``: a file one run (0-based) opened for writing and another opened
    for reading, outside their views; None when the runs shared no file that way."""
    runs = [read_record(r) for r in records]
    for reader, (_, read) in enumerate(runs):
        for writer, (wrote, _) in enumerate(runs):
            if writer != reader:
                both = sorted(read & wrote)
                if both:
                    return both[0], writer, reader
    return None


def writers(records: Sequence[str | os.PathLike[str]], path: str) -> list[int]:
    """The runs (0-based) whose record says they wrote ``path``."""
    return [i for i, r in enumerate(records) if path in read_record(r)[0]]


def shared_reason(
    original: str,
    before: Snapshot,
    after: Snapshot,
    records: Sequence[str | os.PathLike[str]],
    labels: Mapping[int, str] | None = None,
) -> str | None:
    """Why the runs were not isolated, in words, or None: a run wrote in the user's directory
    (its record says so, or a file there was written in place while they ran), or one run read a
    file another wrote outside the views."""
    label = (labels or {}).get
    original = os.path.realpath(original)
    gone_or_new = set(before.keys() ^ after.keys()) | {
        k for k in before.keys() & after.keys() if before[k] != after[k]
    }
    recorded = [(k, writers(records, os.path.join(original, k))) for k in sorted(gone_or_new)]
    attributed = [(k, who) for k, who in recorded if who]
    moved = [(k, writers(records, os.path.join(original, k))) for k in changed(before, after)]
    found = attributed or moved
    if found:
        rel, who = found[0]
        by = f"run {label(who[0], str(who[0] + 1))} wrote" if who else "a file was written in place:"
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        how = (
            "through an absolute path"
            if who
            else "by a run's writer in C/C++ (TensorFlow, HDF5, safetensors...) that seedlock cannot "
            "redirect, or by another program while the runs ran"
        )
        return (
            f"no verdict: {by} {os.path.join(original, rel)}{more} in your working directory, outside "
            f"seedlock's private view ({how}), so the other runs may have read it. Write outputs "
            "through relative paths, or to new files; see docs/check.md, 'Runs that cannot see each other'"
        )
    hit = crossed(records)
    if hit:
        path, w, r = hit
        return (
            f"no verdict: run {label(r, str(r + 1))} read {path}, which run {label(w, str(w + 1))} wrote: "
            "the runs shared a file outside their private working directories, so one may have "
            "used another's output. Write it under the working directory through a relative path "
            "(each run then has its own), or give each run its own path"
        )
    return None
