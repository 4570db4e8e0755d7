"""Writing output files: private, and replaced atomically so that a reader (a browser,
node_exporter, a second run) never sees half a file.

Every file that holds what the servers answered (reports, their dated copies, recordings, the
audit log) is created PRIVATE: readable by its owner and group only, since outputs can hold
what a server would not show to everyone. The Prometheus textfile is the exception: it holds
only check ids and 0/1 values, and node_exporter reads it as its own user.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

PRIVATE = 0o640
PUBLIC = 0o644
PRIVATE_DIR = 0o750


def private_dir(path) -> Path:
    """mkdir -p; a directory this creates is PRIVATE_DIR (an existing one is left as it is)."""
    path = Path(path)
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    return path


def write_atomic(path, data: str | bytes, mode: int = PRIVATE) -> Path:
    """A temp file in the same directory (named .<name>.*.tmp, which a *.prom or *.html glob
    ignores), created with `mode` (never wider for a moment), synced, then renamed over the
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
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out, open(tmp, "rb") as src:
            out.write(src.read())
            out.flush()
            os.fsync(out.fileno())
            os.fchmod(out.fileno(), os.stat(tmp).st_mode & 0o777)
    os.unlink(tmp)


def encoded(data: str | bytes) -> bytes:
    """UTF-8; a character UTF-8 cannot hold (a lone surrogate, from a name in a bundle or a
    server's undecodable bytes) is written escaped, `\\udc80`, as text a reader sees."""
    return data.encode("utf-8", errors="backslashreplace") if isinstance(data, str) else data


def _write(path, data: str | bytes, mode: int, put) -> Path:
    path = Path(path)
    private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")   # 0600
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
    lines); a file this creates is PRIVATE, and an existing one wider than that is narrowed."""
    path = Path(path)
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE)
    try:
        if os.fstat(fd).st_mode & 0o7777 & ~PRIVATE:
            os.fchmod(fd, PRIVATE)
        data = encoded(line)
        while data:
            data = data[os.write(fd, data):]
    finally:
        os.close(fd)
