//! Docker's options, and its operations on a running container, through
//! one private dockerd with runc and with runsc-rs on the same images:
//! what a container sees and what `docker` reports must be runc's. The
//! images are busybox and the Debian rootfs with PostgreSQL of
//! tests/checkpoint_postgres.rs.

mod common;

use std::path::Path;
use std::process::Command;

use common::daemons::Dockerd;
use common::{stderr, stdout, Env};

const RUNTIMES: [&str; 2] = ["runc", "runsc-test"];
const PG_ROOTFS: &str = "/var/cache/runsc-tests/pg-rootfs";

/// One `docker run --rm`: a name, options, an image and a shell command
/// whose output must not depend on the runtime.
struct Case {
    name: &'static str,
    options: Vec<String>,
    image: &'static str,
    script: String,
}

fn case(name: &'static str, options: &[&str], image: &'static str, script: &str) -> Case {
    Case {
        name,
        options: options.iter().map(|o| o.to_string()).collect(),
        image,
        script: script.to_string(),
    }
}

/// Starts PostgreSQL as user postgres on a tmpfs and runs `sql`.
const PG: &str = "bin=$(ls -d /usr/lib/postgresql/*/bin) && $bin/initdb -D /pg/d >/dev/null 2>&1 \
    && $bin/pg_ctl -D /pg/d -o '-k /pg' -l /pg/log -w start >/dev/null \
    && psql -h /pg -d postgres -Atc \"$SQL\"; $bin/pg_ctl -D /pg/d -m fast -w stop >/dev/null";

fn cases(host_dir: &Path) -> Vec<Case> {
    let bind = format!("{}:/data:ro", host_dir.display());
    let mut cases = vec![
        case("user", &["--user", "1000:1000"], "bb", "id"),
        case("group-add", &["--user", "1000", "--group-add", "44"], "bb", "id"),
        case("read-only", &["--read-only", "--tmpfs", "/run:size=1m"], "bb",
             "touch /x 2>&1 | sed 's/.*: //'; touch /run/x && echo run-ok; grep ' /run ' /proc/mounts"),
        case("cap-drop", &["--cap-drop", "ALL"], "bb", "grep Cap /proc/self/status"),
        case("cap-add", &["--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN"], "bb", "grep Cap /proc/self/status"),
        case("no-new-privileges", &["--security-opt", "no-new-privileges"], "bb", "grep NoNewPrivs /proc/self/status"),
        case("pids", &["--pids-limit", "10"], "bb",
             "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max"),
        case("memory", &["--memory", "64m"], "bb",
             "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max"),
        case("cpus", &["--cpus", "0.5"], "bb",
             "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us 2>/dev/null || cat /sys/fs/cgroup/cpu.max"),
        case("cpuset", &["--cpuset-cpus", "0"], "bb", "grep Cpus_allowed_list /proc/self/status"),
        case("oom-score-adj", &["--oom-score-adj", "500"], "bb", "cat /proc/self/oom_score_adj"),
        case("ulimit", &["--ulimit", "nofile=100:200"], "bb", "ulimit -n; ulimit -Hn"),
        case("shm-size", &["--shm-size", "128m"], "bb", "df -k /dev/shm | tail -1 | awk '{print $2}'"),
        case("sysctl", &["--sysctl", "net.ipv4.ip_forward=1"], "bb", "cat /proc/sys/net/ipv4/ip_forward"),
        case("workdir-env", &["-w", "/tmp", "-e", "FOO=bar"], "bb", "pwd; echo $FOO"),
        case("hostname", &["--hostname", "h1"], "bb", "hostname"),
        case("volume", &["-v", "parity-vol:/vol"], "bb", "echo hi > /vol/a && cat /vol/a"),
        case("tmpfs-mode", &["--mount", "type=tmpfs,destination=/t,tmpfs-mode=1770"], "bb", "stat -c %a /t"),
        case("device", &["--device", "/dev/null:/dev/mynull"], "bb", "ls -l /dev/mynull | cut -c1-10"),
        case("cgroupns-private", &["--cgroupns", "private"], "bb", "cat /proc/self/cgroup | sed 's/[0-9a-f]\\{64\\}/ID/'"),
        case("host-namespaces", &["--ipc", "host", "--uts", "host", "--network", "host"], "bb", "hostname | grep -c ."),
        case("tty", &["-t"], "bb", "tty | sed 's/[0-9]*$//'"),
        case("exit-code", &[], "bb", "echo out; echo err >&2; exit 42"),
    ];
    cases.push(case(
        "bind-ro",
        &["-v", &bind],
        "bb",
        "cat /data/f; touch /data/g 2>&1 | sed 's/.*: //'",
    ));
    cases.push(case(
        "postgres",
        &["--user", "postgres", "--tmpfs", "/pg"],
        "deb",
        &format!("SQL='select 40 + 2'; {PG}"),
    ));
    cases.push(case(
        "postgres-limits",
        &[
            "--user",
            "postgres",
            "--tmpfs",
            "/pg",
            "--memory",
            "256m",
            "--pids-limit",
            "100",
        ],
        "deb",
        &format!(
            "SQL='create table t as select generate_series(1, 100000) x; \
             select count(*), sum(x) from t'; {PG}"
        ),
    ));
    cases
}

