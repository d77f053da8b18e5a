//! How the sandbox spawns an exec'd process: a child that shares the
//! sandbox's memory (CLONE_VM|CLONE_VFORK, sandbox/src/exec/). What could
//! go wrong is invisible to one exec: a child that allocated, or wrote
//! into the sandbox's memory, would grow the sandbox's heap exec after
//! exec; a failure would leave a process or lose its reason.

mod common;

use common::{assert_exec_fails_with, sandbox_pid, Env, Reaper};

/// The sandbox's resident heap ([heap] and anonymous mappings) in KiB,
/// from smaps_rollup, and its own minor page faults.
fn sandbox_memory(pid: i64) -> (u64, u64) {
    let rollup =
        std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).expect("smaps_rollup");
    let anon = rollup
        .lines()
        .find_map(|l| l.strip_prefix("Anonymous:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("Anonymous: in smaps_rollup");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // Fields after the command name, which ends at the last ')'.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let minflt = rest
        .split(' ')
        .nth(7)
        .and_then(|v| v.parse().ok())
        .expect("minflt");
    (anon, minflt)
}

/// The sandbox's children (the holder is its sibling, not among them).
fn children(pid: i64) -> Vec<String> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("tasks")
        .flatten()
    {
        let list = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        out.extend(list.split_whitespace().map(str::to_string));
    }
    out.sort();
    out
}

#[test]
fn hundreds_of_execs_leave_the_sandbox_as_it_was() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["sleep", "1000"]);
    // HOME is then found in the image's /etc/passwd.
    common::edit_config(&bundle, |c| {
        let env = c["process"]["env"].as_array_mut().expect("env");
        env.retain(|e| !e.as_str().is_some_and(|e| e.starts_with("HOME=")));
    });
    let id = env.id("many");
    let reaper = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    env.ok(&["run", "--detach", "-b", bundle.to_str().unwrap(), &id]);
    let sandbox = sandbox_pid(&env, &id);
    // The first execs grow the sandbox's allocator to its working size.
    for _ in 0..20 {
        env.ok(&["exec", &id, "true"]);
    }
    let (anon_before, faults_before) = sandbox_memory(sandbox);
    const EXECS: u64 = 300;
    for n in 0..EXECS {
        // Arguments, environment and cwd that differ each time, so that
        // whatever the child copied would be new memory each time.
        let arg = format!("arg-{n}-{}", "x".repeat(n as usize % 97));
        let env_var = format!("VAR{n}={arg}");
        env.ok(&[
            "exec", "--env", &env_var, "--cwd", "/tmp", &id, "true", &arg,
        ]);
    }
    let (anon_after, faults_after) = sandbox_memory(sandbox);
    let out = env.ok(&["exec", &id, "sh", "-c", "echo $VAR5-$(pwd)-$HOME"]);
    assert_eq!(
        out.trim(),
        "-/-/root",
        "an exec's environment leaked into the next"
    );
    let out = env.ok(&["exec", "--user", "1000", &id, "sh", "-c", "echo $HOME"]);
    assert_eq!(
        out.trim(),
        "/home/user",
        "HOME of uid 1000 from /etc/passwd"
    );
    drop(reaper);
    env.assert_clean(&[&id]);
    let per_exec = (faults_after - faults_before) / EXECS;
    eprintln!("sandbox: anonymous {anon_before} -> {anon_after} KiB, {per_exec} faults an exec");
    // A child that allocated 1 KiB per exec in the shared heap would add
    // 300 KiB; the sandbox's own requests, as they come, stay far below.
    assert!(
        anon_after <= anon_before + 128,
        "sandbox's anonymous memory grew from {anon_before} to {anon_after} KiB over {EXECS} execs"
    );
    // A fork'd child's copy of the page tables costs the sandbox about 30
    // copy-on-write faults an exec; sharing them, next to none.
    assert!(
        per_exec < 12,
        "the sandbox took {per_exec} page faults per exec ({faults_before} to {faults_after})"
    );
}

