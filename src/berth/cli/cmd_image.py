"""Image commands: pull, push, images/image ls, tag, rmi/image rm, image inspect, history,
save, load, import, image prune, login, logout.

Each parses Docker's flags, calls one Engine API endpoint (berth.api.images)
and prints what docker prints. Registry credentials for pull/push are read
from Docker's config.json (berth.images.credentials) and sent in the
``X-Registry-Auth`` header, as docker does.
"""

from __future__ import annotations

from berth.cli.command import FORMAT_HELP, Context, command
from berth.cli.flags import Flag
from berth.cli.units import size3

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from berth.cli.flags import Parsed

FORMAT = Flag("-f", "--format", kind="str", help=FORMAT_HELP)
FILTER = Flag("-f", "--filter", kind="list", help="Filter output based on conditions provided")
QUIET_PULL = Flag("-q", "--quiet", help="Suppress verbose output")
PLATFORM = Flag("--platform", kind="str", help="Set platform if server is multi-platform capable")
TRUST = Flag("--disable-content-trust", default=True, help="Skip image verification", hidden=True)


def _auth_header(server: str) -> list[tuple[str, str]]:
    import base64

    from berth.images import credentials
    from berth.jsonio import dumps

    creds = credentials.load(server)
    if creds is None:
        return []
    doc = {"username": creds.username, "password": creds.password, "serveraddress": server}
    if creds.token:
        doc["identitytoken"] = creds.token
    return [("X-Registry-Auth", base64.urlsafe_b64encode(dumps(doc).encode()).decode())]


def _stream(
    ctx: Context,
    method: str,
    path: str,
    query: dict[str, object],
    headers: list[tuple[str, str]],
    body: bytes | None = None,
) -> Iterator[dict[str, Any]]:
    from berth.client.api import json_messages

    resp = ctx.client.request(method, path, query, body, headers=headers, stream=True)
    return json_messages(resp)


def _show(ctx: Context, messages: Iterator[dict[str, Any]], quiet: bool = False) -> None:
    from berth.cli.progress import StreamError, display
    from berth.client.api import DaemonError

    if quiet:
        for msg in messages:
            if "error" in msg or "errorDetail" in msg:
                detail = msg.get("errorDetail") or {}
                raise DaemonError(str(detail.get("message") or msg.get("error")))
        return
    try:
        display(messages, ctx.out)
    except StreamError as e:
        raise DaemonError(e.message) from None


@command(
    "berth pull [OPTIONS] NAME[:TAG|@DIGEST]",
    "Download an image from a registry",
    [
        Flag("-a", "--all-tags", help="Download all tagged images in the repository"),
        PLATFORM,
        QUIET_PULL,
        TRUST,
    ],
    min_args=1,
    max_args=1,
)
def pull(ctx: Context, opts: Parsed) -> int:
    from berth.errors import InvalidArgument
    from berth.oci import reference

    if opts.all_tags:
        raise InvalidArgument("--all-tags is not supported by berth yet")
    text = opts.args[0]
    ref = reference.parse(text, default_tag=False)
    if ref.tag is None and ref.digest is None:
        if not opts.quiet:
            ctx.print("Using default tag: latest")
        ref = ref.with_tag("latest")
    query: dict[str, object] = {"fromImage": ref.familiar_name}
    query["tag"] = ref.digest or ref.tag
    if opts.platform:
        query["platform"] = opts.platform
    _show(ctx, _stream(ctx, "POST", "/images/create", query, _auth_header(ref.domain)), opts.quiet)
    ctx.print(str(ref))
    return 0


