from __future__ import annotations

import io

import pytest

from berth.cli.progress import StreamError, display
from berth.images import progress as pm

MSGS = [
    pm.status("Pulling from library/busybox", "latest"),
    pm.status("Pulling fs layer", "aaa"),
    pm.status("Pulling fs layer", "bbb"),
    pm.progress("Downloading", "aaa", 5, 10),
    pm.status("Pull complete", "aaa"),
    pm.status("Pull complete", "bbb"),
    pm.status("Digest: sha256:1"),
    pm.status("Status: Downloaded newer image for busybox:latest"),
]


def test_plain_lines_without_a_terminal() -> None:
    out = io.StringIO()
    display(MSGS, out, tty=False)
    assert out.getvalue().splitlines() == [
        "latest: Pulling from library/busybox",
        "aaa: Pulling fs layer",
        "bbb: Pulling fs layer",
        "aaa: Pull complete",
        "bbb: Pull complete",
        "Digest: sha256:1",
        "Status: Downloaded newer image for busybox:latest",
    ]


def test_terminal_rewrites_each_layer_line() -> None:
    out = io.StringIO()
    display(MSGS, out, tty=True)
    text = out.getvalue()
    # "aaa" is 2 lines above the end when its progress arrives (after latest, aaa, bbb)
    assert "\x1b[2A\x1b[2K\raaa: Downloading [" + "=" * 25 + ">" in text
    assert text.endswith("Status: Downloaded newer image for busybox:latest\n")
    assert text.count("\n") == 5


def test_error_message_raises() -> None:
    with pytest.raises(StreamError, match="manifest unknown"):
        display([pm.status("x"), pm.error("manifest unknown")], io.StringIO(), tty=False)


def test_stream_messages_are_written_as_is() -> None:
    out = io.StringIO()
    display([{"stream": "Loaded image: busybox:latest\n"}], out, tty=False)
    assert out.getvalue() == "Loaded image: busybox:latest\n"
