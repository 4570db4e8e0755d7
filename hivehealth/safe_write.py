"""Every file the suite writes: never through a link, in a folder no one else can write to,
private, and replaced atomically so that a reader (a browser, node_exporter, a second run) never
sees half a file.

A folder the suite writes into is checked (checked_dir): created PRIVATE_DIR when missing, and
it must be owned by the user running the suite (or root) and writable by no one else (unless
sticky, like /tmp). Else a link or a file planted there by another user could make a run as
root write where that user cannot.

Files are written in one of three ways, and no other:
- replaced whole (write_atomic, write_new): a temp file with an unpredictable name, created
  with O_EXCL (which never follows a link), written, synced, chmod-ed on its descriptor, then
  renamed over the target (which replaces a link, never follows it);
- opened in place (open_in_place: the locks, audit.jsonl, known_hosts, the history database
  file): O_NOFOLLOW, and the file must be a regular file with no other hard link, owned by this
  user or root; a mode wider than asked for is narrowed on the descriptor;
- read (read_in_place): the same checks, so that a FIFO or a link never stalls or redirects a
  read either.
A path that fails a check raises RefusedWrite (an OSError) naming the path and why.

Every file that holds what the servers answered (reports, their dated copies, recordings, the
audit log, the history) is PRIVATE: readable by its owner and group only. The Prometheus
textfile is the exception: it holds only check ids and 0/1 values, and node_exporter reads it as
its own user.
"""
from __future__ import annotations

import errno
import fcntl
import os
import stat
import tempfile
from pathlib import Path

PRIVATE = 0o640
PUBLIC = 0o644
PRIVATE_DIR = 0o750


class RefusedWrite(OSError):
    """A path the suite does not write to (or read from): a link, not a regular file, another
    name of a file (hard link), another user's file, or in a folder others can write to."""

    def __init__(self, path, why: str):
        super().__init__(errno.EPERM, why, str(path))
        self.path, self.why = Path(path), why

    def __str__(self):
        return f"{self.path}: {self.why}; hive-health does not write there"


def _trusted_owner(uid: int) -> bool:
    return uid in (os.geteuid(), 0)


def _owner_name(uid: int) -> str:
    try:
        import pwd
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (KeyError, ImportError):
        return f"uid {uid}"


def checked_dir(path, create: bool = True) -> Path:
    """mkdir -p (unless create=False), then the folder's checks: a folder this creates is
    PRIVATE_DIR; an existing one (or the folder a link the operator made points to) must be a
    directory owned by this user or root that no one else can write to, unless it is sticky
    (/tmp)."""
    path = Path(path)
    if create:
        path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    st = os.stat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise RefusedWrite(path, "is not a directory")
    if not _trusted_owner(st.st_uid):
        raise RefusedWrite(path, f"is owned by {_owner_name(st.st_uid)}, not by this user "
                                 f"({_owner_name(os.geteuid())}) or root: that user could plant a link in it")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not st.st_mode & stat.S_ISVTX:
        raise RefusedWrite(path, f"is writable by {'others' if st.st_mode & stat.S_IWOTH else 'its group'} "
                                 f"(mode {st.st_mode & 0o7777:04o}): anyone who can write there could plant a "
                                 f"link; chmod go-w it")
    return path


def _check_file(st: os.stat_result, path: Path):
    """A regular file with one name, owned by this user or root; else RefusedWrite."""
    if stat.S_ISLNK(st.st_mode):
        raise RefusedWrite(path, "is a symbolic link")
    if not stat.S_ISREG(st.st_mode):
        raise RefusedWrite(path, "is not a regular file")
    if st.st_nlink > 1:
        raise RefusedWrite(path, f"has {st.st_nlink - 1} other name(s) (a hard link)")
    if not _trusted_owner(st.st_uid):
        raise RefusedWrite(path, f"is owned by {_owner_name(st.st_uid)}, not by this user or root")