@command(
    "berth push [OPTIONS] NAME[:TAG]",
    "Upload an image to a registry",
    [
        Flag("-a", "--all-tags", help="Push all tags of an image to the repository"),
        QUIET_PULL,
        TRUST,
    ],
    min_args=1,
    max_args=1,
)
def push(ctx: Context, opts: Parsed) -> int:
    from berth.oci import reference

    ref = reference.parse(opts.args[0], default_tag=False)
    if ref.tag is None and not opts.all_tags:
        if not opts.quiet:
            ctx.print("Using default tag: latest")
        ref = ref.with_tag("latest")
    query: dict[str, object] = {"tag": ref.tag} if ref.tag else {}
    path = f"/images/{ref.familiar_name}/push"
    _show(ctx, _stream(ctx, "POST", path, query, _auth_header(ref.domain)), opts.quiet)
    if opts.quiet:
        ctx.print(ref.familiar())
    return 0


def _ago(created: float) -> str:
    import time

    from berth.cli.units import human_duration

    if created <= 0:
        return "N/A"
    return human_duration(time.time() - created) + " ago"


class _ImageRow:
    """The fields ``docker images --format`` knows."""

    def __init__(self, s: dict[str, Any], repo: str, tag: str, digest: str, trunc: bool) -> None:
        self.Repository = repo
        self.Tag = tag
        self.Digest = digest
        full = str(s.get("Id", ""))
        self.ID = full.split(":", 1)[-1][:12] if trunc else full
        self.CreatedSince = _ago(float(s.get("Created") or 0))
        import time

        self.CreatedAt = time.strftime(
            "%Y-%m-%d %H:%M:%S %z %Z", time.localtime(float(s.get("Created") or 0))
        )
        self.Size = size3(float(s.get("Size") or 0))
        self.VirtualSize = self.Size
        self.SharedSize = "N/A"
        self.UniqueSize = "N/A"
        self.Containers = "N/A" if s.get("Containers", -1) < 0 else str(s.get("Containers"))


def _rows(summaries: list[dict[str, Any]], trunc: bool, all_: bool) -> list[_ImageRow]:
    out = []
    for s in summaries:
        tags = s.get("RepoTags") or []
        digests = s.get("RepoDigests") or []
        by_repo: dict[str, str] = {}
        for d in digests:
            repo, _, dg = d.partition("@")
            by_repo.setdefault(repo, dg)
        if not tags:
            repo = digests[0].partition("@")[0] if digests else "<none>"
            dg = digests[0].partition("@")[2] if digests else "<none>"
            out.append(_ImageRow(s, repo, "<none>", dg, trunc))
            continue
        for t in tags:
            cut = t.rfind(":")
            repo, tag = (t[:cut], t[cut + 1 :]) if cut > t.rfind("/") else (t, "<none>")
            out.append(_ImageRow(s, repo, tag, by_repo.get(repo, "<none>"), trunc))
    return out


@command(
    "berth images [OPTIONS] [REPOSITORY[:TAG]]",
    "List images",
    [
        Flag("-a", "--all", help="Show all images (default hides intermediate images)"),
        Flag("--digests", help="Show digests"),
        FILTER,
        Flag("--format", kind="str", help=FORMAT_HELP),
        Flag("--no-trunc", help="Don't truncate output"),
        Flag("-q", "--quiet", help="Only show image IDs"),
    ],
    max_args=1,
)
def images(ctx: Context, opts: Parsed) -> int:
    from berth.images.filters import parse_cli_filters
    from berth.jsonio import dumps

    f = parse_cli_filters(opts.filter)
    if opts.args:
        f.setdefault("reference", []).append(opts.args[0])
    query: dict[str, object] = {"all": int(opts.all)}
    if f:
        query["filters"] = dumps(f)
    summaries = ctx.client.get_json("/images/json", query) or []
    trunc = not opts.no_trunc
    if opts.quiet:
        seen = []
        for s in summaries:
            ident = str(s["Id"]).split(":", 1)[-1][:12] if trunc else str(s["Id"])
            if ident not in seen:
                seen.append(ident)
        for ident in seen:
            ctx.print(ident)
        return 0
    rows = _rows(summaries, trunc, opts.all)
    fmt = opts.format
    if not fmt:
        if opts.digests:
            fmt = (
                "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}"
                "\t{{.CreatedSince}}\t{{.Size}}"
            )
        else:
            fmt = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    from berth.cli.template import render

    headers = {
        "Repository": "REPOSITORY",
        "Tag": "TAG",
        "Digest": "DIGEST",
        "ID": "IMAGE ID",
        "CreatedSince": "CREATED",
        "CreatedAt": "CREATED AT",
        "Size": "SIZE",
        "SharedSize": "SHARED SIZE",
        "UniqueSize": "UNIQUE SIZE",
        "Containers": "CONTAINERS",
    }
    ctx.out.write(render(fmt, list(rows), headers))
    return 0


