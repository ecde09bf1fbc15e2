"""A bad JSON body is a 400 even in a process that never imported ``json``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[3] / "src")

CODE = """
import sys
sys.path.insert(0, SRC)
from berth.jsonio import loads
from berth.errors import InvalidArgument
for text in ("{bad", '{"a" 1}', '{"a": 1,}'):
    assert "json.decoder" not in sys.modules or text != "{bad"
    try:
        loads(text, "request body")
    except InvalidArgument as e:
        print(e)
    else:
        raise SystemExit(f"accepted {text!r}")
"""


def test_invalid_object_keys_are_invalid_argument() -> None:
    r = subprocess.run(
        [sys.executable, "-S", "-c", f"SRC = {SRC!r}\n" + CODE],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 3
    assert all(line.startswith("request body: invalid JSON") for line in lines)
    assert "Expecting property name enclosed in double quotes" in lines[0]