#[test]
fn docker_options_give_what_runc_gives() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let pg = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/mkpgrootfs"))
        .arg(PG_ROOTFS)
        .output()
        .expect("run tools/mkpgrootfs");
    assert!(pg.status.success(), "tools/mkpgrootfs: {}", stderr(&pg));
    let d = Dockerd::with_runsc(&env);
    d.import(&env, &env.bundle("bb", &["sh"]).join("rootfs"), "bb");
    d.import(&env, Path::new(PG_ROOTFS), "deb");
    let host_dir = env.path().join("host-dir");
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::write(host_dir.join("f"), "host file\n").unwrap();

    let mut differ = Vec::new();
    for c in cases(&host_dir) {
        let seen: Vec<_> = RUNTIMES
            .iter()
            .map(|rt| {
                let mut args = vec!["run", "--rm", "--runtime", rt];
                args.extend(c.options.iter().map(String::as_str));
                args.extend([c.image, "sh", "-c", &c.script]);
                let out = d.docker(&args);
                (out.status.code(), stdout(&out), stderr(&out))
            })
            .collect();
        assert_ne!(
            seen[0].0,
            Some(125),
            "{}: docker refused it under runc: {}",
            c.name,
            seen[0].2
        );
        // Equal is not enough where a workload must have run at all.
        let must_show = match c.name {
            "postgres" => "42",
            "postgres-limits" => "100000|5000050000",
            "bind-ro" => "host file",
            "volume" => "hi",
            _ => "",
        };
        assert!(
            seen[1].1.contains(must_show),
            "{}: {must_show:?} not in {:?}",
            c.name,
            seen[1]
        );
        if (&seen[0].0, &seen[0].1) != (&seen[1].0, &seen[1].1) {
            differ.push(format!(
                "{}: runc {:?}, runsc-rs {:?}",
                c.name, seen[0], seen[1]
            ));
        }
    }
    let _ = d.docker(&["volume", "rm", "parity-vol"]);
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

