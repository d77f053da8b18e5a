//! What a container sees: the spec's settings, checked from inside a real
//! busybox container. Its cgroups are tests/container_cgroups.rs.

mod common;

use std::io::{IoSliceMut, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

use common::script::{lines_with, run_script};
use common::{edit_config, stderr, stdout, Env, Reaper};
use serde_json::json;

/// The capability mask of `names`, as /proc/<pid>/status prints it.
fn cap_mask(names: &[&str]) -> String {
    let number = |n: &str| match n {
        "CAP_CHOWN" => 0,
        "CAP_DAC_OVERRIDE" => 1,
        "CAP_FOWNER" => 3,
        "CAP_FSETID" => 4,
        "CAP_KILL" => 5,
        "CAP_SETGID" => 6,
        "CAP_SETUID" => 7,
        "CAP_SETPCAP" => 8,
        "CAP_NET_BIND_SERVICE" => 10,
        "CAP_NET_RAW" => 13,
        "CAP_SYS_CHROOT" => 18,
        "CAP_MKNOD" => 27,
        "CAP_AUDIT_WRITE" => 29,
        "CAP_SETFCAP" => 31,
        other => panic!("no number for {other}"),
    };
    format!(
        "{:016x}",
        names.iter().map(|n| 1u64 << number(n)).sum::<u64>()
    )
}

#[test]
fn spec_settings_are_applied() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["true"]);
    let host_ro = env.path().join("host-ro");
    let host_rw = env.path().join("host-rw");
    std::fs::create_dir(&host_ro).unwrap();
    std::fs::create_dir(&host_rw).unwrap();
    std::fs::write(host_ro.join("hostfile"), "from the host\n").unwrap();
    let caps = ["CAP_CHOWN", "CAP_KILL", "CAP_SETUID", "CAP_SETGID"];
    edit_config(&bundle, |c| {
        c["hostname"] = json!("testhost");
        c["domainname"] = json!("example.test");
        c["process"]["oomScoreAdj"] = json!(500);
        c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
        c["linux"]["devices"] = json!([{"path": "/dev/fuse-like", "type": "c", "major": 1, "minor": 3, "fileMode": 438}]);
        // /proc/kcore does not exist on every kernel; a file of the image
        // and a directory of sysfs show the masking as well.
        c["linux"]["maskedPaths"]
            .as_array_mut()
            .unwrap()
            .push(json!("/etc/hostname"));
        c["process"]["cwd"] = json!("/tmp");
        c["process"]["env"]
            .as_array_mut()
            .unwrap()
            .push(json!("FOO=bar baz"));
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": 512, "soft": 256}]);
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set] = json!(caps);
        }
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.push(json!({"destination": "/ro", "type": "bind", "source": host_ro, "options": ["rbind", "ro"]}));
        mounts.push(json!({"destination": "/rw", "type": "bind", "source": host_rw, "options": ["rbind", "rw"]}));
        mounts.push(json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m", "mode=1777"]}));
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
        });
    });
    let script = r#"
        echo "host=$(hostname)"
        echo "cwd=$(pwd)"
        echo "foo=$FOO"
        echo "nofile=$(ulimit -n)/$(ulimit -Hn)"
        grep -E '^(CapEff|CapPrm|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status | tr -d '\t ' | sed 's/:/=/'
        echo "keys=$(stat -c %F /proc/keys)"
        echo "masked=$(cat /etc/hostname | wc -c)"
        echo "firmware=$(grep -c ' /sys/firmware tmpfs ro' /proc/mounts)"
        echo hello > /rw/file && echo "rw=$(cat /rw/file)"
        touch /ro/new 2>/dev/null || echo "ro=refused"
        echo "hostfile=$(cat /ro/hostfile)"
        echo "scratch=$(grep ' /scratch ' /proc/mounts | cut -d' ' -f3)"
        mkdir /tmp/d 2>&1 | grep -q 'Operation not permitted' && echo "mkdir=EPERM"
        echo "sysro=$(grep -c ' /proc/sys proc ro' /proc/mounts)"
        echo "pid1=$$"
        echo "domain=$(cat /proc/sys/kernel/domainname)"
        echo "oom=$(cat /proc/self/oom_score_adj)"
        echo "forward=$(cat /proc/sys/net/ipv4/ip_forward)"
        echo "null=$(stat -c %F:%t:%T /dev/null)"
        echo "device=$(stat -c %F:%t:%T:%a /dev/fuse-like)"
        echo "ptmx=$(readlink /dev/ptmx)"
        echo "fd=$(readlink /dev/fd)"
        echo "devnull=$(echo x > /dev/null && echo writable)"
    "#;
    let (status, out) = run_script(&env, &bundle, "settings", script);
    assert_eq!(status, 0, "{out}");
    let expect = [
        "host=testhost",
        "cwd=/tmp",
        "foo=bar baz",
        "nofile=256/512",
        "NoNewPrivs=1",
        "Seccomp=2",
        "keys=character special file",
        "masked=0",
        "firmware=1",
        "rw=hello",
        "ro=refused",
        "hostfile=from the host",
        "scratch=tmpfs",
        "mkdir=EPERM",
        "sysro=1",
        "domain=example.test",
        "oom=500",
        "forward=1",
        "null=character special file:1:3",
        "device=character special file:1:3:666",
        "ptmx=pts/ptmx",
        "fd=/proc/self/fd",
        "devnull=writable",
        "pid1=1",
    ];
    for line in expect {
        assert!(
            out.lines().any(|l| l == line),
            "missing {line:?} in:\n{out}"
        );
    }
    let mask = cap_mask(&caps);
    for set in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(
            lines_with(&out, set),
            vec![format!("{set}={mask}")],
            "{out}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(host_rw.join("file")).unwrap(),
        "hello\n"
    );
    assert!(!host_ro.join("new").exists());
}

