//! What `create` writes into a parent cgroup that its siblings share: with
//! many containers running, those writes cost in proportion to the
//! siblings (BENCHMARKS.md, row j), so they are made only when needed.

mod common;

use std::path::{Path, PathBuf};

use common::{edit_config, Env, Reaper};
use rustix::fs::inotify;
use serde_json::json;

/// The cgroup2 mount: the unified one of a hybrid host, or the only one.
fn cgroup2_root() -> Option<PathBuf> {
    let table = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    table.lines().find_map(|line| {
        let (before, after) = line.split_once(" - ")?;
        (after.split(' ').next()? == "cgroup2")
            .then(|| before.split(' ').nth(4).map(PathBuf::from))?
    })
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .trim()
        .to_owned()
}

/// Removes the test's own parent cgroup in every hierarchy when dropped
/// (a parent named in cgroupsPath is not the runtime's to remove).
struct ParentCgroup(String);

impl Drop for ParentCgroup {
    fn drop(&mut self) {
        for dir in common::cgroup_dirs(&self.0) {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

#[test]
fn a_parent_that_has_its_controllers_is_not_written_again() {
    if common::skip_without_root() {
        return;
    }
    let Some(unified) = cgroup2_root() else {
        eprintln!("skipped: no cgroup2 mount");
        return;
    };
    if read(&unified.join("cgroup.controllers")).is_empty() {
        eprintln!("skipped: cgroup2 has no controllers to hand down");
        return;
    }
    let env = Env::new();
    // A parent of the test's own, so that no other runtime's create in
    // `/runsc` writes the file this test watches.
    let parent = env.id("parent");
    let _parent = ParentCgroup(parent.clone());
    let first = env.id("first");
    let second = env.id("second");
    let reaper = Reaper {
        env: &env,
        ids: vec![first.clone(), second.clone()],
    };
    let create = |id: &str| {
        let bundle = env.bundle(id, &["sleep", "100"]);
        edit_config(&bundle, |c| {
            c["linux"]["cgroupsPath"] = json!(format!("/{parent}/{id}"));
        });
        env.ok(&["create", "-b", bundle.to_str().unwrap(), id]);
    };
    create(&first);
    let control = unified.join(&parent).join("cgroup.subtree_control");
    let enabled = read(&control);
    assert!(!enabled.is_empty(), "{} is empty", control.display());

    let watch = inotify::init(inotify::CreateFlags::NONBLOCK).expect("inotify_init1");
    inotify::add_watch(&watch, &control, inotify::WatchFlags::MODIFY).expect("inotify watch");
    create(&second);
    let mut buf = [std::mem::MaybeUninit::uninit(); 1024];
    let mut events = inotify::Reader::new(&watch, &mut buf);
    let written = events.next().map(|e| format!("{:?}", e.events()));
    assert_eq!(
        written,
        Err(rustix::io::Errno::AGAIN),
        "the second create wrote {} again: {written:?}",
        control.display()
    );
    assert_eq!(read(&control), enabled);
    // The second container still got the controllers' files.
    for controller in enabled.split_whitespace() {
        let leaf = unified.join(&parent).join(&second);
        let has_files = std::fs::read_dir(&leaf)
            .expect("read leaf cgroup")
            .flatten()
            .any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(&format!("{controller}."))
            });
        assert!(has_files, "no {controller} files in {}", leaf.display());
    }
    drop(reaper);
    env.assert_clean(&[]);
    for id in [&first, &second] {
        for dir in common::cgroup_dirs(&format!("{parent}/{id}")) {
            assert!(!dir.exists(), "cgroup left: {}", dir.display());
        }
    }
}

#[test]
fn runsc_parent_has_the_kernel_copy_its_cpuset_into_containers() {
    if common::skip_without_root() {
        return;
    }
    let Some(cpuset) = common::v1_hierarchy("cpuset") else {
        eprintln!("skipped: no v1 cpuset hierarchy");
        return;
    };
    let env = Env::new();
    let id = env.id("cpuset");
    let reaper = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    let bundle = env.bundle("b", &["sleep", "100"]);
    env.ok(&["create", "-b", bundle.to_str().unwrap(), &id]);
    let parent = cpuset.join("runsc");
    let leaf = parent.join(&id);
    // Set while any container is in /runsc (which goes with the last one).
    assert_eq!(read(&parent.join("cgroup.clone_children")), "1");
    // The kernel passes the flag on; the container's own is as runc's.
    assert_eq!(read(&leaf.join("cgroup.clone_children")), "0");
    for name in ["cpuset.cpus", "cpuset.mems"] {
        let in_leaf = read(&leaf.join(name));
        assert!(!in_leaf.is_empty(), "{name} of {} is empty", leaf.display());
        assert_eq!(in_leaf, read(&parent.join(name)), "{name}");
    }
    // And the container's init is in it.
    let init = common::init_pid(&env, &id);
    let procs = read(&leaf.join("cgroup.procs"));
    assert!(
        procs.lines().any(|p| p == init.to_string()),
        "init {init} not in {}: {procs}",
        leaf.display()
    );
    drop(reaper);
    env.assert_clean(&[&id]);
}

/// A parent `create` makes is 0755 whatever the caller's umask: made under
/// umask 077 it was 0700, and a user-namespaced container created below
/// it by anyone else could not reach its own directory to bind it as
/// /sys/fs/cgroup (`mount cgroups ... permission denied`).
#[test]
fn cgroups_made_under_umask_077_are_0755() {
    if common::skip_without_root() {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let parent = env.id("umask-parent");
    let _parent = ParentCgroup(parent.clone());
    let id = env.id("umask");
    let reaper = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    let bundle = env.bundle("b", &["sleep", "100"]);
    edit_config(&bundle, |c| {
        c["linux"]["cgroupsPath"] = json!(format!("/{parent}/{id}"));
    });
    let mut cmd = env.cmd(&["create", "-b", bundle.to_str().unwrap(), &id]);
    common::with_umask(&mut cmd, 0o077);
    let out = env.output(cmd);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let dirs: Vec<PathBuf> = common::cgroup_dirs(&parent)
        .into_iter()
        .chain(common::cgroup_dirs(&format!("{parent}/{id}")))
        .collect();
    for dir in dirs {
        let mode = std::fs::metadata(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755, "{}", dir.display());
    }
    drop(reaper);
    env.assert_clean(&[]);
}
