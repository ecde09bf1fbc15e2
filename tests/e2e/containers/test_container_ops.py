"""rename, update, container and system prune, events, logs -f/--since/--until/-t (CLI)."""

from __future__ import annotations

import json
import subprocess
import time

from support.engine_daemon import PYTHON, Engine


def run(engine: Engine, *args: str, input: bytes | None = None) -> tuple[int, str, str]:
    r = engine.run(list(args), input=input, timeout=60)
    return r.returncode, r.stdout, r.stderr


def inspect(engine: Engine, ref: str) -> dict:  # type: ignore[type-arg]
    code, out, err = run(engine, "inspect", ref)
    assert code == 0, err
    doc: dict = json.loads(out)[0]  # type: ignore[type-arg]
    return doc


def cgroup_file(pid: int, controller: str, name: str) -> str:
    """A cgroup v1 file of process ``pid``, read on the host."""
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if controller in controllers.split(","):
                with open(f"/sys/fs/cgroup/{controller}{path}/{name}") as g:
                    return g.read().strip()
    raise AssertionError(f"process {pid} has no {controller} cgroup")


def remove_newest_first(engine: Engine, *names: str) -> None:
    """Remove running containers in the reverse order of their starts: the first one
    made the engine's parent cgroup, and only it removes that parent (cgroups' rule)."""
    for name in names:
        assert run(engine, "rm", "-f", name)[0] == 0


def test_rename(engine: Engine) -> None:
    since = str(time.time())
    assert run(engine, "create", "--name", "a", "busybox", "true")[0] == 0
    assert run(engine, "create", "--name", "b", "busybox", "true")[0] == 0
    assert run(engine, "rename", "a", "c") == (0, "", "")
    out = run(engine, "ps", "-a", "--format", "{{.Names}}")[1]
    assert sorted(out.split()) == ["b", "c"]
    assert inspect(engine, "c")["Name"] == "/c"
    code, _, err = run(engine, "rename", "c", "b")
    assert code == 1 and 'The container name "/b" is already in use' in err
    assert err.endswith("Error: failed to rename container named c\n")
    code, _, err = run(engine, "rename", "c", "c")
    assert code == 1 and "same name as its current name" in err
    code, _, err = run(engine, "rename", "c", "bad/name")
    assert code == 1 and "Invalid container name (bad/name)" in err
    code, _, err = run(engine, "rename", "nope", "x")
    assert code == 1 and "No such container: nope" in err
    _, out, _ = run(
        engine,
        "events",
        "--since",
        since,
        "--until",
        str(time.time()),
        "--filter",
        "event=rename",
        "--format",
        "{{.Actor.Attributes.name}} {{.Actor.Attributes.oldName}}",
    )
    assert out == "c /a\n"
    # the new name works everywhere, a running container included
    assert run(engine, "start", "c")[0] == 0
    assert run(engine, "run", "-d", "--name", "r1", "busybox", "sleep", "60")[0] == 0
    assert run(engine, "rename", "r1", "r2")[0] == 0
    assert run(engine, "exec", "r2", "true")[0] == 0
    remove_newest_first(engine, "r2", "c")


def test_update_a_running_and_a_stopped_container(engine: Engine) -> None:
    code, _, err = run(engine, "run", "-d", "--name", "u", "busybox", "sleep", "300")
    assert code == 0, err
    pid = inspect(engine, "u")["State"]["Pid"]
    code, _, err = run(engine, "update", "-m", "32m", "u")
    assert code == 1 and "update the memoryswap at the same time" in err
    code, out, err = run(
        engine,
        "update",
        "-m",
        "64m",
        "--memory-swap",
        "128m",
        "--cpus",
        "0.5",
        "--pids-limit",
        "20",
        "--cpu-shares",
        "512",
        "--restart",
        "on-failure:2",
        "u",
    )
    assert (code, out) == (0, "u\n"), err
    hc = inspect(engine, "u")["HostConfig"]
    assert (hc["Memory"], hc["MemorySwap"], hc["NanoCpus"], hc["PidsLimit"]) == (
        64 << 20,
        128 << 20,
        500_000_000,
        20,
    )
    assert hc["CpuShares"] == 512
    assert hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    assert cgroup_file(pid, "memory", "memory.limit_in_bytes") == str(64 << 20)
    assert cgroup_file(pid, "pids", "pids.max") == "20"
    assert cgroup_file(pid, "cpu", "cpu.cfs_quota_us") == "50000"
    assert cgroup_file(pid, "cpu", "cpu.shares") == "512"
    code, _, err = run(engine, "update", "--pids-limit", "-1", "u")
    assert code == 0, err
    assert cgroup_file(pid, "pids", "pids.max") == "max"
    code, _, err = run(engine, "update", "--cpu-period", "100000", "u")
    assert code == 1 and "CPU Period cannot be updated as NanoCPUs has already been set" in err
    # the processes in the container feel it: a fork bomb stops at the limit
    run(engine, "update", "--pids-limit", "5", "u")
    code, out, _ = run(
        engine, "exec", "u", "sh", "-c", "for i in 1 2 3 4 5 6 7 8; do sleep 5 & done 2>&1; wait"
    )
    assert "can't fork" in out or "Resource temporarily unavailable" in out
    # a stopped container keeps the values for its next start
    assert run(engine, "create", "--name", "later", "busybox", "sleep", "300")[0] == 0
    assert run(engine, "update", "--pids-limit", "7", "later") == (0, "later\n", "")
    assert run(engine, "start", "later")[0] == 0
    assert cgroup_file(inspect(engine, "later")["State"]["Pid"], "pids", "pids.max") == "7"
    code, _, err = run(engine, "update", "--memory", "1m", "later")
    assert code == 1 and "Minimum memory limit allowed is 6MB" in err
    remove_newest_first(engine, "later", "u")


