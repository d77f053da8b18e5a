//! Real workloads under the baseline seccomp filter, with no profile in the
//! spec (where the baseline is the only filter), each compared with runc
//! on the same bundle: busybox, glibc's posix_spawn (clone3 refused, clone
//! used), static C programs using SysV and POSIX IPC, a static Go
//! program, Python and
//! PostgreSQL from a Debian 12 userland (the host's /usr, read-only),
//! exec, and checkpoint/restore.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::profiles::runc_report;
use common::{edit_config, install_program, stderr, stdout, Env, Reaper};
use serde_json::json;

/// `runsc run` of the bundle; its stdout, after checking that it exited 0.
fn run_ours(env: &Env, name: &str, bundle: &Path) -> String {
    let id = env.id(name);
    let _r = Reaper {
        env,
        ids: vec![id.clone()],
    };
    let out = env.runsc(&["run", "-b", bundle.to_str().unwrap(), &id]);
    let text = stdout(&out);
    assert!(out.status.success(), "{name}: {}{text}", stderr(&out));
    env.assert_clean(&[&id]);
    text
}

/// Runs the bundle under us and under runc; both must print `expected`.
fn same_as_runc(env: &Env, name: &str, bundle: &Path, expected: &str) {
    let ours = run_ours(env, name, bundle);
    assert_eq!(ours, expected, "{name} under runsc");
    let runc = runc_report(env, bundle, &env.id(&format!("runc-{name}")));
    assert_eq!(runc.as_deref(), Some(expected), "{name} under runc");
}

/// The `Seccomp_filters:` line of a container's own /proc/self/status.
const FILTERS: &str = "grep Seccomp_filters /proc/self/status";

#[test]
fn busybox_runs_and_its_init_holds_the_filter() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let script = "echo hello | wc -c; (sleep 0.1; echo child) & wait; \
                  ls /bin | grep -cx sh; id -u; kill -0 $$ && echo signal";
    let bundle = env.bundle("busybox", &["sh", "-c", script]);
    same_as_runc(&env, "busybox", &bundle, "6\nchild\n1\n0\nsignal\n");
    // The filter is there, in the init and in what it forks, under us
    // only (runc loads none without a profile).
    let bundle = env.bundle(
        "filters",
        &["sh", "-c", &format!("{FILTERS}; sh -c '{FILTERS}'")],
    );
    let ours = run_ours(&env, "filters", &bundle);
    assert_eq!(ours, "Seccomp_filters:\t1\nSeccomp_filters:\t1\n");
    let runc = runc_report(&env, &bundle, &env.id("runc-filters")).expect("runc");
    assert_eq!(runc, "Seccomp_filters:\t0\nSeccomp_filters:\t0\n");
}

#[test]
fn glibc_posix_spawn_and_ipc_work() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("spawn", &["sh", "-c", "/bin/newer_syscalls; /bin/ipc"]);
    install_program(&bundle, "newer_syscalls");
    install_program(&bundle, "ipc");
    let ours = run_ours(&env, "spawn", &bundle);
    let lines: Vec<&str> = ours.lines().collect();
    // clone3 refused, posix_spawn fell back to clone: exit status 0.
    for want in ["clone3=ENOSYS", "spawn=0", "ipc failures: 0"] {
        assert!(lines.contains(&want), "{want} missing:\n{ours}");
    }
    let runc = runc_report(&env, &bundle, &env.id("runc-spawn")).expect("runc");
    assert!(
        runc.contains("clone3=EINVAL\n") && runc.contains("spawn=0\n"),
        "{runc}"
    );
}

#[test]
fn a_static_go_program_works() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("go", &["/bin/workload"]);
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/programs/workload.go");
    let cache = env.path().join("go");
    let go = std::process::Command::new("go")
        .args(["build", "-o"])
        .arg(bundle.join("rootfs/bin/workload"))
        .arg(&src)
        .env("CGO_ENABLED", "0")
        .env("GOCACHE", cache.join("cache"))
        .env("GOPATH", cache.join("path"))
        .output()
        .expect("run go (apt-get install golang-go)");
    assert!(
        go.status.success(),
        "{}",
        String::from_utf8_lossy(&go.stderr)
    );
    let expected = "goroutines 36\nexec true\npipe pipe\nsignal true\ntcp pong\n\
                    sha256 2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881\n";
    same_as_runc(&env, "go", &bundle, expected);
}

/// A bundle whose root is a Debian 12 userland: the host's /usr, bind
/// mounted read-only, behind merged-/usr links, with a user 1000.
fn debian_bundle(env: &Env, name: &str, script: &str) -> PathBuf {
    let bundle = env.bundle(name, &["sh", "-c", script]);
    let root = bundle.join("rootfs");
    std::fs::remove_dir_all(&root).expect("remove busybox rootfs");
    for dir in ["usr", "etc", "tmp", "proc", "dev", "sys", "run", "home/u"] {
        std::fs::create_dir_all(root.join(dir)).expect("rootfs dir");
    }
    for link in ["bin", "lib", "lib64", "sbin"] {
        std::os::unix::fs::symlink(format!("usr/{link}"), root.join(link)).expect("link");
    }
    let chmod = |p: &Path, mode: u32| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    };
    chmod(&root.join("tmp"), 0o1777);
    std::os::unix::fs::chown(root.join("home/u"), Some(1000), Some(1000)).expect("chown");
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nu:x:1000:1000:u:/home/u:/bin/sh\n",
    )
    .expect("passwd");
    std::fs::write(root.join("etc/group"), "root:x:0:\nu:x:1000:\n").expect("group");
    edit_config(&bundle, |c| {
        c["mounts"].as_array_mut().expect("mounts").push(json!({
            "destination": "/usr", "type": "bind", "source": "/usr",
            "options": ["rbind", "ro"]
        }));
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        c["process"]["cwd"] = json!("/home/u");
        c["process"]["env"] = json!([
            "PATH=/usr/lib/postgresql/15/bin:/usr/bin:/bin",
            "HOME=/home/u",
            "LANG=C.UTF-8"
        ]);
    });
    bundle
}

