"""Copy-on-write in a run's own processes: writes into its private view never reach the user's files.

A run of ``check`` (or a trial of ``repeat``) starts in a view of the user's working directory
(:mod:`seedlock.launch.workspace`), whose files are hard (or symbolic) links to the user's.
Opening one of those links for writing would write through it, into the user's file, where the
other runs read it. :func:`install` (boot and every child process, when ``$SEEDLOCK_VIEW`` is set) adds an audit
hook that acts before the operation proceeds: a link opened to truncate (``"w"``) is unlinked, one
opened to append or update (``"a"``, ``"r+"``) becomes a private copy, and a directory the view
links whole (``.git``) becomes a real one of links before anything is created, renamed or removed
in it. Only what raises a Python audit event is seen: a C library's own ``fopen`` is not (torch's
``torch.save`` is, by a wrapper), which is why ``check`` also compares the user's directory
before and after the runs.

The hook also appends to ``$SEEDLOCK_FILES`` each file outside the view that the run opened
(``w PATH`` or ``r PATH``, once per process, as it happens: a crash keeps it), so that ``check``
can tell when one run read what another wrote (:func:`seedlock.launch.workspace.crossed`).
"""

from __future__ import annotations

import os
import stat
import sys
import threading
from collections.abc import Callable

from seedlock.config import ENV_FILES, ENV_VIEW, ENV_VIEW_OF

# Flags that make an open a write; O_EXCL on an existing link fails as it would on the user's file.
_WRITE = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
_view = ""  # the view's root and the directory it mirrors, each ending in os.sep
_orig = ""
_record_fd = -1
_skip: tuple[str, ...] = ()
_seen: set[tuple[str, str]] = set()
_busy = threading.local()  # the hook's own file operations raise events too


def install() -> None:
    """Add the hook in this process when it runs in a view (once: audit hooks cannot be removed)."""
    global _view, _orig, _record_fd, _skip
    view, orig = os.environ.get(ENV_VIEW), os.environ.get(ENV_VIEW_OF)
    if _view or not view or not orig:
        return
    _view, _orig = os.path.join(view, ""), os.path.join(orig, "")
    record = os.environ.get(ENV_FILES)
    if record:
        _record_fd = os.open(record, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    _skip = _not_recorded(os.path.dirname(view.rstrip(os.sep)))
    sys.addaudithook(_hook)
    from seedlock.frameworks import hooks

    hooks.when_imported("torch.serialization", _wrap_torch_save)


def to_view(path: str) -> str:
    """``path`` inside the directory the view mirrors, as the same path in the view (else as given).
    A path already in the view stays: the view lies under the directory it mirrors, so a script
    given relative to the view (the run's working directory) must not be mapped twice."""
    probe = os.path.join(path, "")  # the mirrored directory itself too, written without its os.sep
    if not _orig or probe.startswith(_view) or not probe.startswith(_orig):
        return path
    mapped = _view + probe[len(_orig) :]
    return mapped if path.endswith(os.sep) else mapped.rstrip(os.sep)


def _not_recorded(rundir: str) -> tuple[str, ...]:
    """Prefixes of files no run shares results through: the interpreter and installed packages,
    the OS's, caches keyed by content (compiled kernels, downloads), the run's own directory."""
    home = os.path.expanduser("~")
    tmp = os.environ.get("TMPDIR", "/tmp").rstrip(os.sep)
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(home, ".cache")
    seedlock = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, seedlock, rundir, cache}
    # What the run imports from (editable installs' src/ too), unless it holds shared places.
    shared = [os.path.join(p, "") for p in (rundir, _orig, tmp, home)]
    for p in sys.path:
        p = os.path.join(os.path.abspath(p), "")
        if p != os.sep and not any(s.startswith(p) for s in shared):
            prefixes.add(p)
    prefixes.update(os.path.join(home, d) for d in (".keras", ".triton", ".nv", ".config/matplotlib"))
    out = [os.path.join(p, "") for p in prefixes if p]
    out += ["/dev/", "/proc/", "/sys/", "/etc/", "/usr/", "/run/", f"{tmp}/torchinductor_"]
    return tuple(out)


def _hook(event: str, args: tuple[object, ...]) -> None:
    if event not in _EVENTS or getattr(_busy, "on", False):
        return
    _busy.on = True
    try:
        _EVENTS[event](args)
    except Exception:
        pass  # never fail the run's own operation; what slips through, check's snapshots see
    finally:
        _busy.on = False


def _path(p: object) -> str | None:
    if not isinstance(p, (str, bytes, os.PathLike)):
        return None  # a file descriptor: already open
    return os.path.abspath(os.fsdecode(p))


def _on_open(args: tuple[object, ...]) -> None:
    raw, flags = args[0], args[2]
    if isinstance(raw, os.PathLike):
        raw = os.fspath(raw)
    if not isinstance(flags, int) or not isinstance(raw, (str, bytes)):
        return
    write = bool(flags & _WRITE)
    if not write and not os.path.isabs(raw):
        return  # a read in the working directory: the view's (imports and data loaders read a lot)
    path = os.path.abspath(os.fsdecode(raw))
    if path.startswith(_view):
        if write:
            _private(path, "parent" if flags & os.O_EXCL else "drop" if flags & os.O_TRUNC else "copy")
    else:
        _note("w" if write else "r", path)
        if flags & os.O_RDWR:
            _note("r", path)