def test_container_prune(engine: Engine) -> None:
    assert run(engine, "create", "--name", "p1", "--label", "tier=x", "busybox", "true")[0] == 0
    code, _, err = run(
        engine, "run", "--name", "p2", "busybox", "dd", "if=/dev/zero", "of=/blob", "bs=1k",
        "count=300",
    )  # fmt: skip
    assert code == 0, err
    assert run(engine, "run", "-d", "--name", "p3", "busybox", "sleep", "60")[0] == 0
    p1 = inspect(engine, "p1")["Id"]
    code, out, _ = run(engine, "container", "prune", "-f", "--filter", "label=tier=x")
    assert (code, out) == (0, f"Deleted Containers:\n{p1}\n\nTotal reclaimed space: 0B\n")
    code, out, _ = run(engine, "container", "prune", "-f", "--filter", "until=1h")
    assert out == "Total reclaimed space: 0B\n"  # all created less than an hour ago
    code, out, _ = run(engine, "container", "prune", input=b"n\n")
    assert "Are you sure you want to continue? [y/N]" in out
    p2 = inspect(engine, "p2")["Id"]
    code, out, _ = run(engine, "container", "prune", input=b"y\n")
    lines = out.splitlines()
    assert lines[0] == "WARNING! This will remove all stopped containers."
    assert lines[1:3] == ["Are you sure you want to continue? [y/N] Deleted Containers:", p2]
    reclaimed = lines[-1].removeprefix("Total reclaimed space: ")
    assert reclaimed.endswith("kB") and float(reclaimed[:-2]) >= 300
    assert run(engine, "ps", "-a", "--format", "{{.Names}}")[1] == "p3\n"
    code, _, err = run(engine, "container", "prune", "-f", "--filter", "status=exited")
    assert code == 1 and "invalid filter 'status'" in err


def test_sizes_in_ps_inspect_and_df(engine: Engine) -> None:
    code, _, err = run(
        engine, "run", "--name", "sz", "busybox", "dd", "if=/dev/zero", "of=/blob", "bs=1k",
        "count=300",
    )  # fmt: skip
    assert code == 0, err
    image_size = json.loads(run(engine, "image", "inspect", "busybox")[1])[0]["Size"]
    code, out, _ = run(engine, "inspect", "--size", "-f", "{{.SizeRw}} {{.SizeRootFs}}", "sz")
    rw, root = map(int, out.split())
    assert rw >= 300 * 1024 and root == rw + image_size
    assert "SizeRw" not in inspect(engine, "sz")  # only when asked, as Docker
    code, out, _ = run(engine, "ps", "-a", "-s", "--format", "{{.Names}} {{.Size}}")
    assert out.startswith("sz 30") and out.rstrip().endswith("MB)") and "(virtual " in out
    code, out, _ = run(engine, "system", "df", "--format", "{{.Type}} {{.TotalCount}} {{.Size}}")
    assert "Containers 1 30" in out, out
    remove_newest_first(engine, "sz")


