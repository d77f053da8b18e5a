//! Podman (Debian's 4.3), rootful, with `--runtime` pointing at our binary:
//! run, exec, top, stop, rm, `run --rm` and `run -it`. Podman gets a storage, run
//! root, tmpdir and runtime state root of its own in the test's
//! directory; images come from tools/mkimage, loaded without a registry.
//! Rootless Podman: tests/podman_rootless.rs.

mod common;
mod podman_support;

use podman_support::ULIMITS;

use std::path::Path;
use std::process::{Command, Output};

use common::{cgroup_dirs, stderr, stdout, unmount_under, Env};

/// A private Podman: everything it keeps lives under the test's
/// directory. Dropping it removes its containers, stops what it left
/// running (conmon, our sandboxes and gofers, by pid) and unmounts its
/// storage.
struct Podman<'a> {
    env: &'a Env,
    /// The cgroup (cgroupfs manager) that holds conmon and the containers.
    cgroup_parent: String,
    /// `Drop`'s cleanup but for `podman rm`, should the test run be killed.
    _interrupted: common::interrupted::Task,
}

impl<'a> Podman<'a> {
    /// None where podman is missing and cannot be installed.
    fn new(env: &'a Env) -> Option<Self> {
        if !podman_support::installed(false) {
            return None;
        }
        let cgroup_parent = env.id("podman");
        let interrupted = {
            let (dir, parent) = (env.path().to_path_buf(), cgroup_parent.clone());
            common::interrupted::watch_task(move || clear(&dir, &parent))
        };
        Some(Self {
            env,
            cgroup_parent,
            _interrupted: interrupted,
        })
    }

    /// Our binary with the test's state root. Podman names no root, and
    /// its `--runtime-flag` does not reach the cleanup that conmon runs
    /// when a container exits, so the runtime it is given carries it.
    fn runtime(&self) -> std::path::PathBuf {
        let path = self.env.path().join("runsc-podman");
        if !path.exists() {
            let script = format!(
                "#!/bin/sh\nexec {} --root {} \"$@\"\n",
                common::runsc_bin(),
                self.env.root.display()
            );
            std::fs::write(&path, script).expect("write runtime wrapper");
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .expect("make runtime wrapper executable");
        }
        path
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let d = self.env.path();
        let mut c = Command::new("podman");
        c.arg("--root")
            .arg(d.join("storage"))
            .arg("--runroot")
            .arg(d.join("runroot"))
            .arg("--tmpdir")
            .arg(d.join("tmp"))
            .arg("--network-config-dir")
            .arg(d.join("net"))
            .args([
                "--storage-driver",
                "overlay",
                "--cgroup-manager",
                "cgroupfs",
                "--events-backend",
                "file",
                "--runtime",
            ])
            .arg(self.runtime())
            .args(args.iter().take(1))
            .args(
                matches!(args.first(), Some(&"run"))
                    .then(|| format!("--cgroup-parent=/{}", self.cgroup_parent)),
            )
            .args(args.iter().skip(1))
            .stdin(std::process::Stdio::null());
        c
    }

    /// The same command as one shell line (the test's paths need no
    /// quoting).
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

    /// Stops this Podman (its Drop) and asserts that nothing of it or of
    /// ours is left: mounts, its cgroup parent, processes.
    fn assert_leaves_nothing(self) {
        let (env, parent) = (self.env, self.cgroup_parent.clone());
        drop(self);
        assert_eq!(env.leftover_mounts(), Vec::<String>::new(), "mounts left");
        for cg in cgroup_dirs(&parent) {
            assert!(!cg.exists(), "cgroup left: {}", cg.display());
        }
        assert_eq!(
            env.leftover_processes(),
            Vec::<i32>::new(),
            "processes left"
        );
    }

    /// `podman load` of a busybox image from tools/mkimage.
    fn load_busybox(&self, name: &str) {
        let archive = self.env.path().join("image.tar");
        let archive = podman_support::busybox_archive(self.env, name, &archive);
        self.ok(&["load", "-i", archive.to_str().expect("utf-8 path")]);
    }
}

