"""Helpers for the volume and container-file tests (cp, diff, commit, export)."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from typing import Any

from support.engine_daemon import PYTHON, Engine


def berth(engine: Engine, *args: str, timeout: float = 60) -> tuple[int, str, str]:
    r = engine.run(list(args), timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def ok(engine: Engine, *args: str) -> str:
    code, out, err = berth(engine, *args)
    assert code == 0, f"berth {' '.join(args)}: {err}\n{engine.log()[-3000:]}"
    return out


def berth_bytes(
    engine: Engine, *args: str, stdin: bytes | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[bytes]:
    """The berth CLI with binary stdin/stdout (tar streams)."""
    return subprocess.run(
        [PYTHON, "-m", "berth.cli.main", *args],
        input=stdin,
        capture_output=True,
        timeout=timeout,
        env=engine.env,
    )


def inspect(engine: Engine, ref: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(ok(engine, "inspect", ref))[0]
    return doc


def tar_of(files: dict[str, bytes | None]) -> bytes:
    """A tar with these entries (``None``: a directory)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tf.addfile(info)
            else:
                info.size = len(data)
                info.mode = 0o644
                tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def tar_names(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return tf.getnames()
