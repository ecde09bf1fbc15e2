"""``berth build``: Docker's classic ``docker build`` against ``POST /build``.

The context directory is sent as a tar, less what ``.dockerignore`` excludes
(the Dockerfile and ``.dockerignore`` themselves are always sent, as Docker
does); ``-`` reads a context tar from stdin. A Dockerfile given with ``-f``
outside the context is sent inside it under a private name. The daemon's
output is printed as it comes; a failed step ends the command with its code
(the RUN's exit status), as Docker's CLI does.
"""

from __future__ import annotations

from berth.cli.command import Context, command
from berth.cli.flags import Flag

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from berth.cli.flags import Parsed


def context_tar(root: str, dockerfile: str) -> tuple[bytes, str]:
    """The context under ``root`` as a tar (``.dockerignore`` applied) and the
    Dockerfile's name in it."""
    import io
    import os
    import stat
    import tarfile

    from berth.build.ignore import Ignore

    ignore_path = os.path.join(root, ".dockerignore")
    try:
        with open(ignore_path, encoding="utf-8") as f:
            ignore = Ignore(f.read())
    except FileNotFoundError:
        ignore = Ignore("")
    df_abs = os.path.abspath(dockerfile)
    root_abs = os.path.abspath(root)
    inside = df_abs.startswith(root_abs + os.sep)
    df_name = os.path.relpath(df_abs, root_abs) if inside else f".dockerfile.{os.urandom(10).hex()}"
    keep = {df_name.replace(os.sep, "/"), ".dockerignore"}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:

        def add(path: str, rel: str) -> None:
            st = os.lstat(path)
            ti = tf.gettarinfo(path, rel)
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = ""
            if stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    tf.addfile(ti, f)
            elif stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode):
                tf.addfile(ti)
            # sockets, fifos and devices in a context are left out, as Docker does

        stack = [""]
        while stack:
            rel_dir = stack.pop()
            full_dir = os.path.join(root, rel_dir) if rel_dir else root
            for name in sorted(os.listdir(full_dir)):
                rel = f"{rel_dir}/{name}" if rel_dir else name
                full = os.path.join(root, rel)
                is_dir = os.path.isdir(full) and not os.path.islink(full)
                if rel not in keep and ignore.excluded(rel, is_dir):
                    if is_dir and not ignore.can_skip_dir(rel):
                        stack.append(rel)  # an exception may re-include something inside
                    continue
                add(full, rel)
                if is_dir:
                    stack.append(rel)
        if not inside:
            ti = tf.gettarinfo(df_abs, df_name)
            ti.uid = ti.gid = 0
            with open(df_abs, "rb") as dff:
                tf.addfile(ti, dff)
    return buf.getvalue(), df_name


@command(
    "berth build [OPTIONS] PATH | -",
    "Build an image from a Dockerfile",
    [
        Flag("--build-arg", kind="list", help="Set build-time variables"),
        Flag(
            "-f", "--file", kind="str", help="Name of the Dockerfile (Default is 'PATH/Dockerfile')"
        ),
        Flag("--force-rm", help="Always remove intermediate containers"),
        Flag("--label", kind="list", help="Set metadata for an image"),
        Flag(
            "--network",
            kind="str",
            help="Set the networking mode for the RUN instructions during build",
        ),
        Flag("--no-cache", help="Do not use cache when building the image"),
        Flag("--pull", help="Always attempt to pull a newer version of the image"),
        Flag("-q", "--quiet", help="Suppress the build output and print image ID on success"),
        Flag(
            "--rm",
            default=True,
            help="Remove intermediate containers after a successful build (default true)",
        ),
        Flag("-t", "--tag", kind="list", help="Name and optionally a tag in the 'name:tag' format"),
        Flag("--target", kind="str", help="Set the target build stage to build."),
    ],
    min_args=1,
    max_args=1,
)
def build(ctx: Context, opts: Parsed) -> int:
    import os
    import sys

    from berth import jsonio
    from berth.cli.units import human_size
    from berth.client.api import json_messages
    from berth.errors import InvalidArgument
    from berth.oci import reference

    for tag in opts.tag:
        try:
            reference.parse(tag)
        except InvalidArgument:
            raise InvalidArgument(
                f'invalid argument "{tag}" for "-t, --tag" flag: invalid reference format'
            ) from None
    path = opts.args[0]
    if path == "-":
        body = sys.stdin.buffer.read()
        dockerfile = opts.file or "Dockerfile"
    else:
        if not os.path.isdir(path):
            raise InvalidArgument(f'unable to prepare context: path "{path}" not found')
        df = opts.file or os.path.join(path, "Dockerfile")
        if not os.path.exists(df):
            raise InvalidArgument(
                "unable to prepare context: unable to evaluate symlinks in Dockerfile path:"
                f" lstat {os.path.abspath(df)}: no such file or directory"
            )
        body, dockerfile = context_tar(path, df)
        if not opts.quiet:
            ctx.out.write(f"Sending build context to Docker daemon  {human_size(len(body))}\r\n")
            ctx.out.write("\n")
    args: dict[str, str | None] = {}
    for item in opts.build_arg:
        key, eq, value = item.partition("=")
        args[key] = value if eq else os.environ.get(key)
    labels = {}
    for item in opts.label:
        key, _, value = item.partition("=")
        labels[key] = value
    query: dict[str, Any] = {
        "t": list(opts.tag),
        "dockerfile": dockerfile,
        "q": int(bool(opts.quiet)),
        "nocache": int(bool(opts.no_cache)),
        "pull": int(bool(opts.pull)),
        "rm": int(bool(opts.rm)),
        "forcerm": int(bool(opts.force_rm)),
    }
    if args:
        query["buildargs"] = jsonio.dumps(args)
    if labels:
        query["labels"] = jsonio.dumps(labels)
    if opts.target:
        query["target"] = opts.target
    if opts.network:
        query["networkmode"] = opts.network
    resp = ctx.client.request(
        "POST", "/build", query, body, headers=[("Content-Type", "application/x-tar")], stream=True
    )
    image_id = ""
    for msg in json_messages(resp):
        if "error" in msg or "errorDetail" in msg:
            detail = msg.get("errorDetail") or {}
            ctx.out.flush()
            ctx.err.write(str(detail.get("message") or msg.get("error")).rstrip("\n") + "\n")
            return int(detail.get("code") or 1)
        if "aux" in msg:
            image_id = str((msg["aux"] or {}).get("ID") or "")
            continue
        text = msg.get("stream")
        if text and not opts.quiet:
            ctx.out.write(str(text))
            ctx.out.flush()
    if opts.quiet and image_id:
        ctx.print(image_id)
    return 0
