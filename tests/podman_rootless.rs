//! Rootless Podman (Debian's 4.3) with `--runtime` pointing at our binary,
//! run by an ordinary user: run, exec, top, stop, rm, `run --rm` and
//! `-it`. Podman runs its runtime as root of a user namespace it made, with
//! no `--root`: our state then goes to the user's $XDG_RUNTIME_DIR/runsc,
//! as runc's goes to .../runc. Storage is vfs in the user's own directory.

mod common;
mod podman_support;

use std::process::{Command, Output};

use common::unprivileged::Unprivileged;
use common::{stderr, stdout, wait_for, Env};
use podman_support::ULIMITS;

struct RootlessPodman<'a> {
    env: &'a Env,
    user: Unprivileged,
}

impl RootlessPodman<'_> {
    fn cmd(&self, args: &[&str]) -> Command {
        let storage = self.user.home.join("storage");
        let runroot = self.user.xdg.join("containers");
        let mut full = vec![
            "--root",
            storage.to_str().expect("utf-8 path"),
            "--runroot",
            runroot.to_str().expect("utf-8 path"),
            "--storage-driver",
            "vfs",
            "--cgroup-manager",
            "cgroupfs",
            "--events-backend",
            "file",
            "--runtime",
            common::runsc_bin(),
        ];
        full.extend(args);
        self.user.cmd(&self.user.home, "podman", &full)
    }

    /// The command as one shell line, for a terminal of its own.
    fn line(&self, args: &[&str]) -> String {
        let cmd = self.cmd(args);
        std::iter::once(cmd.get_program())
            .chain(cmd.get_args())
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn run(&self, args: &[&str]) -> Output {
        self.env.output(self.cmd(args))
    }

    fn ok(&self, args: &[&str]) -> String {
        podman_support::expect_ok(self.run(args), args)
    }

    /// Our state entries in the user's default state root.
    fn state_entries(&self) -> Vec<String> {
        std::fs::read_dir(self.user.xdg.join("runsc"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for RootlessPodman<'_> {
    fn drop(&mut self) {
        let _ = self.run(&["rm", "--all", "--force", "--time", "0"]);
        // Then `Unprivileged` kills what still runs as the user (Podman's
        // pause process among it), and `Env` removes the storage.
    }
}

#[test]
fn rootless_podman_runs_execs_tops_stops_and_removes_a_container() {
    if common::skip_without_root() {
        return;
    }
    if !podman_support::installed(true) {
        return;
    }
    let env = Env::new();
    let user = Unprivileged::new(&env);
    let image = "localhost/runsc-busybox:rootless";
    let archive = podman_support::busybox_archive(&env, image, &user.home.join("image.tar"));
    user.chown_all(&archive);
    let podman = RootlessPodman { env: &env, user };
    podman.ok(&["load", "-i", archive.to_str().expect("utf-8 path")]);

    let mut run = vec!["run", "-d", "--network", "none", "--hostname", "rl-podded"];
    run.extend(ULIMITS);
    run.extend([image, "sleep", "1000"]);
    let id = podman.ok(&run).trim().to_string();
    let state = podman.ok(&["inspect", "-f", "{{.State.Status}} {{.State.Pid}}", &id]);
    assert!(state.starts_with("running "), "{state}");
    assert_eq!(
        podman.state_entries(),
        std::slice::from_ref(&id),
        "state not in $XDG_RUNTIME_DIR/runsc"
    );
    let pid: i32 = state
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("pid");
    // The sandbox runs as the user on the host, not as root.
    let uid = common::proc_status(pid, "Uid");
    assert_eq!(
        uid.split_whitespace().next(),
        Some(podman.user.uid.to_string().as_str()),
        "sandbox uids: {uid}"
    );

    // ... and its pid leads into the container's uts and network namespaces.
    let entered = podman_support::entered_net_uts(&pid.to_string());
    assert_eq!(entered, ["rl-podded", "lo"]);

    let seen = podman.ok(&["exec", &id, "sh", "-c", "hostname; id -u"]);
    let seen: Vec<&str> = seen.lines().map(str::trim).collect();
    assert_eq!(seen, ["rl-podded", "0"]);
    let out = podman.run(&["exec", &id, "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));

    let top = podman.ok(&["top", &id, "-eo", "pid,comm"]);
    podman_support::assert_top_lists_the_container(&top);
    let top = podman.ok(&["top", &id]);
    podman_support::assert_default_top_lists_the_container(&top);

    podman.ok(&["stop", "--time", "1", &id]);
    let state = podman.ok(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}}",
        &id,
    ]);
    assert_eq!(state.trim(), "exited 137");
    podman.ok(&["rm", &id]);
    assert_eq!(podman.ok(&["ps", "--all", "--quiet"]).trim(), "");
    wait_for(
        "our state entry to go",
        std::time::Duration::from_secs(10),
        || podman.state_entries().is_empty(),
    );

    let mut rm = vec!["run", "--rm", "--network", "none"];
    rm.extend(ULIMITS);
    rm.extend([image, "sh", "-c", "echo from-rootless-podman; exit 3"]);
    let out = podman.run(&rm);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "from-rootless-podman");
    assert_eq!(podman.ok(&["ps", "--all", "--quiet"]).trim(), "");

    // -it: a shell on a terminal, its exit status back.
    let mut it = vec!["run", "-it", "--rm", "--network", "none"];
    it.extend(ULIMITS);
    it.extend([image, "sh"]);
    common::assert_shell_on_a_terminal(&podman.line(&it));
    assert_eq!(podman.ok(&["ps", "--all", "--quiet"]).trim(), "");
    assert_eq!(podman.state_entries(), Vec::<String>::new());
    // Only Podman's own pause process may still run as the user: none of
    // ours (a sandbox or gofer runs our binary).
    let ours: Vec<i32> = podman
        .user
        .processes()
        .into_iter()
        .filter(|p| {
            std::fs::read_link(format!("/proc/{p}/exe"))
                .is_ok_and(|e| e.to_string_lossy().contains("runsc"))
        })
        .collect();
    assert_eq!(ours, Vec::<i32>::new(), "sandboxes or gofers left");
}
