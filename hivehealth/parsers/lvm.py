"""`lvs --reportformat json`: {"report": [{"lv": [{"vg_name": ..., "lv_name": ..., ...}]}]}.

Every value is a string (sizes with --units b --nosuffix are byte counts; data_percent and
metadata_percent are "" where they do not apply or the LV is not active).
"""
from __future__ import annotations

from dataclasses import dataclass

from . import ParseError
from ._json import load

WHAT = "lvs --reportformat json"


@dataclass
class LV:
    vg: str
    name: str
    attr: str
    size: int | None            # bytes (with --units b --nosuffix)
    pool: str                   # the thin pool of a thin volume, "" otherwise
    data_percent: float | None
    metadata_percent: float | None

    @property
    def is_thin_pool(self) -> bool:
        return self.attr[:1] == "t"

    @property
    def active(self) -> bool:
        return len(self.attr) > 4 and self.attr[4] == "a"

    @property
    def state(self) -> str:
        """lv_attr's 5th character (lvs(8) "State"): "a" when active."""
        return self.attr[4] if len(self.attr) > 4 else "-"

    @property
    def health(self) -> str:
        """lv_attr's 9th character (lvs(8) "Volume Health"): "-" when healthy."""
        return self.attr[8] if len(self.attr) > 8 else "-"


# lvs(8) / lvm2 lib/metadata/lv.c lv_attr_dup_with_info_and_seg_status, for a thin pool;
# "X" (unknown) is in neither: lvm could not read it, which is no fault yet
STATE = {
    "-": "not active",
    "s": "suspended",
    "i": "mapped with an inactive table only",
    "d": "mapped without a table",
    "c": "active but flagged needs_check (its metadata needs thin_check/repair)",
    "C": "suspended and flagged needs_check",
}
HEALTH = {
    "p": "partial: a physical volume of its VG is missing",
    "F": "failed: the kernel's thin-pool target reports a failure (no data/metadata figures)",
    "D": "out of data space: writes to its thin volumes queue or fail",
    "M": "metadata read only: the pool switched to read-only mode (metadata full or damaged)",
}


def _num(value, cast):
    value = (value or "").strip().rstrip("Bb%")
    if not value:
        return None
    try:
        return cast(float(value)) if cast is int else cast(value)
    except ValueError:
        raise ParseError(WHAT, f"not a number: {value!r}") from None


def parse_lvs_json(text: str) -> list[LV]:
    data = load(text, WHAT)
    if not isinstance(data, dict) or not isinstance(data.get("report"), list):
        raise ParseError(WHAT, "expected an object with a 'report' list")
    out = []
    for report in data["report"]:
        if not isinstance(report, dict):
            raise ParseError(WHAT, "a report entry is not an object")
        for row in report.get("lv", []):
            if not isinstance(row, dict) or "lv_name" not in row:
                raise ParseError(WHAT, f"an lv row has no lv_name: {str(row)[:80]}")
            out.append(LV(row.get("vg_name", ""), row["lv_name"], row.get("lv_attr", ""),
                          _num(row.get("lv_size"), int), row.get("pool_lv", ""),
                          _num(row.get("data_percent"), float),
                          _num(row.get("metadata_percent"), float)))
    return out