@command(
    "berth tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
    "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
    min_args=2,
    max_args=2,
)
def tag(ctx: Context, opts: Parsed) -> int:
    from berth.oci import reference

    target = reference.parse(opts.args[1])
    ctx.client.request(
        "POST",
        f"/images/{opts.args[0]}/tag",
        {"repo": target.familiar_name, "tag": target.tag or "latest"},
    )
    return 0


@command(
    "berth rmi [OPTIONS] IMAGE [IMAGE...]",
    "Remove one or more images",
    [
        Flag("-f", "--force", help="Force removal of the image"),
        Flag("--no-prune", help="Do not delete untagged parents"),
    ],
    min_args=1,
)
def rmi(ctx: Context, opts: Parsed) -> int:
    from berth.client.api import DaemonError
    from berth.errors import BerthError

    status = 0
    for name in opts.args:
        try:
            items = ctx.client.delete(
                f"/images/{name}", {"force": int(opts.force), "noprune": int(opts.no_prune)}
            )
        except BerthError as e:
            prefix = "Error response from daemon: " if isinstance(e, DaemonError) else ""
            ctx.err.write(f"{prefix}{e}\n")
            status = 1
            continue
        for item in items or []:
            for key in ("Untagged", "Deleted"):
                if key in item:
                    ctx.print(f"{key}: {item[key]}")
    return status


@command(
    "berth image inspect [OPTIONS] IMAGE [IMAGE...]",
    "Display detailed information on one or more images",
    [FORMAT],
    min_args=1,
)
def image_inspect(ctx: Context, opts: Parsed) -> int:
    from berth.errors import NotFound

    docs = []
    status = 0
    for name in opts.args:
        try:
            docs.append(ctx.client.get_json(f"/images/{name}/json"))
        except NotFound:
            ctx.err.write(f"Error: No such image: {name}\n")
            status = 1
    if opts.format:
        from berth.cli.template import Template, parse_format

        _, text = parse_format(opts.format)
        tpl = Template(text)
        for d in docs:
            ctx.print(tpl.execute(d))
    else:
        ctx.print_json(docs)
    return status


@command(
    "berth history [OPTIONS] IMAGE",
    "Show the history of an image",
    [
        FORMAT,
        Flag("-H", "--human", default=True, help="Print sizes and dates in human readable format"),
        Flag("--no-trunc", help="Don't truncate output"),
        Flag("-q", "--quiet", help="Only show image IDs"),
    ],
    min_args=1,
    max_args=1,
)
def history(ctx: Context, opts: Parsed) -> int:
    import time

    items = ctx.client.get_json(f"/images/{opts.args[0]}/history") or []
    trunc = not opts.no_trunc
    if opts.quiet:
        for h in items:
            ident = str(h["Id"])
            ctx.print(ident.split(":", 1)[-1][:12] if trunc and ident != "<missing>" else ident)
        return 0

    class Row:
        def __init__(self, h: dict[str, Any]) -> None:
            ident = str(h.get("Id", ""))
            self.ID = ident.split(":", 1)[-1][:12] if trunc and ident != "<missing>" else ident
            created = float(h.get("Created") or 0)
            self.CreatedSince = (
                _ago(created)
                if opts.human
                else time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(created))
            )
            self.CreatedAt = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(created))
            by = str(h.get("CreatedBy", "")).replace("\t", " ")
            self.CreatedBy = by[:44] + "…" if trunc and len(by) > 45 else by
            size = float(h.get("Size") or 0)
            self.Size = size3(size) if opts.human else str(int(size))
            self.Comment = str(h.get("Comment", ""))

    from berth.cli.template import render

    fmt = opts.format or (
        "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
    )
    headers = {
        "ID": "IMAGE",
        "CreatedSince": "CREATED",
        "CreatedAt": "CREATED AT",
        "CreatedBy": "CREATED BY",
        "Size": "SIZE",
        "Comment": "COMMENT",
    }
    ctx.out.write(render(fmt, [Row(h) for h in items], headers))
    return 0


