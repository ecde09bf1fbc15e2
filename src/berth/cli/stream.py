"""Copy a container's attached streams to and from this terminal (run, start -a, attach, exec).

With a TTY: the local terminal goes into raw mode (restored on the way out),
the container's pty gets our window size at start and on SIGWINCH, and the
bytes pass through unchanged. Without: the daemon's stdcopy frames are split
back into stdout and stderr. Stdin (``-i``) is copied until EOF, then the
write side is shut so the container sees EOF too. Ctrl-P Ctrl-Q (or the
``--detach-keys`` sequence) detaches from a TTY session, as in Docker:
:func:`copy_streams` then returns True. Signals the CLI receives are
forwarded to the container (``--sig-proxy``, on by default without a TTY).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from berth.cli.command import Context
    from berth.client.http import RawStream

DETACH = b"\x10\x11"  # ctrl-p ctrl-q


def _resize(ctx: Context, path: str, fd: int) -> None:
    import fcntl
    import struct

    try:
        packed = fcntl.ioctl(fd, 0x5413, struct.pack("HHHH", 0, 0, 0, 0))  # TIOCGWINSZ
    except OSError:
        return
    rows, cols = struct.unpack("HHHH", packed)[:2]
    if rows and cols:
        try:
            ctx.client.post_json(path, {"h": rows, "w": cols})
        except Exception:
            pass


def copy_streams(
    ctx: Context,
    stream: RawStream,
    cid: str,
    *,
    tty: bool,
    stdin: bool,
    sig_proxy: bool = True,
    detach_keys: bytes = DETACH,
    resize_path: str | None = None,
    session: dict[str, Any] | None = None,
) -> bool:
    """Copy until the stream ends; True when the user detached with the detach keys.

    ``resize_path`` is where window sizes go (an exec's ``/exec/{id}/resize``;
    the container's by default). ``session``: the stream is a run session's
    (berth.api.run_session): multiplexed even with a TTY, its documents (stream
    3) are put in ``session``, and the copy ends with the last (the exit status,
    or why the start failed).
    """
    import select

    from berth.api.detachkeys import EscapeProxy

    out = sys.stdout.buffer
    err = sys.stderr.buffer
    in_fd = sys.stdin.fileno() if stdin else -1
    saved = None
    if tty and stdin and os.isatty(in_fd):
        import termios
        import tty as ttymod

        saved = termios.tcgetattr(in_fd)
        ttymod.setraw(in_fd, termios.TCSANOW)  # as Docker: keep what was typed ahead
    path = resize_path or f"/containers/{cid}/resize"
    if tty and os.isatty(1):
        if session is None:  # (a session's container is sized once it runs)
            _resize(ctx, path, 1)
        try:
            import _signal  # type: ignore[import-not-found]

            _signal.signal(28, lambda *_: _resize(ctx, path, 1))  # SIGWINCH
        except (ImportError, ValueError):
            pass
    elif sig_proxy and not tty:
        _proxy_signals(ctx, cid)
    demux = None
    if not tty or session is not None:
        from berth.api.stdcopy import Demuxer

        demux = Demuxer()
    done = False

    def emit(data: bytes) -> bool:
        """Write out ``data``; True once the session's last document came."""
        if session is None:
            _emit(data, demux, out, err)
            return False
        for kind, payload in demux.feed(data):  # type: ignore[union-attr]
            if kind != 3:
                target = err if kind == 2 else out
                target.write(payload)
                target.flush()
                continue
            from berth.jsonio import loads

            doc = loads(payload, "the daemon's run session")
            if "Warnings" in doc:
                for w in doc["Warnings"] or []:
                    err.write(f"WARNING: {w}\n".encode())
                err.flush()
            elif doc.get("Started"):
                if tty and os.isatty(1):
                    _resize(ctx, path, 1)
            else:
                session.update(doc)
                return True
        return False

    proxy = EscapeProxy(detach_keys) if tty and stdin else None
    detached = False
    try:
        initial = stream.initial()
        if initial:
            done = emit(initial)
        fds = [stream.fileno()] + ([in_fd] if in_fd >= 0 else [])
        while not done:
            try:
                ready, _, _ = select.select(fds, [], [])
            except InterruptedError:
                continue
            if stream.fileno() in ready:
                data = stream.sock.recv(65536)
                if not data:
                    break
                done = emit(data)
                if done:
                    break
            if in_fd in ready:
                data = os.read(in_fd, 65536)
                if not data:
                    fds.remove(in_fd)
                    if proxy is not None and proxy.held:
                        stream.write(proxy.flush())
                    stream.close_write()
                    continue
                if proxy is not None:
                    data, detached = proxy.feed(data)
                if data:
                    stream.write(data)
                if detached:
                    break
    finally:
        if saved is not None:
            import termios

            termios.tcsetattr(in_fd, termios.TCSADRAIN, saved)
        stream.close()
        out.flush()
        err.flush()
    return detached


def _emit(data: bytes, demux: object, out: object, err: object) -> None:
    if demux is None:
        out.write(data)  # type: ignore[attr-defined]
        out.flush()  # type: ignore[attr-defined]
        return
    for kind, payload in demux.feed(data):  # type: ignore[attr-defined]
        target = err if kind == 2 else out
        target.write(payload)  # type: ignore[attr-defined]
        target.flush()  # type: ignore[attr-defined]


def _proxy_signals(ctx: Context, cid: str) -> None:
    import _signal

    def forward(signum: int, _frame: object) -> None:
        try:
            ctx.client.post_json(f"/containers/{cid}/kill", {"signal": str(signum)})
        except Exception:
            pass

    for sig in (1, 2, 3, 10, 12, 15):
        try:
            _signal.signal(sig, forward)
        except (OSError, ValueError):
            continue