#[test]
fn readonly_root_gives_erofs() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["true"]);
    // A mount whose mount point the image lacks: made before the root
    // turns read-only, as runc does.
    edit_config(&bundle, |c| {
        c["root"]["readonly"] = json!(true);
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
            "options": ["nosuid", "nodev", "size=1m"]
        }));
    });
    let (status, out) = run_script(
        &env,
        &bundle,
        "rofs",
        "touch /newfile 2>&1; touch /scratch/x && echo scratch=ok; \
         awk '$5 == \"/\" {print \"root=\" $6}' /proc/self/mountinfo",
    );
    assert_eq!(status, 0, "{out}");
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(out.contains("scratch=ok"), "{out}");
    assert!(out.contains("root=ro,"), "{out}");
    assert!(!bundle.join("rootfs/newfile").exists());
}

#[test]
fn user_groups_and_umask() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["true"]);
    edit_config(&bundle, |c| {
        c["process"]["user"] =
            json!({"uid": 1000, "gid": 1000, "additionalGids": [5, 7], "umask": 63});
    });
    let (status, out) = run_script(
        &env,
        &bundle,
        "user",
        "echo uid=$(id -u) gid=$(id -g) groups=$(id -G); umask; grep CapEff /proc/self/status",
    );
    assert_eq!(status, 0, "{out}");
    assert!(out.contains("uid=1000 gid=1000 groups=1000 5 7"), "{out}");
    assert!(out.contains("0077"), "{out}");
    assert!(out.contains("CapEff:\t0000000000000000"), "{out}");
    // No HOME in the spec: the user's home from the image's /etc/passwd,
    // as runc sets it, for the init and for exec'd processes alike.
    let home = env.bundle("home", &["sleep", "1000"]);
    edit_config(&home, |c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        c["process"]["env"]
            .as_array_mut()
            .unwrap()
            .retain(|e| !e.as_str().unwrap_or("").starts_with("HOME="));
    });
    let id = env.id("home");
    env.ok(&["run", "-d", "-b", home.to_str().unwrap(), &id]);
    let out = env.ok(&[
        "exec",
        &id,
        "sh",
        "-c",
        "echo $HOME; tr '\\0' '\\n' < /proc/1/environ | grep HOME",
    ]);
    assert_eq!(out, "/home/user\nHOME=/home/user\n");
    let out = env.ok(&["exec", "--user", "4242", &id, "sh", "-c", "echo $HOME"]);
    assert_eq!(out, "/\n");
    let out = env.ok(&[
        "exec",
        "--env",
        "HOME=/elsewhere",
        &id,
        "sh",
        "-c",
        "echo $HOME",
    ]);
    assert_eq!(out, "/elsewhere\n");
    env.ok(&["delete", "--force", &id]);

    // Without one in the spec the umask is 0022, not the caller's, as
    // under runc.
    let plain = env.bundle("plain", &["sh", "-c", "umask"]);
    let id = env.id("umask");
    let mut cmd = env.cmd(&["run", "-b", plain.to_str().unwrap(), &id]);
    common::with_umask(&mut cmd, 0o077);
    let out = env.output(cmd);
    assert_eq!(stdout(&out), "0022\n", "{}", stderr(&out));
    env.assert_clean(&[&id]);
}