impl Drop for Podman<'_> {
    fn drop(&mut self) {
        let _ = self.run(&["rm", "--all", "--force", "--time", "0"]);
        kill_processes_naming(self.env.path());
        let _ = self.run(&["unmount", "--all", "--force"]);
        clear(self.env.path(), &self.cgroup_parent);
    }
}

fn kill_processes_naming(dir: &Path) {
    for pid in common::processes_naming(dir) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// What a Podman in test directory `dir` left running or mounted: its
/// processes (conmon, our sandboxes and gofers, by pid: their command
/// lines name `dir`), its mounts, and its containers' cgroups under
/// `cgroup_parent`, deepest first, in every hierarchy.
fn clear(dir: &Path, cgroup_parent: &str) {
    kill_processes_naming(dir);
    unmount_under(dir);
    for parent in cgroup_dirs(cgroup_parent) {
        let mut dirs: Vec<_> = std::fs::read_dir(&parent)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        dirs.push(parent);
        for d in dirs {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// The cgroups podman's cgroupfs manager gives container `id` under
/// `parent`.
fn cgroups_of(parent: &str, id: &str) -> Vec<std::path::PathBuf> {
    cgroup_dirs(&format!("{parent}/libpod-{id}"))
        .into_iter()
        .filter(|d| d.exists())
        .collect()
}

#[test]
fn podman_runs_execs_tops_stops_and_removes_a_container() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let Some(podman) = Podman::new(&env) else {
        return;
    };
    let image = "localhost/runsc-busybox:test";
    podman.load_busybox(image);

    let mut run = vec!["run", "-d", "--network", "none", "--hostname", "podded"];
    run.extend(ULIMITS);
    run.extend([image, "sleep", "1000"]);
    let id = podman.ok(&run).trim().to_string();
    let state = podman.ok(&["inspect", "-f", "{{.State.Status}} {{.State.Pid}}", &id]);
    assert!(state.starts_with("running "), "{state}");
    // The pid podman has is the one our state reports.
    let ours = env.state(&id)["pid"].to_string();
    assert_eq!(state.split_whitespace().nth(1), Some(ours.as_str()));
    // ... and it leads into the container's network and uts namespaces.
    assert_eq!(podman_support::entered_net_uts(&ours), ["podded", "lo"]);

    let seen = podman.ok(&[
        "exec",
        &id,
        "sh",
        "-c",
        "hostname; tail -n +3 /proc/net/dev | cut -d: -f1; ulimit -n",
    ]);
    let seen: Vec<&str> = seen.lines().map(str::trim).collect();
    assert_eq!(seen, ["podded", "lo", "1024"]);
    let out = podman.run(&["exec", &id, "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));

    // top with ps(1) descriptors runs ps in the container, and without
    // reads /proc in the reported pid's mount namespace: both list the
    // container's processes, none of the host's.
    let top = podman.ok(&["top", &id, "-eo", "pid,comm"]);
    podman_support::assert_top_lists_the_container(&top);
    let top = podman.ok(&["top", &id]);
    podman_support::assert_default_top_lists_the_container(&top);

    // --pid container: names /proc/<reported pid>/ns/pid; the joiner sees
    // the container's processes, not the host's.
    let pid_mode = format!("container:{id}");
    let mut join = vec!["run", "--rm", "--network", "none", "--pid", &pid_mode];
    join.extend(ULIMITS);
    join.extend([image, "sh", "-c", "tr '\\0' ' ' < /proc/1/cmdline"]);
    assert_eq!(podman.ok(&join).trim(), "sleep 1000");

    assert!(
        !cgroups_of(&podman.cgroup_parent, &id).is_empty(),
        "no cgroup for {id}"
    );
    podman.ok(&["stop", "--time", "1", &id]);
    let state = podman.ok(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}}",
        &id,
    ]);
    assert_eq!(state.trim(), "exited 137");
    podman.ok(&["rm", &id]);
    let all = podman.ok(&["ps", "--all", "--quiet"]);
    assert_eq!(all.trim(), "");
    assert_eq!(
        cgroups_of(&podman.cgroup_parent, &id),
        Vec::<std::path::PathBuf>::new()
    );
    assert_eq!(
        env.leftover_processes(),
        Vec::<i32>::new(),
        "processes left"
    );

    let mut rm = vec!["run", "--rm", "--network", "none"];
    rm.extend(ULIMITS);
    rm.extend([image, "sh", "-c", "echo from-podman; exit 3"]);
    let out = podman.run(&rm);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "from-podman");
    assert_eq!(podman.ok(&["ps", "--all", "--quiet"]).trim(), "");

    // -it: a shell on a terminal, its exit status back.
    let mut it = vec!["run", "-it", "--rm", "--network", "none"];
    it.extend(ULIMITS);
    it.extend([image, "sh"]);
    common::assert_shell_on_a_terminal(&podman.line(&it));
    assert_eq!(podman.ok(&["ps", "--all", "--quiet"]).trim(), "");

    let entries: Vec<_> = std::fs::read_dir(&env.root)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(entries.is_empty(), "store entries left: {entries:?}");
    podman.assert_leaves_nothing();
}

/// The number the container's counter last wrote.
fn counted(podman: &Podman, name: &str) -> u64 {
    let text = podman.ok(&["exec", name, "cat", "/tmp/n"]);
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("{name}: {text:?}"))
}