def _open(path: Path, flags: int, mode: int) -> int:
    # O_NONBLOCK: opening a FIFO planted in the file's place returns at once (then refused),
    # instead of waiting for a writer or reader
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise RefusedWrite(path, "is a symbolic link") from None
        if e.errno == errno.ENXIO:
            raise RefusedWrite(path, "is not a regular file") from None
        raise
    try:
        _check_file(os.fstat(fd), path)      # what was opened, not what the name is now
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_in_place(path, flags: int, mode: int = PRIVATE) -> int:
    """A descriptor of `path` opened in place (os.open flags, e.g. O_RDWR | O_CREAT), in an
    existing checked folder, never through a link, never a FIFO, device, hard link or another
    user's file; a file wider than `mode` is narrowed on the descriptor."""
    path = Path(path)
    checked_dir(path.parent, create=False)
    fd = _open(path, flags, mode)
    try:
        st = os.fstat(fd)
        current = st.st_mode & 0o7777
        if current & ~mode and st.st_uid == os.geteuid():      # root's file is root's to change
            os.fchmod(fd, current & mode)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_in_place(path) -> bytes:
    """The bytes of a file the suite wrote itself (a lock's holder, the fix count), read with
    the checks of open_in_place; FileNotFoundError when it is not there."""
    path = Path(path)
    fd = _open(path, os.O_RDONLY, 0)
    with os.fdopen(fd, "rb") as f:
        return f.read()


def existing_is_regular(path):
    """Nothing, when `path` does not exist or is a regular file with one name owned by this
    user or root (a file another program opens by name, as SQLite opens its -wal and -shm);
    else RefusedWrite."""
    path = Path(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    _check_file(st, path)


def write_atomic(path, data: str | bytes, mode: int = PRIVATE) -> Path:
    """A temp file in the same checked folder (named .<name>.*.tmp, which a *.prom or *.html
    glob ignores), created with `mode` (never wider for a moment), synced, then renamed over the
    target."""
    return _write(path, data, mode, os.replace)


def write_new(path, data: str | bytes, mode: int = PRIVATE) -> Path:
    """As write_atomic, but never over an existing file: FileExistsError when `path` exists,
    also when another process creates it at the same moment (the whole file appears under
    its name at once, by a hard link, which fails if the name is taken)."""
    return _write(path, data, mode, _link_new)


def _link_new(tmp: str, path: Path):
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError:
        # a filesystem without hard links: O_EXCL still claims the name for this writer alone
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        src = os.open(tmp, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "wb") as out, os.fdopen(src, "rb") as f:
            out.write(f.read())
            out.flush()
            os.fsync(out.fileno())
            os.fchmod(out.fileno(), os.fstat(f.fileno()).st_mode & 0o777)
    os.unlink(tmp)


def encoded(data: str | bytes) -> bytes:
    """UTF-8; a character UTF-8 cannot hold (a lone surrogate, from a name in a bundle or a
    server's undecodable bytes) is written escaped, `\\udc80`, as text a reader sees."""
    return data.encode("utf-8", errors="backslashreplace") if isinstance(data, str) else data


def _write(path, data: str | bytes, mode: int, put) -> Path:
    path = Path(path)
    checked_dir(path.parent)
    # mkstemp: O_EXCL | O_NOFOLLOW, mode 0600, a random name
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(encoded(data))
            f.flush()
            os.fsync(f.fileno())
            os.fchmod(f.fileno(), mode)
        put(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def append_private(path, line: str):
    """Append one line in one write (O_APPEND: two writers never overwrite each other's
    lines), opened in place (open_in_place): a file this creates is PRIVATE, and an existing
    one wider than that is narrowed."""
    path = Path(path)
    checked_dir(path.parent)
    fd = open_in_place(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE)
    try:
        data = encoded(line)
        while data:
            data = data[os.write(fd, data):]
    finally:
        os.close(fd)