#[test]
fn terminal_through_console_socket() {
    if common::skip_without_root() {
        return;
    }
    // The orphaned sandbox becomes our child, as it becomes the shim's.
    if !common::in_subreaper_process("terminal_through_console_socket") {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["sh"]);
    edit_config(&bundle, |c| c["process"]["terminal"] = json!(true));
    let id = env.id("tty");
    let _reaper = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    let sock = env.path().join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let create = env
        .cmd(&[
            "create",
            "-b",
            bundle.to_str().unwrap(),
            "--console-socket",
            sock.to_str().unwrap(),
            &id,
        ])
        .spawn()
        .unwrap();
    let master = common::receive_master(&listener);
    assert!(create.wait_with_output().unwrap().status.success());
    let sandbox_pid = common::sandbox_pid(&env, &id) as i32;
    env.ok(&["start", &id]);
    let mut pty = std::fs::File::from(master);
    pty.write_all(b"tty; echo answer-$((6*7))\n").unwrap();
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 1024];
    while !seen.contains("answer-42") {
        assert!(
            Instant::now() < deadline,
            "no answer from the shell: {seen:?}"
        );
        let n = pty.read(&mut buf).unwrap();
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(seen.contains("/dev/pts/0"), "{seen:?}");
    pty.write_all(b"exit 5\n").unwrap();
    // As containerd's shim does: reap the sandbox pid from the pid file;
    // it exits with the container's status.
    let status = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(sandbox_pid), None).unwrap();
    assert_eq!(
        status,
        nix::sys::wait::WaitStatus::Exited(nix::unistd::Pid::from_raw(sandbox_pid), 5)
    );
    env.ok(&["delete", "--force", &id]);
    env.assert_clean(&[&id]);
}