def _on_change(args: tuple[object, ...]) -> None:
    """os.truncate, os.utime, os.chmod: they follow links, so the file must be private first."""
    path = _path(args[0])
    if path is not None and path.startswith(_view):
        _private(path, "copy")


def _on_entry(paths: tuple[int, ...], dir_fds: tuple[int, ...]) -> Callable[[tuple[object, ...]], None]:
    """Events that add, rename or remove a name (the arguments at ``paths``): its directory must
    be the run's own."""

    def handle(args: tuple[object, ...]) -> None:
        if any(args[i] not in (-1, None) for i in dir_fds if i < len(args)):
            return  # relative to a directory descriptor: shutil.rmtree's own, inside a private tree
        for i in paths:
            path = _path(args[i])
            if path is None:
                continue
            if path.startswith(_view):
                _private(path, "parent")
            else:
                _note("w", path)

    return handle


def _on_rmtree(args: tuple[object, ...]) -> None:
    path = _path(args[0])
    if path is not None and path.startswith(_view):
        _private(path, "dir")  # a real directory of links: rmtree then removes the links only


def _on_sqlite(args: tuple[object, ...]) -> None:
    path = _path(args[0])  # sqlite writes from C: the database must be private before it opens it
    if path is not None and path.startswith(_view):
        _private(path, "copy")
    elif path is not None and not path.endswith(":memory:"):
        _note("w", path)
        _note("r", path)


_EVENTS = {
    "open": _on_open,
    "os.truncate": _on_change,
    "os.utime": _on_change,
    "os.chmod": _on_change,
    "os.chown": _on_change,
    "os.rename": _on_entry((0, 1), (2, 3)),
    "os.remove": _on_entry((0,), (1,)),
    "os.rmdir": _on_entry((0,), (1,)),
    "os.mkdir": _on_entry((0,), (2,)),
    "os.link": _on_entry((1,), (2, 3)),
    "os.symlink": _on_entry((1,), (2,)),
    "shutil.rmtree": _on_rmtree,
    "sqlite3.connect": _on_sqlite,
}


def _note(kind: str, path: str) -> None:
    if _record_fd < 0 or (kind, path) in _seen or (path + os.sep).startswith(_skip):
        return
    _seen.add((kind, path))
    os.write(_record_fd, f"{kind} {path}\n".encode(errors="surrogateescape"))  # one write: whole lines


def _ours(path: str) -> bool:
    """Whether ``path`` is one of the view's entries that share the user's file: a symbolic link
    into the user's directory, or a hard link to the file at the same place there."""
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        return os.readlink(path).startswith(_orig)
    if st.st_nlink < 2 or not stat.S_ISREG(st.st_mode):
        return False
    try:
        user = os.stat(_orig + path[len(_view) :])
    except OSError:
        return False
    return (user.st_dev, user.st_ino) == (st.st_dev, st.st_ino)


def _private(path: str, how: str) -> None:
    """Make ``path``'s directories the view's own; then the file itself by ``how``: ``drop`` the
    link (it will be recreated), ``copy`` the user's file in its place, ``dir`` (a directory of
    links), or ``parent`` (the directories alone)."""
    parts = path[len(_view) :].split(os.sep)
    current = _view.rstrip(os.sep)
    for name in parts[:-1]:
        current = os.path.join(current, name)
        if os.path.islink(current) and _ours(current):
            _materialize(current)
    try:
        if how == "parent" or not _ours(path):
            return
    except FileNotFoundError:
        return  # a new file: the view's own already
    if how == "dir" or os.path.isdir(path):
        if how == "dir" and os.path.islink(path):
            _materialize(path)
        return
    if how == "drop":
        os.unlink(path)
        return
    tmp = f"{path}.seedlock-{os.getpid()}-{threading.get_ident()}"
    with open(path, "rb") as src, open(tmp, "wb") as dst:  # through the link: the file as the view had it
        while chunk := src.read(1 << 20):
            dst.write(chunk)
    st = os.stat(path)
    os.chmod(tmp, st.st_mode & 0o7777)
    os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(tmp, path)  # atomic: a reader of the same run sees the link or the copy


def _materialize(link: str) -> None:
    """A linked directory as a real one holding a link to each of its entries."""
    source = os.readlink(link)
    tmp = f"{link}.seedlock-{os.getpid()}-{threading.get_ident()}"
    os.mkdir(tmp)
    with os.scandir(source) as entries:
        for entry in entries:
            os.symlink(entry.path, os.path.join(tmp, entry.name))
    os.unlink(link)
    os.rename(tmp, link)


def _wrap_torch_save(serialization: object) -> None:
    """torch.save to a path opens it in C++ (PyTorchFileWriter), past the audit hook: make the
    file private first, as a Python open for writing would."""
    cls = getattr(serialization, "_open_zipfile_writer_file", None)
    original = getattr(cls, "__init__", None)
    if cls is None or original is None or getattr(original, "_seedlock", False):
        return

    def __init__(self: object, name: object, *args: object, **kwargs: object) -> None:
        path = _path(name)
        if path is not None and path.startswith(_view) and not getattr(_busy, "on", False):
            _busy.on = True
            try:
                _private(path, "drop")
            except OSError:
                pass
            finally:
                _busy.on = False
        original(self, name, *args, **kwargs)

    __init__._seedlock = True  # type: ignore[attr-defined]
    cls.__init__ = __init__
