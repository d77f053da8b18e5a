"""Density rows of tools/bench, run only when named in --rows (they take
minutes): i) many containers running at once, j) the cost of one more
container when many already run, k) Docker `run --rm` through one dockerd
with our runtime and runc registered side by side.
"""
import concurrent.futures
import glob
import json
import os
import shutil
import signal
import statistics
import subprocess
import time


def _run(cmd):
    """One runtime command, its wall time in ms and whether it worked."""
    t = time.perf_counter()
    ok = subprocess.run(cmd, shell=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL).returncode == 0
    return (time.perf_counter() - t) * 1000, ok


def _mem_available_kib():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    return 0


def _pss_kib(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pids_naming(needle):
    """Processes whose command line holds needle (our --root)."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                if needle.encode() in f.read():
                    pids.append(int(d))
        except OSError:
            pass
    return pids


def _measured_pids(needle):
    """As _pids_naming, without holders: a root container's holder (every
    container here is one) shares its sandbox's memory and command line, so
    its PSS is the sandbox's, counted once."""
    out = []
    for p in _pids_naming(needle):
        try:
            with open(f"/proc/{p}/comm") as f:
                if f.read().strip() == "runsc-holder":
                    continue
        except OSError:
            continue
        out.append(p)
    return out


def _leftovers(root, prefix):
    """What a deleted set of containers left: processes, host mounts, cgroup
    directories (runsc-rs puts each under runsc/<id> in every hierarchy) and
    store entries."""
    procs = len([p for p in _pids_naming(root) if p != os.getpid()])
    with open("/proc/self/mountinfo") as f:
        mounts = sum(1 for line in f if root in line)
    cgroups = len(glob.glob(f"/sys/fs/cgroup/*/runsc/{prefix}*")) + len(glob.glob(f"/sys/fs/cgroup/runsc/{prefix}*"))
    entries = len(os.listdir(root)) if os.path.isdir(root) else 0
    return {"processes": procs, "mounts": mounts, "cgroups": cgroups, "state": entries}


def many_running(runsc, sleeper, work, count, jobs=4):
    """Starts count sleeping busybox containers under one --root with `run -d`,
    measures them while all run, deletes them all and looks for leftovers."""
    root = f"{work}/state-many"
    prefix = "many-"
    cli = f"{runsc} --root {root}"
    before = _mem_available_kib()
    t = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        started = list(pool.map(lambda i: _run(f"{cli} run -d --bundle {sleeper} {prefix}{i}"), range(count)))
    start_s = time.perf_counter() - t
    time.sleep(2)
    running = sum(1 for line in subprocess.run(f"{cli} list -q", shell=True, capture_output=True,
                                               text=True).stdout.split() if line.startswith(prefix))
    ours = [p for p in _measured_pids(f"--root={root}\0") if p != os.getpid()]
    pss = sum(_pss_kib(p) for p in ours)
    host_kib = before - _mem_available_kib()
    t = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        deleted = list(pool.map(lambda i: _run(f"{cli} delete --force {prefix}{i}"), range(count)))
    delete_s = time.perf_counter() - t
    time.sleep(1)
    left = _leftovers(root, prefix)
    failures = sum(1 for _, ok in started if not ok) + sum(1 for _, ok in deleted if not ok)
    return [
        (f"{count:,} containers at once: `run -d` of all, total s ({jobs} at a time)", {"runsc": start_s}),
        (f"  running after start (of {count:,})", {"runsc": running}),
        ("  failures (run -d and delete)", {"runsc": failures}),
        (f"  runtime PSS per container, {count:,} running, MiB", {"runsc": pss / 1024 / count}),
        (f"  host memory per container (MemAvailable drop / {count:,}), MiB", {"runsc": host_kib / 1024 / count}),
        ("  `delete --force` of all, total s", {"runsc": delete_s}),
        ("  left after delete: processes, mounts, cgroup dirs, state entries",
         {"runsc": f"{left['processes']}, {left['mounts']}, {left['cgroups']}, {left['state']}"}),
    ]