#[test]
fn podman_checkpoints_and_restores_a_container_and_a_copy() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let Some(podman) = Podman::new(&env) else {
        return;
    };
    let image = "localhost/runsc-busybox:test";
    podman.load_busybox(image);
    // Written aside and renamed, so a reader never sees it empty.
    let counter =
        "i=0; while true; do i=$((i+1)); echo $i > /tmp/m; mv /tmp/m /tmp/n; sleep 0.05; done";
    let mut run = vec!["run", "-d", "--name", "c1", "--network", "none"];
    run.extend(ULIMITS);
    run.extend([image, "sh", "-c", counter]);
    podman.ok(&run);
    common::wait_for("the counter", std::time::Duration::from_secs(10), || {
        podman
            .run(&["exec", "c1", "cat", "/tmp/n"])
            .status
            .success()
    });

    // --leave-running reaches the runtime twice (Podman 4.3 repeats it),
    // and the copy restores into a container of its own, whose rootfs has
    // none of the first's mount points (/run/.containerenv).
    let archive = env.path().join("c1.tar");
    let archive = archive.to_str().unwrap();
    podman.ok(&[
        "container",
        "checkpoint",
        "--leave-running",
        "--export",
        archive,
        "c1",
    ]);
    let at_checkpoint = counted(&podman, "c1");
    podman.ok(&["container", "restore", "--import", archive, "--name", "c2"]);
    let restored = counted(&podman, "c2");
    assert!(restored > 0, "the copy starts from the image's count");
    common::wait_for(
        "the copy to count on",
        std::time::Duration::from_secs(10),
        || counted(&podman, "c2") > restored,
    );
    assert!(
        counted(&podman, "c1") >= at_checkpoint,
        "the original ran on"
    );

    // Stopped by the checkpoint, and back.
    podman.ok(&["container", "checkpoint", "c1"]);
    let state = podman.ok(&["inspect", "-f", "{{.State.Status}}", "c1"]);
    assert_eq!(state.trim(), "exited");
    podman.ok(&["container", "restore", "c1"]);
    let before = counted(&podman, "c1");
    common::wait_for(
        "the restored one to count on",
        std::time::Duration::from_secs(10),
        || counted(&podman, "c1") > before,
    );

    podman.ok(&["rm", "--force", "--time", "0", "c1", "c2"]);
    assert_eq!(podman.ok(&["ps", "--all", "--quiet"]).trim(), "");
    podman.assert_leaves_nothing();
}