@command(
    "berth save [OPTIONS] IMAGE [IMAGE...]",
    "Save one or more images to a tar archive (streamed to STDOUT by default)",
    [Flag("-o", "--output", kind="str", help="Write to a file, instead of STDOUT"), PLATFORM],
    min_args=1,
)
def save(ctx: Context, opts: Parsed) -> int:
    import os
    import sys

    from berth.errors import InvalidArgument

    out_fd: int
    if opts.output:
        out_fd = os.open(opts.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    else:
        if sys.stdout.isatty():
            raise InvalidArgument(
                "cowardly refusing to save to a terminal. Use the -o flag or redirect"
            )
        sys.stdout.flush()
        out_fd = sys.stdout.fileno()
    query = {"names": list(opts.args)}
    try:
        resp = ctx.client.request("GET", "/images/get", query, stream=True)
        for chunk in resp.iter_body():
            view = memoryview(chunk)
            while view:
                view = view[os.write(out_fd, view) :]
    finally:
        if opts.output:
            os.close(out_fd)
    return 0


@command(
    "berth load [OPTIONS]",
    "Load an image from a tar archive or STDIN",
    [
        Flag("-i", "--input", kind="str", help="Read from tar archive file, instead of STDIN"),
        Flag("-q", "--quiet", help="Suppress the load output"),
        PLATFORM,
    ],
    max_args=0,
)
def load(ctx: Context, opts: Parsed) -> int:
    import sys

    from berth.errors import InvalidArgument

    if opts.input:
        with open(opts.input, "rb") as f:
            data = f.read()
    else:
        if sys.stdin.isatty():
            raise InvalidArgument(
                "requested load from stdin, but stdin is empty (use -i or redirect a file)"
            )
        data = sys.stdin.buffer.read()
    headers = [("Content-Type", "application/x-tar")]
    query: dict[str, object] = {"quiet": int(opts.quiet)}
    _show(ctx, _stream(ctx, "POST", "/images/load", query, headers, data))
    return 0


@command(
    "berth import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
    "Import the contents from a tarball to create a filesystem image",
    [
        Flag(
            "-c", "--change", kind="list", help="Apply Dockerfile instruction to the created image"
        ),
        Flag("-m", "--message", kind="str", help="Set commit message for imported image"),
        PLATFORM,
    ],
    min_args=1,
    max_args=2,
)
def import_(ctx: Context, opts: Parsed) -> int:
    import sys

    from berth.errors import InvalidArgument
    from berth.oci import reference

    src = opts.args[0]
    if src == "-":
        data = sys.stdin.buffer.read()
    elif "://" in src:
        raise InvalidArgument("importing from a URL is not supported by berth; download it first")
    else:
        with open(src, "rb") as f:
            data = f.read()
    query: dict[str, object] = {"fromSrc": "-"}
    if len(opts.args) > 1:
        ref = reference.parse(opts.args[1])
        query["repo"] = ref.familiar_name
        query["tag"] = ref.tag
    if opts.message:
        query["message"] = opts.message
    if opts.change:
        query["changes"] = list(opts.change)
    if opts.platform:
        query["platform"] = opts.platform
    for msg in _stream(
        ctx, "POST", "/images/create", query, [("Content-Type", "application/x-tar")], data
    ):
        if "error" in msg or "errorDetail" in msg:
            from berth.client.api import DaemonError

            raise DaemonError(str((msg.get("errorDetail") or {}).get("message") or msg["error"]))
        status = str(msg.get("status", ""))
        if status.startswith("sha256:"):
            ctx.print(status)
    return 0


@command(
    "berth image prune [OPTIONS]",
    "Remove unused images",
    [
        Flag("-a", "--all", help="Remove all unused images, not just dangling ones"),
        Flag("--filter", kind="list", help='Provide filter values (e.g. "until=<timestamp>")'),
        Flag("-f", "--force", help="Do not prompt for confirmation"),
    ],
    max_args=0,
)
def image_prune(ctx: Context, opts: Parsed) -> int:

    from berth.images.filters import parse_cli_filters
    from berth.jsonio import dumps

    if not opts.force:
        warning = (
            "WARNING! This will remove all images without at least one container"
            " associated to them."
            if opts.all
            else "WARNING! This will remove all dangling images."
        )
        if not ctx.confirm(warning):
            return 0
    f = parse_cli_filters(opts.filter)
    if opts.all:
        f["dangling"] = ["false"]
    report = ctx.client.post_json("/images/prune", {"filters": dumps(f)} if f else None) or {}
    deleted = report.get("ImagesDeleted") or []
    if deleted:
        ctx.print("Deleted Images:")
        for item in deleted:
            for key in ("Untagged", "Deleted"):
                if key in item:
                    ctx.print(f"{key.lower()}: {item[key]}")
        ctx.print()
    ctx.print(f"Total reclaimed space: {size3(float(report.get('SpaceReclaimed') or 0))}")
    return 0


@command(
    "berth login [OPTIONS] [SERVER]",
    "Log in to a registry",
    [
        Flag("-u", "--username", kind="str", help="Username"),
        Flag("-p", "--password", kind="str", help="Password"),
        Flag("--password-stdin", help="Take the password from stdin"),
    ],
    max_args=1,
)
def login(ctx: Context, opts: Parsed) -> int:
    import sys

    from berth.errors import InvalidArgument
    from berth.images import credentials

    server = opts.args[0] if opts.args else credentials.HUB_KEY
    password = opts.password or ""
    if opts.password:
        ctx.err.write("WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n")
    if opts.password_stdin:
        if opts.password:
            raise InvalidArgument("--password and --password-stdin are mutually exclusive")
        if not opts.username:
            raise InvalidArgument("Must provide --username with --password-stdin")
        password = sys.stdin.read().rstrip("\n").rstrip("\r")
    username = opts.username or ""
    if not username:
        ctx.out.write("Username: ")
        ctx.out.flush()
        username = sys.stdin.readline().strip()
    if not password:
        import getpass

        password = getpass.getpass("Password: ")
    if not username or not password:
        raise InvalidArgument("Error: Non-null Username and Password Required")
    body = {"username": username, "password": password, "serveraddress": server}
    answer = ctx.client.post_json("/auth", None, body) or {}
    path = credentials.store(server, username, password)
    ctx.err.write(
        f"WARNING! Your password will be stored unencrypted in {path}.\n"
        "Configure a credential helper to remove this warning. See\n"
        "https://docs.docker.com/engine/reference/commandline/login/#credentials-store\n\n"
    )
    ctx.print(str(answer.get("Status") or "Login Succeeded"))
    return 0


@command("berth logout [SERVER]", "Log out from a registry", max_args=1)
def logout(ctx: Context, opts: Parsed) -> int:
    from berth.images import credentials

    server = opts.args[0] if opts.args else credentials.HUB_KEY
    shown = credentials.server_key(server)
    if credentials.erase(server):
        ctx.print(f"Removing login credentials for {shown}")
    else:
        ctx.print(f"Not logged in to {shown}")
    return 0