#[test]
fn docker_operations_on_a_running_container_give_what_runc_gives() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let d = Dockerd::with_runsc(&env);
    d.import(&env, &env.bundle("bb", &["sh"]).join("rootfs"), "bb");
    let copied = env.path().join("copied-in");
    std::fs::write(&copied, "copied in\n").unwrap();
    let script = "trap 'echo got-usr1' USR1; echo started; while true; do sleep 0.1; done";
    let seen: Vec<Vec<String>> = RUNTIMES
        .iter()
        .map(|rt| {
            let name = format!("ops-{rt}");
            let n = name.as_str();
            let rt_name = format!("rt-{rt}");
            let r = rt_name.as_str();
            let out = env.path().join(format!("passwd-{rt}"));
            let mut log = Vec::new();
            // The name and id a step prints are the runtime's own.
            let mut step = |what: &str, args: &[&str]| {
                let o = d.docker(args);
                let text = match what {
                    "run" | "run --stop-signal" => String::new(),
                    _ => stdout(&o).trim().replace(n, "NAME").replace(r, "RT"),
                };
                log.push(format!("{what}: {:?} {text}", o.status.code()));
            };
            step("run", &["run", "-d", "--name", n, "--runtime", rt, "bb", "sh", "-c", script]);
            step("exec", &["exec", n, "sh", "-c", "echo exec; id -u"]);
            step("exec -u -w", &["exec", "-u", "1000", "-w", "/tmp", n, "sh", "-c", "id -u; pwd"]);
            // Docker names /proc/<reported pid>/ns/pid: the host's pid
            // namespace if taken as it is (ours is a holder's).
            let pid_mode = format!("container:{n}");
            step("--pid container:", &["run", "--rm", "--runtime", rt, "--pid", &pid_mode, "bb",
                "sh", "-c", "tr '\\0' ' ' < /proc/1/cmdline; echo; readlink /proc/1/exe"]);
            step("pause", &["pause", n]);
            step("paused", &["inspect", "-f", "{{.State.Status}}", n]);
            step("unpause", &["unpause", n]);
            step("update", &["update", "--memory", "100m", "--memory-swap", "100m", n]);
            step("limit seen", &["exec", n, "sh", "-c",
                "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max"]);
            step("cp in", &["cp", copied.to_str().unwrap(), &format!("{n}:/tmp/in")]);
            step("cp in seen", &["exec", n, "cat", "/tmp/in"]);
            step("cp out", &["cp", &format!("{n}:/etc/passwd"), out.to_str().unwrap()]);
            step("kill -s USR1", &["kill", "-s", "USR1", n]);
            std::thread::sleep(std::time::Duration::from_millis(500));
            step("logs", &["logs", n]);
            step("restart", &["restart", "-t", "1", n]);
            step("exec after restart", &["exec", n, "echo", "again"]);
            step("stop", &["stop", "-t", "1", n]);
            step("exit code", &["inspect", "-f", "{{.State.ExitCode}}", n]);
            step("rm", &["rm", n]);

            // A systemd image's STOPSIGNAL, SIGRTMIN+3 (37), reaches a
            // trapping init, which exits on it before the timeout's KILL.
            let trap = "trap 'echo got-rtmin3; exit 42' 37; echo started; while true; do sleep 0.1; done";
            step("run --stop-signal", &["run", "-d", "--name", r, "--runtime", rt,
                "--stop-signal", "SIGRTMIN+3", "bb", "sh", "-c", trap]);
            common::wait_for("the trap", std::time::Duration::from_secs(10), || {
                stdout(&d.docker(&["logs", r])).contains("started")
            });
            step("stop with RTMIN+3", &["stop", "-t", "10", r]);
            step("its exit code", &["inspect", "-f", "{{.State.ExitCode}}", r]);
            step("its logs", &["logs", r]);
            step("rm", &["rm", r]);
            for name in [n, r] {
                let top = d.docker(&["ps", "-a", "-q", "--filter", &format!("name={name}")]);
                log.push(format!("left: {}", stdout(&top).trim()));
            }
            log
        })
        .collect();
    assert_eq!(seen[0], seen[1], "runc (left) against runsc-rs (right)");
    for expected in [
        "logs: Some(0) started\ngot-usr1",
        "its exit code: Some(0) 42",
        "its logs: Some(0) started\ngot-rtmin3",
    ] {
        assert!(
            seen[0].iter().any(|l| l == expected),
            "{expected:?} not in {:?}",
            seen[0]
        );
    }
}