def _kernel_threads_s():
    """CPU seconds used so far by the host's kernel threads (kthreadd's
    children: kworkers, the network namespace cleanup, RCU)."""
    ticks = 0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
        except OSError:
            continue
        fields = s[s.rindex(")") + 2:].split()
        if fields[1] == "2":
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _settle(window=2.0, busy=0.05, limit=120.0):
    """Waits until the kernel threads used under `busy` of a CPU over a
    `window`, at most `limit` seconds: deleting many containers leaves the
    kernel tearing down their network namespaces for tens of seconds."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        k = _kernel_threads_s()
        time.sleep(window)
        if _kernel_threads_s() - k < busy * window:
            return


def flat_cost(binaries, sleeper, work, runs, background=1000):
    """Median `run -d` and `delete --force` of one sleeping container with
    none running, then with `background` already running, then with none
    again (the two empty rounds pooled, so drift shows in neither alone).
    Each round starts once the kernel's own threads are quiet, the same rule
    for every runtime, so a round measures the steady state rather than
    what the previous step left the kernel doing."""
    res = {}
    for rt, binary in binaries.items():
        root = f"{work}/state-flat-{rt}"
        cli = f"{binary} --root {root}"

        def probe(tag):
            run_ms, del_ms = [], []
            for i in range(runs):
                cid = f"flat-probe-{tag}-{i}"
                ms, ok = _run(f"{cli} run -d --bundle {sleeper} {cid}")
                if not ok:
                    raise RuntimeError(f"{rt}: run -d {cid} failed")
                run_ms.append(ms)
                ms, ok = _run(f"{cli} delete --force {cid}")
                if not ok:
                    raise RuntimeError(f"{rt}: delete {cid} failed")
                del_ms.append(ms)
            return run_ms, del_ms

        _settle()
        empty_run, empty_del = probe("a")
        try:
            for i in range(background):
                if not _run(f"{cli} run -d --bundle {sleeper} flat-bg-{i}")[1]:
                    raise RuntimeError(f"{rt}: run -d flat-bg-{i} failed")
            _settle()
            full_run, full_del = probe("b")
        finally:
            for i in range(background):
                _run(f"{cli} delete --force flat-bg-{i}")
        _settle()
        again_run, again_del = probe("c")
        empty_run += again_run
        empty_del += again_del
        res[rt] = {
            "run0": statistics.median(empty_run), "runN": statistics.median(full_run),
            "del0": statistics.median(empty_del), "delN": statistics.median(full_del),
        }
    rows = []
    for op, key in (("run -d", "run"), ("delete --force", "del")):
        rows.append((f"`{op}` of a sleeper, none running, median ms", {rt: v[key + "0"] for rt, v in res.items()}))
        rows.append((f"`{op}` of a sleeper, {background:,} running, median ms",
                     {rt: v[key + "N"] for rt, v in res.items()}))
        rows.append((f"  `{op}` growth, {background:,} running / none",
                     {rt: v[key + "N"] / v[key + "0"] for rt, v in res.items()}))
        rows.append((f"  `{op}` growth, {background:,} running - none, ms",
                     {rt: v[key + "N"] - v[key + "0"] for rt, v in res.items()}))
    return rows


class Dockerd:
    """A private dockerd (its own data root, exec root and socket) with our
    runtime registered beside runc; stopped by pid and cleaned in stop()."""

    def __init__(self, runsc, work):
        self.dir = f"{work}/docker"
        os.makedirs(self.dir)
        self.host = f"unix://{self.dir}/docker.sock"
        config = f"{self.dir}/daemon.json"
        with open(config, "w") as f:
            json.dump({"log-level": "warn", "runtimes": {"runsc-bench": {"path": runsc}}}, f)
        self.err = open(f"{self.dir}/err", "w")
        self.proc = subprocess.Popen(
            ["dockerd", "--iptables=false", "--ip6tables=false", "--bridge=none", "--config-file", config,
             "--data-root", f"{self.dir}/data", "--exec-root", f"{self.dir}/exec",
             "--pidfile", f"{self.dir}/docker.pid", "-H", self.host],
            stdout=subprocess.DEVNULL, stderr=self.err, start_new_session=True)
        deadline = time.time() + 60
        while subprocess.run(["docker", "-H", self.host, "info"], capture_output=True).returncode != 0:
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop()
                raise RuntimeError(f"dockerd never answered: {open(f'{self.dir}/err').read()[-800:]}")
            time.sleep(0.2)

    def docker(self, args):
        return subprocess.run(["docker", "-H", self.host] + args, capture_output=True, text=True)

    def stop(self):
        # dockerd stops the containerd it started; its process group goes
        # after, should anything of it outlive a timeout.
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.err.close()
        with open("/proc/self/mountinfo") as f:
            mounts = [line.split()[4] for line in f if self.dir in line.split()[4]]
        for m in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", m], capture_output=True)
        for d in glob.glob("/sys/fs/cgroup/*/docker") + glob.glob("/sys/fs/cgroup/docker"):
            try:
                os.rmdir(d)
            except OSError:
                pass


def docker_rows(runsc, bundle, work, runs, density=50):
    """`docker run --rm IMAGE true`, median of runs with the runtimes taking
    turns, then host memory per container the way gVisor's density table
    counts it: MemAvailable before and after `density` sleepers (50 as
    there), divided."""
    if not shutil.which("dockerd"):
        raise RuntimeError("dockerd is missing (apt-get install docker.io)")
    d = Dockerd(runsc, work)
    runtimes = {"runsc": "runsc-bench", "runc": "runc"}
    try:
        tar = f"{work}/busybox.tar"
        subprocess.run(["tar", "-C", f"{bundle}/rootfs", "-cf", tar, "."], check=True)
        out = d.docker(["import", tar, "runsc-bench/busybox:1"])
        if out.returncode != 0:
            raise RuntimeError(f"docker import: {out.stderr.strip()}")
        image = "runsc-bench/busybox:1"
        times = {rt: [] for rt in runtimes}
        for i in range(runs + 3):
            for rt, name in runtimes.items():
                ms, ok = _run(f"docker -H {d.host} run --rm --network none --runtime {name} {image} true")
                if not ok:
                    raise RuntimeError(f"docker run --runtime {name} failed")
                if i >= 3:
                    times[rt].append(ms)
        mem, pss = {}, {}
        for rt, name in runtimes.items():
            daemons = set(_measured_pids(d.dir))
            before = _mem_available_kib()
            for i in range(density):
                out = d.docker(["run", "-d", "--network", "none", "--runtime", name, "--name", f"dens-{rt}-{i}",
                                image, "sleep", "100000"])
                if out.returncode != 0:
                    raise RuntimeError(f"docker run -d --runtime {name}: {out.stderr.strip()}")
            time.sleep(2)
            mem[rt] = (before - _mem_available_kib()) / 1024 / density
            # Shims, and for us sandboxes: all name the exec root.
            pss[rt] = sum(_pss_kib(p) for p in set(_measured_pids(d.dir)) - daemons) / 1024 / density
            d.docker(["rm", "-f"] + [f"dens-{rt}-{i}" for i in range(density)])
    finally:
        d.stop()
    return [
        ("`docker run --rm busybox true`, median ms", {rt: statistics.median(v) for rt, v in times.items()}),
        ("`docker run --rm busybox true`, p90 ms", {rt: sorted(v)[int(0.9 * (len(v) - 1))] for rt, v in times.items()}),
        (f"host memory per `docker run -d` sleeper, {density} running (MemAvailable drop), MiB", mem),
        (f"  runtime PSS per `docker run -d` sleeper (shim, and sandbox), {density} running, MiB", pss),
    ]
