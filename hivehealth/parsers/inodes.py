"""The inodes area's probe output: `df -P -T -i`, one row per filesystem (the fs parser's row
format, inode counts in place of blocks)."""
from __future__ import annotations

from dataclasses import dataclass

from . import ParseError
from .fs import Filesystem, _unescape, df_row

DF_INODES_WHAT = "df -P -T -i"


@dataclass
class InodeUse:
    source: str
    fstype: str
    inodes: int                     # 0 where the filesystem has no fixed inode table (btrfs)
    used: int
    free: int
    use_pct: int | None             # None where df prints "-"
    target: str

    def as_filesystem(self) -> Filesystem:
        """For fs.real_filesystems' filtering (pseudo filesystems, bind mounts)."""
        return Filesystem(self.source, self.fstype, self.inodes, self.used, self.free,
                          self.use_pct or 0, self.target)


def parse_df_inodes(text: str) -> list[InodeUse]:
    lines = [ln.rstrip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        return []
    header = lines[0].split()
    if header[:2] != ["Filesystem", "Type"] or "Inodes" not in header:
        raise ParseError(DF_INODES_WHAT, f"not a df -P -T -i header: {lines[0][:100]!r}")
    out = []
    for n, line in enumerate(lines[1:], 2):
        row = df_row(line, typed=True)
        if row is None:
            raise ParseError(DF_INODES_WHAT, f"line {n}: not a df row: {line.strip()[:120]!r}")
        inodes, used, free = (0 if x == "-" else int(x) for x in row.numbers)
        use_pct = int(row.pct[:-1]) if row.pct != "-" else (-(-used * 100 // inodes) if inodes else None)
        out.append(InodeUse(row.source, row.fstype, inodes, used, free, use_pct, _unescape(row.target)))
    return out