/// Removes the user dockerd adds for `userns-remap: default`, if this test
/// made it.
struct RemapUser {
    made: bool,
}

impl RemapUser {
    fn new() -> Self {
        let had = Command::new("getent")
            .args(["passwd", "dockremap"])
            .output()
            .is_ok_and(|o| o.status.success());
        Self { made: !had }
    }
}

impl Drop for RemapUser {
    fn drop(&mut self) {
        if self.made {
            let _ = Command::new("userdel").arg("dockremap").output();
            for file in ["/etc/subuid", "/etc/subgid"] {
                if let Ok(text) = std::fs::read_to_string(file) {
                    let kept: String = text
                        .lines()
                        .filter(|l| !l.starts_with("dockremap:"))
                        .map(|l| format!("{l}\n"))
                        .collect();
                    let _ = std::fs::write(file, kept);
                }
            }
        }
    }
}

/// With `userns-remap`, Docker's `container:` modes name the user
/// namespace of the container joined too, by its reported pid.
#[test]
fn docker_container_modes_under_userns_remap_give_what_runc_gives() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let _user = RemapUser::new();
    let d = Dockerd::with_runsc_and(&env, serde_json::json!({"userns-remap": "default"}));
    d.import(&env, &env.bundle("bb", &["sh"]).join("rootfs"), "bb");
    let seen: Vec<Vec<String>> = RUNTIMES
        .iter()
        .map(|rt| {
            let name = format!("remap-{rt}");
            let mut log = Vec::new();
            let mut step = |what: &str, args: &[&str]| {
                let o = d.docker(args);
                // The id `run -d` prints and the name `rm` does are the
                // runtime's own.
                let text = match what {
                    "run" | "rm" => String::new(),
                    _ => stdout(&o).trim().to_string(),
                };
                log.push(format!("{what}: {:?} {text}", o.status.code()));
            };
            let run = |mode: &str| -> Vec<String> {
                let join = format!("container:{name}");
                let mut a = vec!["run", "--rm", "--runtime", rt]
                    .into_iter()
                    .map(String::from)
                    .collect::<Vec<_>>();
                if !mode.is_empty() {
                    a.extend([format!("--{mode}"), join]);
                }
                a
            };
            let show = "cat /proc/self/uid_map; tr '\\0' ' ' < /proc/1/cmdline";
            step(
                "run",
                &[
                    "run",
                    "-d",
                    "--name",
                    &name,
                    "--runtime",
                    rt,
                    "bb",
                    "sleep",
                    "1000",
                ],
            );
            for mode in ["", "network", "pid"] {
                let mut a = run(mode);
                a.extend(["bb", "sh", "-c", show].map(String::from));
                let a: Vec<&str> = a.iter().map(String::as_str).collect();
                step(&format!("--{mode} container:"), &a);
            }
            step("exec", &["exec", &name, "sh", "-c", show]);
            step("rm", &["rm", "-f", &name]);
            log
        })
        .collect();
    assert_eq!(seen[0], seen[1], "runc (left) against runsc-rs (right)");
    // The container joined by pid is the one named, and ids are remapped.
    let pid_mode = &seen[1][3];
    assert!(pid_mode.contains("sleep 1000"), "{pid_mode}");
    let uid_map = pid_mode.split("Some(0)").nth(1).unwrap_or_default();
    let host_uid = uid_map.split_whitespace().nth(1);
    assert!(
        host_uid.is_some_and(|u| u != "0"),
        "not remapped: {pid_mode}"
    );
}

/// The shims the containerd of the dockerd in `dir` started: pid and task
/// id.
fn shims_of(dir: &Path) -> Vec<(i32, String)> {
    let needle = dir.join("exec").to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let args: Vec<String> = String::from_utf8_lossy(&cmdline)
                .split('\0')
                .map(String::from)
                .collect();
            let ours = args[0].starts_with("/usr/bin/containerd-shim")
                && args.iter().any(|a| a.contains(&needle));
            let id = args.iter().skip_while(|a| *a != "-id").nth(1)?.clone();
            ours.then_some((pid, id))
        })
        .collect()
}