/// Flags, command, and what the error must say: the texts the fork'd
/// child wrote itself, which runc's users see alike.
type Refusal<'a> = (&'a [&'a str], &'a [&'a str], &'a str);

/// Runs each refused exec in a sleeper of `bundle`; each must fail with
/// its text and leave no process in the sandbox, which must still take
/// an exec afterwards.
fn assert_refused(env: &Env, bundle: &std::path::Path, name: &str, cases: &[Refusal<'_>]) {
    let id = env.id(name);
    let reaper = Reaper {
        env,
        ids: vec![id.clone()],
    };
    env.ok(&["run", "--detach", "-b", bundle.to_str().unwrap(), &id]);
    let sandbox = sandbox_pid(env, &id);
    let before = children(sandbox);
    for (flags, cmd, needle) in cases {
        let mut line = vec!["exec"];
        line.extend(*flags);
        line.push(&id);
        line.extend(*cmd);
        let out = env.runsc(&line);
        assert_exec_fails_with(&out, needle);
        assert_eq!(
            children(sandbox),
            before,
            "{line:?} left a process in the sandbox"
        );
    }
    assert_eq!(env.ok(&["exec", &id, "echo", "ok"]).trim(), "ok");
    drop(reaper);
    env.assert_clean(&[&id]);
}

#[test]
fn a_failed_exec_says_why_and_leaves_no_process() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["sleep", "1000"]);
    let cases: [Refusal<'_>; 7] = [
        (
            &[],
            &["nosuchcmd"],
            "exec: \"nosuchcmd\": executable file not found in $PATH",
        ),
        (
            &[],
            &["/no/such/file"],
            "exec: \"/no/such/file\": stat /no/such/file: no such file or directory",
        ),
        (
            &["--cwd", "/no/such/dir"],
            &["true"],
            "chdir to cwd /no/such/dir: no such file or directory",
        ),
        (
            &["--cwd", "/etc/passwd"],
            &["true"],
            "chdir to cwd /etc/passwd: not a directory",
        ),
        // Past the identity change: execve itself refuses.
        (
            &[],
            &["/etc/passwd"],
            "exec: \"/etc/passwd\": permission denied",
        ),
        (&[], &["/tmp"], "exec: \"/tmp\": permission denied"),
        (&["--cap", "CAP_NO_SUCH"], &["true"], "CAP_NO_SUCH"),
    ];
    assert_refused(&env, &bundle, "fail", &cases);
}

/// A file that passes runc's checks but that execve refuses is, as under
/// runc, an exec'd process that exits 1 with the reason on its stderr.
#[test]
fn an_exec_execve_refuses_exits_1_as_under_runc() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["sleep", "1000"]);
    let bad = bundle.join("rootfs/bad");
    std::fs::write(&bad, "not a program\n").unwrap();
    std::fs::set_permissions(&bad, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let id = env.id("refused");
    let reaper = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    env.ok(&["run", "--detach", "-b", bundle.to_str().unwrap(), &id]);
    let sandbox = sandbox_pid(&env, &id);
    let before = children(sandbox);
    let ours = env.runsc(&["exec", &id, "/bad"]);
    assert_eq!(children(sandbox), before, "the refused exec left a process");

    let root = env.path().join("runc-root");
    let runc = |args: &[&str], quiet: bool| {
        let mut cmd = std::process::Command::new("runc");
        cmd.arg("--root").arg(&root).args(args);
        if quiet {
            cmd.stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
        }
        cmd.output().expect("runc")
    };
    let started = runc(&["run", "-d", "-b", bundle.to_str().unwrap(), &id], true);
    let theirs = runc(&["exec", &id, "/bad"], false);
    runc(&["delete", "-f", &id], true);
    assert!(started.status.success(), "runc run -d failed");
    let seen = |o: &std::process::Output| (o.status.code(), common::stderr(o));
    assert_eq!(
        seen(&theirs),
        seen(&ours),
        "runc (left) against runsc-rs (right)"
    );
    assert_eq!(
        seen(&ours),
        (Some(1), "exec /bad: exec format error\n".into())
    );
    drop(reaper);
    env.assert_clean(&[&id]);
}

/// Users and groups the container's user namespace does not map.
#[test]
fn a_user_outside_the_user_namespace_is_refused() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["sleep", "1000"]);
    common::edit_config(&bundle, common::add_user_namespace);
    let cases: [Refusal<'_>; 3] = [
        (
            &["--user", "70000"],
            &["true"],
            "set uid 70000: invalid argument",
        ),
        (
            &["--user", "0:70000"],
            &["true"],
            "set gid 70000: invalid argument",
        ),
        (
            &["--user", "1000", "--additional-gids", "70000"],
            &["true"],
            "set additional groups: invalid argument",
        ),
    ];
    assert_refused(&env, &bundle, "user", &cases);
}
