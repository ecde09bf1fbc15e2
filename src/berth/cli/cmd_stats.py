"""``berth stats`` and ``berth top``: Docker's flags, columns and exit codes.

``stats`` without containers follows the running ones (every one with
``-a``), re-reading the list as containers come and go; with names it
follows those. Each container's stats stream is read on its own connection
(a thread each); the table is redrawn twice a second, the screen cleared
first, as docker does. ``--no-stream`` prints one table (each container's
``stream=false`` answer, which the engine gives after two samples a second
apart, so that the CPU share is measured) and exits.
"""

from __future__ import annotations

import threading
import time

from berth.cli.command import Context, command
from berth.cli.flags import Flag
from berth.errors import BerthError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from berth.cli.flags import Parsed
    from berth.cli.statsformat import StatsRow

CLEAR = "\033[2J\033[H"
REDRAW = 0.5  # seconds between two tables
RELIST = 2.0  # seconds between two container lists (without names)


@command(
    "berth top CONTAINER [ps OPTIONS]",
    "Display the running processes of a container",
    [],
    min_args=1,
    interspersed=False,
)
def top(ctx: Context, opts: Parsed) -> int:
    from berth.cli.tabwriter import align

    query = {"ps_args": " ".join(opts.args[1:])} if len(opts.args) > 1 else None
    answer = ctx.client.get_json(f"/containers/{opts.args[0]}/top", query)
    lines = ["\t".join(answer.get("Titles") or [])]
    lines += ["\t".join(p) for p in answer.get("Processes") or []]
    ctx.out.write(align("".join(line + "\n" for line in lines), 20, 3))
    return 0


class _Follower:
    """One container's stats stream, read on its own connection."""

    def __init__(self, ctx: Context, ref: str, label: str) -> None:
        self.ref = ref
        self.label = label
        self.doc: dict[str, Any] | None = None
        self.error: BerthError | None = None
        self.done = False
        self.client: Any = None
        self.thread = threading.Thread(target=self._run, args=(ctx,), daemon=True)
        self.thread.start()

    def _run(self, ctx: Context) -> None:
        from berth.client.api import Client

        try:
            self.client = Client(ctx.client.host, version=ctx.client.api_version)
            for doc in self.client.stream_json("GET", f"/containers/{self.ref}/stats"):
                self.doc = doc
        except BerthError as e:
            self.error = e
        except OSError:
            pass
        finally:
            self.done = True

    def row(self, trunc: bool) -> StatsRow:
        from berth.cli.statsformat import StatsRow

        return StatsRow(self.label, self.doc, trunc)

    def stop(self) -> None:
        if self.client is not None:
            try:
                self.client.close()
            except OSError:
                pass


def _containers(ctx: Context, show_all: bool) -> list[tuple[str, str]]:
    """(id, label) of the containers to show without names: the 12-digit id as label."""
    listed = ctx.client.get_json("/containers/json", {"all": int(show_all)})
    return [(str(c["Id"]), str(c["Id"])[:12]) for c in listed]


def _one_shot(ctx: Context, targets: list[tuple[str, str]], trunc: bool) -> tuple[list[Any], int]:
    """Each container's ``stream=false`` stats, fetched side by side."""
    from berth.cli.statsformat import StatsRow
    from berth.client.api import Client

    results: dict[str, dict[str, Any] | BerthError] = {}

    def fetch(ref: str) -> None:
        try:
            with Client(ctx.client.host, version=ctx.client.api_version) as c:
                results[ref] = c.get_json(f"/containers/{ref}/stats", {"stream": 0})
        except BerthError as e:
            results[ref] = e

    threads = [threading.Thread(target=fetch, args=(ref,)) for ref, _ in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = []
    failed = 0
    for ref, label in targets:
        got = results.get(ref)
        if isinstance(got, BerthError):
            ctx.err.write(f"Error response from daemon: {got.message}\n")
            failed += 1
            continue
        rows.append(StatsRow(label, got, trunc))
    return rows, failed


@command(
    "berth stats [OPTIONS] [CONTAINER...]",
    "Display a live stream of container(s) resource usage statistics",
    [
        Flag("-a", "--all", help="Show all containers (default shows just running)"),
        Flag("--format", kind="str", help="Pretty-print images using a Go template"),
        Flag("--no-stream", help="Disable streaming stats and only pull the first result"),
        Flag("--no-trunc", help="Do not truncate output"),
    ],
)
def stats(ctx: Context, opts: Parsed) -> int:
    from berth.cli.statsformat import render

    trunc = not opts.no_trunc
    named = list(opts.args)
    if named:
        targets = []
        for ref in named:
            info = ctx.client.get_json(f"/containers/{ref}/json")  # No such container: exit 1
            targets.append((str(info["Id"]), ref))
    else:
        targets = _containers(ctx, opts.all)
    if opts.no_stream:
        rows, failed = _one_shot(ctx, targets, trunc)
        ctx.out.write(render(rows, opts.format))
        return 1 if failed else 0
    followers: dict[str, _Follower] = {ref: _Follower(ctx, ref, label) for ref, label in targets}
    listed_at = time.monotonic()
    try:
        while True:
            if not named and time.monotonic() - listed_at >= RELIST:
                listed_at = time.monotonic()
                current = dict(_containers(ctx, opts.all))
                for ref in list(followers):
                    if ref not in current:
                        followers.pop(ref).stop()
                for ref, label in current.items():
                    if ref not in followers:
                        followers[ref] = _Follower(ctx, ref, label)
            for ref, f in list(followers.items()):
                if f.done and (f.error is not None or named):
                    followers.pop(ref).stop()  # removed (or never there)
            rows = [f.row(trunc) for f in followers.values()]
            ctx.out.write(CLEAR + render(rows, opts.format))
            ctx.out.flush()
            if named and not followers:
                return 0
            time.sleep(REDRAW)
    finally:
        for f in followers.values():
            f.stop()