const PYTHON: &str = r#"
import asyncio, errno, hashlib, multiprocessing, os, socket, subprocess, threading
with multiprocessing.Pool(2) as pool:
    print("pool", sum(pool.map(abs, range(-10, 0))))
print("subprocess", subprocess.run(["true"]).returncode)
pid = os.fork()
if pid == 0:
    os._exit(7)
print("fork", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen()
client = socket.create_connection(server.getsockname())
conn, _ = server.accept()
client.sendall(b"ping")
print("tcp", conn.recv(4).decode())
results = []
threads = [threading.Thread(target=lambda: results.append(1)) for _ in range(4)]
[t.start() for t in threads]
[t.join() for t in threads]
print("threads", len(results))
async def main():
    await asyncio.sleep(0.01)
    return "ok"
print("asyncio", asyncio.run(main()))
print("sha256", hashlib.sha256(b"x").hexdigest()[:8])
try:
    socket.socket(socket.AF_ALG, socket.SOCK_SEQPACKET)
except OSError as e:
    print("af_alg", errno.errorcode[e.errno])
"#;

#[test]
fn python_from_a_debian_userland_works() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = debian_bundle(&env, "python", "exec python3 -c \"$SCRIPT\"");
    edit_config(&bundle, |c| {
        let env = c["process"]["env"].as_array_mut().expect("env");
        env.push(json!(format!("SCRIPT={PYTHON}")));
    });
    let expected = "pool 55\nsubprocess 0\nfork 7\ntcp ping\nthreads 4\nasyncio ok\n\
                    sha256 2d711642\naf_alg EAFNOSUPPORT\n";
    same_as_runc(&env, "python", &bundle, expected);
}

#[test]
fn postgresql_from_a_debian_userland_works() {
    if common::skip_without_root() {
        return;
    }
    // Shared memory (SysV and POSIX), a postmaster forking backends and
    // signalling them, a client over a unix socket.
    let env = Env::new();
    let script =
        "set -e; rm -rf /tmp/pg; initdb -D /tmp/pg -A trust -U postgres >/tmp/initdb.log 2>&1 \
        || { cat /tmp/initdb.log; exit 1; }; \
        pg_ctl -D /tmp/pg -o \"-k /tmp -c listen_addresses=\" -l /tmp/pg.log -w start >/dev/null \
        || { cat /tmp/pg.log; exit 1; }; \
        psql -h /tmp -U postgres -Atc 'create table t(x int); \
        insert into t select generate_series(1, 1000); select sum(x) from t' postgres; \
        pg_ctl -D /tmp/pg -m fast -w stop >/dev/null; echo stopped";
    let bundle = debian_bundle(&env, "postgres", script);
    same_as_runc(
        &env,
        "postgres",
        &bundle,
        "CREATE TABLE\nINSERT 0 1000\n500500\nstopped\n",
    );
}

fn filters_of(pid: i64) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let line = status.lines().find(|l| l.starts_with("Seccomp_filters:"));
    line.unwrap_or_default().to_string()
}

#[test]
fn checkpoint_and_restore_keep_the_filter() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let data = env.path().join("data");
    std::fs::create_dir(&data).expect("data dir");
    let counter = "i=0; while true; do i=$((i+1)); echo $i > /data/n; sleep 0.05; done";
    let bundle = env.bundle("cr", &["sh", "-c", counter]);
    install_program(&bundle, "baseline_probe");
    let source = data.to_str().expect("utf-8").to_string();
    edit_config(&bundle, |c| {
        c["mounts"].as_array_mut().expect("mounts").push(json!({
            "destination": "/data", "type": "bind", "source": source,
            "options": ["rbind", "rw"]
        }));
    });
    let b = bundle.to_str().unwrap();
    let id = env.id("cr");
    let _r = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    env.ok(&["run", "-d", "-b", b, &id]);
    let count = || {
        let text = std::fs::read_to_string(data.join("n")).unwrap_or_default();
        text.trim().parse::<u64>().unwrap_or(0)
    };
    let wait_past = |n: u64| {
        let until = Instant::now() + Duration::from_secs(10);
        while count() <= n {
            assert!(Instant::now() < until, "counter stuck at {}", count());
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait_past(3);
    let pid = common::init_pid(&env, &id);
    assert_eq!(filters_of(pid), "Seccomp_filters:\t1");
    let image = env.path().join("image");
    env.ok(&["checkpoint", "--image-path", image.to_str().unwrap(), &id]);
    env.ok(&["delete", &id]);
    let at_checkpoint = count();
    env.ok(&[
        "restore",
        "-d",
        "--image-path",
        image.to_str().unwrap(),
        "-b",
        b,
        &id,
    ]);
    wait_past(at_checkpoint + 3);
    let pid = common::init_pid(&env, &id);
    assert_eq!(filters_of(pid), "Seccomp_filters:\t1", "restored init");
    let probe = env.ok(&["exec", &id, "/bin/baseline_probe"]);
    for want in [
        "io_uring_setup=EPERM",
        "unshare_newuser=EPERM",
        "af_vsock=EAFNOSUPPORT",
    ] {
        assert!(
            probe.lines().any(|l| l == want),
            "{want} after restore:\n{probe}"
        );
    }
    env.ok(&["delete", "--force", &id]);
    env.assert_clean(&[&id]);
}