def test_system_prune(engine: Engine) -> None:
    assert run(engine, "run", "--name", "s1", "busybox", "true")[0] == 0
    assert run(engine, "run", "-d", "--name", "s2", "busybox", "sleep", "60")[0] == 0
    assert run(engine, "network", "create", "spnet")[0] == 0
    code, out, err = run(engine, "commit", "s1")  # no repository: a dangling image
    assert code == 0, err
    dangling = out.strip()
    s1 = inspect(engine, "s1")["Id"]
    code, out, _ = run(engine, "system", "prune", "--volumes", input=b"n\n")
    assert code == 0
    assert out == (
        "WARNING! This will remove:\n"
        "  - all stopped containers\n"
        "  - all networks not used by at least one container\n"
        "  - all anonymous volumes not used by at least one container\n"
        "  - all dangling images\n"
        "  - unused build cache\n"
        "\nAre you sure you want to continue? [y/N] "
    )
    assert run(engine, "inspect", "s1")[0] == 0  # "n": nothing removed
    code, out, err = run(engine, "system", "prune", "-f")
    assert code == 0, err
    assert out.startswith(
        f"Deleted Containers:\n{s1}\n\nDeleted Networks:\nspnet\n\n"
        f"Deleted Images:\ndeleted: {dangling}\n"
    ), out
    assert out.splitlines()[-1].startswith("Total reclaimed space: ")
    assert run(engine, "ps", "-a", "--format", "{{.Names}}")[1] == "s2\n"
    assert run(engine, "image", "inspect", "busybox")[0] == 0  # in use / tagged: kept
    assert run(engine, "network", "inspect", "spnet")[0] == 1
    code, _, err = run(engine, "system", "prune", "-f", "--filter", "nonsense")
    assert code == 1 and "bad format of filter" in err
    remove_newest_first(engine, "s2")


def test_events_filters_and_stream(engine: Engine) -> None:
    proc = subprocess.Popen(
        [PYTHON, "-m", "berth.cli.main", "events", "--filter", "event=start"],
        env=engine.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(0.5)
        since = str(time.time())
        run(engine, "run", "--name", "ev", "-l", "team=a", "busybox", "sh", "-c", "exit 3")
        run(engine, "run", "--name", "other", "busybox", "true")
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert " container start " in line and "name=ev" in line and "team=a" in line
    finally:
        proc.terminate()
        proc.wait(10)
    until = str(time.time())
    _, out, _ = run(engine, "events", "--since", since, "--until", until)
    events = [line.split()[1:3] for line in out.splitlines()]
    # as Docker: the container's own events, and its network's connect and disconnect
    assert [a for t, a in events if t == "container"] == ["create", "attach", "start", "die"] * 2
    assert [a for t, a in events if t == "network"] == ["connect", "disconnect"] * 2
    _, out, _ = run(
        engine,
        "events",
        "--since",
        since,
        "--until",
        until,
        "--filter",
        "container=ev",
        "--filter",
        "event=die",
        "--format",
        "{{.Type}} {{.Action}} {{.Actor.Attributes.exitCode}} {{.Actor.Attributes.name}}",
    )
    assert out == "container die 3 ev\n"
    _, out, _ = run(
        engine, "events", "--since", since, "--until", until, "--filter", "label=team=a"
    )
    assert out and all("name=ev" in line for line in out.splitlines())
    _, out, _ = run(engine, "events", "--since", since, "--until", until, "--format", "{{json .}}")
    first = json.loads(out.splitlines()[0])
    assert first["Type"] == "container" and first["Actor"]["Attributes"]["name"] == "ev"


def test_logs_follow_timestamps_since_until(engine: Engine) -> None:
    script = "for i in 1 2 3; do echo line $i; sleep 0.6; done; echo bye >&2"
    code, _, err = run(engine, "run", "-d", "--name", "lg", "busybox", "sh", "-c", script)
    assert code == 0, err
    follow = subprocess.run(
        [PYTHON, "-m", "berth.cli.main", "logs", "-f", "lg"],
        env=engine.env,
        capture_output=True,
        text=True,
        timeout=30,
    )  # returns once the container has exited
    assert (follow.returncode, follow.stdout, follow.stderr) == (
        0,
        "line 1\nline 2\nline 3\n",
        "bye\n",
    )
    assert not inspect(engine, "lg")["State"]["Running"]
    code, out, _ = run(engine, "logs", "-t", "lg")
    stamps = [line.split(" ", 1) for line in out.splitlines()]
    assert [text for _, text in stamps] == ["line 1", "line 2", "line 3"]
    assert all(t.endswith("Z") and "T" in t and len(t) >= 20 for t, _ in stamps)

    def unix(t: str) -> float:
        import calendar

        base = calendar.timegm(time.strptime(t[:19], "%Y-%m-%dT%H:%M:%S"))
        return base + float("0." + t[20:].rstrip("Z"))

    times = [unix(t) for t, _ in stamps]
    between_1_2 = f"{(times[0] + times[1]) / 2:.6f}"
    between_2_3 = f"{(times[1] + times[2]) / 2:.6f}"
    assert run(engine, "logs", "--since", between_1_2, "lg")[1] == "line 2\nline 3\n"
    assert run(engine, "logs", "--until", between_2_3, "lg")[1] == "line 1\nline 2\n"
    assert (
        run(engine, "logs", "--since", between_1_2, "--until", between_2_3, "lg")[1] == "line 2\n"
    )
    assert run(engine, "logs", "--tail", "2", "lg")[1:] == ("line 3\n", "bye\n")