#[test]
fn user_namespace_with_id_mappings() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["true"]);
    edit_config(&bundle, |c| {
        common::add_user_namespace(c);
        // As `runc spec --rootless` has it: ambient capabilities that are
        // not inheritable (the kernel refuses to raise them; runc warns),
        // and a cgroup mount with no cgroup namespace, where the kernel
        // refuses a cgroup2 mount.
        c["process"]["capabilities"]["ambient"] = json!(["CAP_KILL"]);
        // Docker always sets one; in a user namespace only the sandbox can.
        c["process"]["oomScoreAdj"] = json!(123);
        c["process"]["capabilities"]["inheritable"] = json!([]);
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
            "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]
        }));
    });
    let (status, out) = run_script(
        &env,
        &bundle,
        "userns",
        "echo uid=$(id -u); tr -s ' ' < /proc/self/uid_map; echo null=$(echo x > /dev/null && echo ok); \
         echo oom=$(cat /proc/self/oom_score_adj); \
         ls /sys/fs/cgroup/memory /sys/fs/cgroup 2>/dev/null; grep ' /sys/fs/cgroup' /proc/self/mountinfo",
    );
    assert_eq!(status, 0, "{out}");
    assert!(out.contains("uid=0"), "{out}");
    assert!(out.contains(" 0 100000 65536"), "{out}");
    assert!(out.contains("null=ok"), "{out}");
    assert!(out.contains("oom=123\n"), "{out}");
    // Our own cgroup, read-only, not the host's whole tree.
    assert!(out.contains("cgroup.procs"), "{out}");
    // The memory hierarchy's on a v1 or hybrid host, else the one cgroup2.
    let line = out
        .lines()
        .find(|l| l.contains(" /sys/fs/cgroup/memory "))
        .or_else(|| out.lines().find(|l| l.contains(" /sys/fs/cgroup ")))
        .unwrap_or_default();
    let fields: Vec<&str> = line.split(' ').collect();
    assert!(
        fields
            .get(3)
            .is_some_and(|r| r.starts_with("/runsc/userns")),
        "{line}"
    );
    assert!(
        fields
            .get(5)
            .is_some_and(|o| o.split(',').any(|f| f == "ro")),
        "{line}"
    );
    let warned = env.log_lines().iter().any(|l| {
        l["level"] == "warning"
            && l["msg"]
                .as_str()
                .is_some_and(|m| m.starts_with("cannot raise ambient capability CAP_KILL"))
    });
    assert!(warned, "{:?}", env.log_lines());
}

#[test]
fn namespaces_are_joined_by_path() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["readlink", "/proc/self/ns/net"]);
    let mut holder = std::process::Command::new("unshare")
        .args(["--net", "sleep", "100"])
        .spawn()
        .expect("unshare");
    let path = format!("/proc/{}/ns/net", holder.id());
    let deadline = Instant::now() + Duration::from_secs(5);
    let self_ns = std::fs::read_link("/proc/self/ns/net").unwrap();
    while std::fs::read_link(&path).ok().as_ref() == Some(&self_ns) {
        assert!(
            Instant::now() < deadline,
            "unshare never made its namespace"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let expected = std::fs::read_link(&path).unwrap();
    edit_config(&bundle, |c| {
        for ns in c["linux"]["namespaces"].as_array_mut().unwrap() {
            if ns["type"] == "network" {
                ns["path"] = json!(path);
            }
        }
    });
    let id = env.id("joinnet");
    let out = env.runsc(&["run", "-b", bundle.to_str().unwrap(), &id]);
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), expected.to_str().unwrap());
    env.assert_clean(&[&id]);
}

#[test]
fn seccomp_notify_descriptor_reaches_the_listener() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["sleep", "1000"]);
    let sock = env.path().join("seccomp.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    edit_config(&bundle, |c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": sock,
            "listenerMetadata": "test-meta",
            "syscalls": [{"names": ["mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
        });
    });
    let id = env.id("notify");
    let _reaper = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    env.ok(&["run", "--detach", "-b", bundle.to_str().unwrap(), &id]);
    let (conn, _) = listener.accept().unwrap();
    let mut buf = vec![0u8; 8192];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = nix::sys::socket::recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        nix::sys::socket::MsgFlags::empty(),
    )
    .unwrap();
    let mut fds = Vec::new();
    for c in msg.cmsgs().unwrap() {
        if let nix::sys::socket::ControlMessageOwned::ScmRights(f) = c {
            fds.extend(f);
        }
    }
    let n = msg.bytes;
    let state: serde_json::Value = serde_json::from_slice(&buf[..n]).expect("state json");
    assert_eq!(state["fds"], json!(["seccompFd"]));
    assert_eq!(state["metadata"], "test-meta");
    assert_eq!(state["state"]["id"], id);
    assert_eq!(fds.len(), 1);
    let target = std::fs::read_link(format!("/proc/self/fd/{}", fds[0])).unwrap();
    assert_eq!(target.to_str(), Some("anon_inode:seccomp notify"));
    // SAFETY: the descriptor came to us over SCM_RIGHTS and is ours.
    drop(unsafe { OwnedFd::from_raw_fd(fds[0]) });
    env.ok(&["delete", "--force", &id]);
    env.assert_clean(&[&id]);
}