/// Deletes, through that dockerd's containerd, the tasks whose shims are
/// still there when dropped (before the dockerd is), so that a failure
/// leaves no container, cgroup or shim; then kills any shim left, by pid.
struct ShimSweep<'a>(&'a Dockerd);

impl Drop for ShimSweep<'_> {
    fn drop(&mut self) {
        let sock = self.0.dir.join("exec/containerd/containerd.sock");
        for (pid, id) in shims_of(&self.0.dir) {
            let _ = Command::new("ctr")
                .arg("-a")
                .arg(&sock)
                .args(["-n", "moby", "task", "delete", "--force", &id])
                .output();
            let _ = Command::new("ctr")
                .arg("-a")
                .arg(&sock)
                .args(["-n", "moby", "container", "delete", &id])
                .output();
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// A start that fails leaves nothing: Docker deletes the task as soon as
/// start fails, which containerd's shim refuses while it has not yet seen
/// the reported pid exit. Such a task, and its shim, were left for good.
/// And Docker gives the exit code runc's words earn: it reads the error
/// for "permission denied" (126) and for the command with "no such file
/// or directory" (127); our capitalized errno text got 125. A file that
/// execve refuses is, under runc, the container's exit 1. And like runc,
/// we find the file at create.
#[test]
fn a_failed_start_gets_runc_s_exit_code_and_leaves_nothing_behind() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let d = Dockerd::with_runsc(&env);
    d.import(&env, &env.bundle("bb", &["sh"]).join("rootfs"), "bb");
    let _sweep = ShimSweep(&d);
    let bad = env.path().join("bad");
    std::fs::write(&bad, "not a program\n").unwrap();
    std::fs::set_permissions(&bad, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let volume = format!("{}:/bad", bad.display());
    let run = |rt: &str, options: &[&str], command: &str| {
        let mut args = vec!["run", "--rm", "--runtime", rt, "-v", &volume];
        args.extend(options);
        args.extend(["bb", command]);
        let out = d.docker(&args);
        (out.status.code(), stderr(&out))
    };
    // The identity change is what we still fail in start (runc: in
    // create). Root here lacks a capability (CAP_SYS_RESOURCE), so
    // neither runtime can grant them all.
    if run("runc", &["--cap-add", "ALL"], "true").0 == Some(0) {
        eprintln!("no failed start here: this host grants every capability");
    } else {
        for _ in 0..3 {
            let (code, err) = run("runsc-test", &["--cap-add", "ALL"], "true");
            assert_eq!(code, Some(125), "{err}");
            assert!(err.contains("OCI runtime start failed"), "{err}");
        }
    }
    for command in [
        "/etc/passwd",
        "/tmp",
        "/no/such/file",
        "nosuchcommand",
        "/bad",
    ] {
        let seen: Vec<_> = RUNTIMES.iter().map(|rt| run(rt, &[], command)).collect();
        assert_ne!(seen[0].0, Some(125), "{command}: {}", seen[0].1);
        assert_eq!(
            seen[0].0, seen[1].0,
            "{command}: runc {:?}, runsc-rs {:?}",
            seen[0], seen[1]
        );
        if command == "/bad" {
            assert_eq!(seen[0], seen[1]);
            assert_eq!(seen[1].1, "exec /bad: exec format error\n");
        } else {
            assert!(
                seen[1].1.contains("OCI runtime create failed"),
                "{command}: {}",
                seen[1].1
            );
        }
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !shims_of(&d.dir).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(shims_of(&d.dir), Vec::new(), "shims left");
    assert_eq!(d.ok(&["ps", "-a", "-q"]).trim(), "", "containers left");
}
