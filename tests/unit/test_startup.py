"""What a run loads: a replay contacts no server, so it never imports the SSH stack (paramiko
and what it pulls in: cryptography, invoke), about a fifth of a second of start-up."""
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

RUN = r"""
import json, sys
import pytest
rc = pytest.main(["-c", sys.argv[1] + "/pytest.ini", "--rootdir", sys.argv[1], "-p", "no:randomly", "-q",
                  "--replay", sys.argv[2], "-o", "report_dir=" + sys.argv[3]])
print(json.dumps({"rc": int(rc), "loaded": sorted(m for m in ("paramiko", "invoke", "cryptography")
                                                   if m in sys.modules)}))
"""


def test_a_replay_imports_no_ssh_stack(tmp_path):
    bundle = REPO / "tests" / "data" / "bundles" / "lab-three-faults"
    p = subprocess.run([sys.executable, "-c", RUN, str(REPO), str(bundle), str(tmp_path)], cwd=tmp_path,
                       capture_output=True, text=True, timeout=300)
    got = json.loads(p.stdout.strip().splitlines()[-1])
    assert got["rc"] in (0, 1), p.stdout + p.stderr       # the bundle's faults fail, as recorded
    assert got["loaded"] == [], got
