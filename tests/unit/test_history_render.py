"""reports/index.html as a browser renders it: headless Chromium (Debian's `chromium`).

The DOM after rendering must hold the sections, rows and SVG charts; the screenshot must show
the charts' colours, at 1200 px and at a phone's 390 px (where a chart keeps a readable size
and scrolls sideways instead of shrinking). HH_SCREENSHOT_DIR=reports keeps the pictures.
"""
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_history import NOW, make_runs  # noqa: E402

from hivehealth.report.history import COLORS, update  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(not CHROMIUM, reason="chromium not installed "
                                                     "(Debian: apt-get install -y chromium)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]


def chromium(tmp_path, *args, width=1200, height=900):
    r = subprocess.run([CHROMIUM, *FLAGS, f"--window-size={width},{height}",
                        f"--user-data-dir={tmp_path / 'profile'}", *args],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


def png_pixels(path: Path, max_rows: int | None = None):
    """(width, height, the first max_rows rows of RGB tuples) of an 8-bit non-interlaced RGB/RGBA PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    w, h, depth, ctype, _, _, interlace = ihdr
    assert depth == 8 and ctype in (2, 6) and interlace == 0, ihdr
    bpp = 3 if ctype == 2 else 4
    raw, stride, prev, rows, i = zlib.decompress(idat), w * bpp, bytearray(w * bpp), [], 0
    for _ in range(min(h, max_rows or h)):
        f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b, c = prev[x], prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[x:x + 3]) for x in range(0, stride, bpp)])
        prev = line
    return w, h, rows


def rgb(hex_):
    return tuple(int(hex_[i:i + 2], 16) for i in (1, 3, 5))


def near(px, c):
    return all(abs(px[i] - c[i]) <= 6 for i in range(3))


def colour_counts(rows, names):
    want = {name: rgb(COLORS[name]) for name in names}
    counts = {}
    for row in rows:
        for px in row:
            for name, c in want.items():
                if near(px, c):
                    counts[name] = counts.get(name, 0) + 1
    return counts


@pytest.fixture
def index(tmp_path):
    reports = tmp_path / "reports"
    make_runs(reports)
    return update(reports, keep_days=30, now=NOW)


def test_rows_and_charts_render_in_chromium(tmp_path, index):
    dom = chromium(tmp_path, "--dump-dom", index.as_uri())
    assert dom.count('<svg class="chart"') == 2 and "data-from=" in dom
    rows = re.findall(r'<tr class="run (?:ok|bad)">(.*?)</tr>', dom, re.S)
    assert len(rows) == 3
    assert "2026-11-28 02:15:00" in rows[0] and "unreachable: " in rows[0] and "s-hive1.lab" in rows[0]
    assert "2026-11-26 02:15:00" in rows[2] and "healthy" in rows[2]
    recent = dom.split('<svg class="chart"')[2]
    assert len(re.findall(r'fill="transparent"><title>2026-11-2\d 02:15:00', recent)) == 3   # one bar per run
    assert len(re.findall(r"<details", dom)) == 3                                       # one per day


def test_screenshot_shows_the_charts(tmp_path, index):
    shot = tmp_path / "index.png"
    chromium(tmp_path, f"--screenshot={shot}", index.as_uri())
    w, h, rows = png_pixels(shot)
    assert (w, h) == (1200, 900)
    counts = colour_counts(rows, ("passed", "failed", "fixed", "waived", "unreachable", "none"))
    # bars and strip cells are drawn: every outcome is visibly present above the fold, and
    # the days without a run are drawn as such
    for name in counts:
        assert counts.get(name, 0) > 200, (name, counts)
    assert len(counts) == 6, counts
    assert counts["passed"] > counts["failed"] > 0
    if os.environ.get("HH_SCREENSHOT_DIR"):
        dest = Path(os.environ["HH_SCREENSHOT_DIR"])
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy2(shot, dest / "history-screenshot.png")


def test_phone_width_keeps_the_chart_readable(tmp_path, index):
    """At 390 px the chart is not shrunk to a sliver: it keeps its minimum width (its text
    stays legible) and scrolls sideways; the verdict stays on screen."""
    shot = tmp_path / "phone.png"
    chromium(tmp_path, f"--screenshot={shot}", index.as_uri(), width=390, height=900)
    w, h, rows = png_pixels(shot)
    assert w == 390
    green = rgb(COLORS["passed"])
    tallest = 0
    for x in range(w):
        run = 0
        for row in rows:
            run = run + 1 if near(row[x], green) else 0
            tallest = max(tallest, run)
    # 120 of the chart's 1000 units are its bars: at the 720 px minimum width that is 86 px;
    # squeezed into 390 px it would be 40 px
    assert tallest >= 80, tallest
    dom = chromium(tmp_path, "--dump-dom", index.as_uri(), width=390, height=900)
    assert 'class="verdict bad"' in dom
