//! `sandbox::cgroup` against the real kernel; run as root. Each test works in
//! its own cgroup under `/runsc-test` and removes it, pass or fail.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};

use oci_spec::runtime::{
    LinuxCpuBuilder, LinuxHugepageLimitBuilder, LinuxMemoryBuilder, LinuxPidsBuilder,
    LinuxResources, LinuxResourcesBuilder,
};
use sandbox::cgroup::{Cgroup, CgroupError};

const PARENT: &str = "/runsc-test";
const MIB: i64 = 1 << 20;

/// Tests share `/runsc-test`; one at a time, so that one test removing it
/// cannot race another creating a cgroup inside.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn test_path(name: &str) -> PathBuf {
    PathBuf::from(format!("{PARENT}/{}-{name}", std::process::id()))
}

/// Removes the cgroup, and `/runsc-test` once empty, when the test ends.
struct CgroupGuard(Cgroup);

impl Drop for CgroupGuard {
    fn drop(&mut self) {
        if let Err(e) = self.0.remove() {
            eprintln!("cleanup: {e}");
        }
        for dir in self.0.dirs() {
            if let Some(parent) = dir.parent() {
                let _ = fs::remove_dir(parent);
            }
        }
    }
}

/// Kills and reaps a child the test did not finish with.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Where the cgroup's file for `controller` lives: `v1_file` in the v1
/// hierarchy carrying the controller, else `v2_file` in the cgroup2 one.
/// The bool says whether it is v1.
fn find_controller_file(
    path: &Path,
    controller: &str,
    v1_file: &str,
    v2_file: &str,
) -> Option<(PathBuf, bool)> {
    let relative = path.strip_prefix("/").unwrap();
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mut v2_root = None;
    for line in mountinfo.lines() {
        let (mount, fs) = line.split_once(" - ").unwrap();
        let mount_point = mount.split(' ').nth(4).unwrap();
        let mut fs = fs.split(' ');
        let (fs_type, options) = (fs.next().unwrap(), fs.nth(1).unwrap_or(""));
        if fs_type == "cgroup" && options.split(',').any(|o| o == controller) {
            return Some((Path::new(mount_point).join(relative).join(v1_file), true));
        }
        if fs_type == "cgroup2" {
            v2_root = Some(PathBuf::from(mount_point));
        }
    }
    v2_root.map(|root| (root.join(relative).join(v2_file), false))
}

fn controller_file(path: &Path, controller: &str, v1_file: &str, v2_file: &str) -> (PathBuf, bool) {
    find_controller_file(path, controller, v1_file, v2_file)
        .unwrap_or_else(|| panic!("no hierarchy carries {controller}"))
}

fn cgroup2_mounted() -> bool {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
    mountinfo.lines().any(|l| l.contains(" - cgroup2 "))
}

fn read(file: &Path) -> String {
    fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("read {}: {e}", file.display()))
        .trim()
        .to_owned()
}

fn pids_limit(limit: i64) -> LinuxResources {
    LinuxResourcesBuilder::default()
        .pids(LinuxPidsBuilder::default().limit(limit).build().unwrap())
        .build()
        .unwrap()
}

fn assert_frozen(path: &Path, frozen: bool) {
    let (file, v1) = controller_file(path, "freezer", "freezer.state", "cgroup.events");
    let state = read(&file);
    if v1 {
        assert_eq!(state, if frozen { "FROZEN" } else { "THAWED" });
    } else {
        let want = if frozen { "frozen 1" } else { "frozen 0" };
        assert!(state.lines().any(|l| l == want), "{state}");
    }
}

#[test]
fn cgroup_lifecycle_limits_freeze_update_remove() {
    let _serial = serial();
    let path = test_path("lifecycle");
    let resources = LinuxResourcesBuilder::default()
        .pids(LinuxPidsBuilder::default().limit(10).build().unwrap())
        .memory(
            LinuxMemoryBuilder::default()
                .limit(64 * MIB)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let guard = CgroupGuard(Cgroup::create(Some(&path), "unused", Some(&resources)).unwrap());
    let cgroup = &guard.0;
    assert_eq!(cgroup.path(), path);
    assert!(cgroup.dirs().iter().all(|d| d.is_dir()));

    let (pids_max, _) = controller_file(&path, "pids", "pids.max", "pids.max");
    assert_eq!(read(&pids_max), "10");
    let (memory_max, _) = controller_file(&path, "memory", "memory.limit_in_bytes", "memory.max");
    assert_eq!(read(&memory_max), (64 * MIB).to_string());

    let mut child = ChildGuard(Command::new("sleep").arg("100").spawn().unwrap());
    let pid = i32::try_from(child.0.id()).unwrap();
    cgroup.add_process(pid).unwrap();
    assert_eq!(cgroup.pids().unwrap(), vec![pid]);
    // Every hierarchy, named and (hybrid) unified ones included; the "0::"
    // line is there even when no cgroup2 is mounted.
    let own = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let joined = |l: &&str| l.ends_with(path.to_str().unwrap());
    let expected = own
        .lines()
        .filter(|l| cgroup2_mounted() || !l.starts_with("0::"));
    assert!(
        expected.clone().count() > 0 && expected.clone().all(|l| joined(&l)),
        "{own}"
    );

    cgroup.freeze().unwrap();
    assert_frozen(&path, true);
    let v1_freezer = controller_file(&path, "freezer", "", "").1;
    if v1_freezer {
        // The v1 freezer parks tasks in uninterruptible sleep.
        assert_eq!(proc_state(pid), 'D');
    }
    cgroup.thaw().unwrap();
    assert_frozen(&path, false);
    // Thawed: sleeping again, or for a moment running on its way there.
    let state = proc_state(pid);
    assert!(matches!(state, 'S' | 'R'), "state {state} after thaw");

    cgroup.update(&pids_limit(5)).unwrap();
    assert_eq!(read(&pids_max), "5");
    assert_eq!(
        read(&memory_max),
        (64 * MIB).to_string(),
        "update kept memory"
    );

    let stats = cgroup.stats().unwrap();
    assert_eq!(stats.pids.current, 1);
    assert_eq!(stats.pids.limit, 5);
    assert_eq!(stats.memory.memory.limit, 64 << 20);
    serde_json::to_string(&stats).unwrap();

    // Paused containers get deleted too: removal must not hang on the freezer.
    cgroup.freeze().unwrap();
    cgroup.remove().unwrap();
    let status = child.0.wait().unwrap();
    assert_eq!(status.signal(), Some(sigkill()));
    assert!(!cgroup.exists());
    assert!(cgroup.dirs().iter().all(|d| !d.exists()));
    cgroup.remove().unwrap();
}

/// The state letter of /proc/<pid>/stat (after the parenthesised command).
fn proc_state(pid: i32) -> char {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let (_, rest) = stat.rsplit_once(") ").unwrap();
    rest.chars().next().unwrap()
}

fn sigkill() -> i32 {
    nix::sys::signal::Signal::SIGKILL as i32
}

#[test]
fn cgroup_fork_beyond_pids_max_fails() {
    let _serial = serial();
    let path = test_path("fork");
    let guard = CgroupGuard(Cgroup::create(Some(&path), "unused", Some(&pids_limit(3))).unwrap());
    let cgroup = &guard.0;
    let (pids_max, _) = controller_file(&path, "pids", "pids.max", "pids.max");
    assert_eq!(read(&pids_max), "3");

    // The shell waits on stdin until it is in the cgroup.
    let script = "read go; for i in 1 2 3 4 5 6; do sleep 5 & done; wait";
    let mut child = Command::new("sh")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let mut child = ChildGuard(child);
    cgroup
        .add_process(i32::try_from(child.0.id()).unwrap())
        .unwrap();
    child.0.stdin.take().unwrap().write_all(b"go\n").unwrap();

    let status = child.0.wait().unwrap();
    assert!(
        !status.success(),
        "the shell forked six times under pids.max=3"
    );
    // The sleeps that did start hold stderr open; removal kills them.
    cgroup.remove().unwrap();
    let mut message = String::new();
    stderr.read_to_string(&mut message).unwrap();
    let message = message.to_lowercase();
    assert!(
        message.contains("fork") || message.contains("resource temporarily unavailable"),
        "{message}"
    );
}

#[test]
fn cgroup_cpu_cpuset_and_hugetlb_limits() {
    let _serial = serial();
    let path = test_path("cpu");
    let hugetlb = find_controller_file(
        &path,
        "hugetlb",
        "hugetlb.2MB.limit_in_bytes",
        "hugetlb.2MB.max",
    );
    let hugetlb_available = Path::new("/sys/kernel/mm/hugepages/hugepages-2048kB").exists()
        && hugetlb.as_ref().is_some_and(|(file, v1)| {
            *v1 || {
                let root = file.ancestors().nth(path.components().count());
                root.map(|r| read(&r.join("cgroup.controllers")))
                    .is_some_and(|c| c.split(' ').any(|c| c == "hugetlb"))
            }
        });
    let mut builder = LinuxResourcesBuilder::default().cpu(
        LinuxCpuBuilder::default()
            .shares(512u64)
            .quota(50_000i64)
            .period(100_000u64)
            .cpus("0")
            .mems("0")
            .build()
            .unwrap(),
    );
    if hugetlb_available {
        builder = builder.hugepage_limits(vec![LinuxHugepageLimitBuilder::default()
            .page_size("2MB")
            .limit(4 * MIB)
            .build()
            .unwrap()]);
    } else {
        eprintln!("no hugetlb controller with 2MB pages; hugetlb not checked");
    }
    let resources = builder.build().unwrap();
    let guard = CgroupGuard(Cgroup::create(Some(&path), "unused", Some(&resources)).unwrap());

    let (cpu, v1) = controller_file(&path, "cpu", "cpu.cfs_quota_us", "cpu.max");
    if v1 {
        assert_eq!(read(&cpu), "50000");
        assert_eq!(read(&cpu.with_file_name("cpu.cfs_period_us")), "100000");
        assert_eq!(read(&cpu.with_file_name("cpu.shares")), "512");
    } else {
        assert_eq!(read(&cpu), "50000 100000");
    }
    let (cpus, _) = controller_file(&path, "cpuset", "cpuset.cpus", "cpuset.cpus");
    assert_eq!(read(&cpus), "0");
    if let Some((hugetlb_file, _)) = hugetlb.filter(|_| hugetlb_available) {
        assert_eq!(read(&hugetlb_file), (4 * MIB).to_string());
        let stats = guard.0.stats().unwrap();
        assert!(stats.hugetlb.contains_key("2MB"), "{:?}", stats.hugetlb);
    }

    // A process can join although only cpus and mems were given explicitly.
    let mut child = ChildGuard(Command::new("sleep").arg("100").spawn().unwrap());
    guard
        .0
        .add_process(i32::try_from(child.0.id()).unwrap())
        .unwrap();
    guard.0.remove().unwrap();
    assert_eq!(child.0.wait().unwrap().signal(), Some(sigkill()));
}

#[test]
fn cgroup_kill_all_and_remove_reach_nested() {
    let _serial = serial();
    let path = test_path("nested");
    let guard = CgroupGuard(Cgroup::create(Some(&path), "unused", None).unwrap());
    let cgroup = &guard.0;
    let mut top = ChildGuard(Command::new("sleep").arg("100").spawn().unwrap());
    let mut nested = ChildGuard(Command::new("sleep").arg("100").spawn().unwrap());
    let top_pid = i32::try_from(top.0.id()).unwrap();
    let nested_pid = i32::try_from(nested.0.id()).unwrap();
    cgroup.add_process(top_pid).unwrap();
    cgroup.add_process(nested_pid).unwrap();
    // As a container would in its cgroup namespace: a child cgroup in every
    // hierarchy, with one process moved down where the kernel allows it
    // without further setup.
    for dir in cgroup.dirs() {
        fs::create_dir(dir.join("inner")).unwrap();
    }
    let (pids_procs, _) = controller_file(&path, "pids", "cgroup.procs", "cgroup.procs");
    let inner_procs = pids_procs.with_file_name("inner").join("cgroup.procs");
    fs::write(&inner_procs, nested_pid.to_string()).unwrap();
    assert_eq!(read(&inner_procs), nested_pid.to_string());
    assert_eq!(cgroup.pids().unwrap(), {
        let mut both = vec![top_pid, nested_pid];
        both.sort_unstable();
        both
    });

    cgroup.kill_all(nix::sys::signal::Signal::SIGTERM).unwrap();
    let sigterm = nix::sys::signal::Signal::SIGTERM as i32;
    assert_eq!(top.0.wait().unwrap().signal(), Some(sigterm));
    assert_eq!(nested.0.wait().unwrap().signal(), Some(sigterm));

    cgroup.remove().unwrap();
    assert!(cgroup.dirs().iter().all(|d| !d.exists()));
}

#[test]
fn cgroup_failed_create_leaves_nothing_behind() {
    let _serial = serial();
    let path = test_path("failed");
    let resources = LinuxResourcesBuilder::default()
        .cpu(LinuxCpuBuilder::default().cpus("100000").build().unwrap())
        .build()
        .unwrap();
    let err = Cgroup::create(Some(&path), "unused", Some(&resources)).unwrap_err();
    assert!(matches!(err, CgroupError::Apply(..)), "{err}");
    assert!(err.to_string().contains(path.to_str().unwrap()), "{err}");
    let cgroup = Cgroup::open(Some(&path), "unused").unwrap();
    assert!(!cgroup.exists());
    for dir in cgroup.dirs() {
        let parent = dir.parent().unwrap();
        assert!(!parent.exists(), "{} left behind", parent.display());
    }
}

#[test]
fn cgroup_paths() {
    let _serial = serial();
    let default = Cgroup::open(None, "abc").unwrap();
    assert_eq!(default.path(), Path::new("/runsc/abc"));
    let relative = Cgroup::open(Some(Path::new("runsc-test/./x//y")), "abc").unwrap();
    assert_eq!(relative.path(), Path::new("/runsc-test/x/y"));
    for bad in ["/", "/a/../../b", "../x"] {
        let err = Cgroup::open(Some(Path::new(bad)), "abc").unwrap_err();
        assert!(matches!(err, CgroupError::InvalidPath(..)), "{bad}: {err}");
    }
    for bad in ["", "..", "a/b"] {
        let err = Cgroup::open(None, bad).unwrap_err();
        assert!(
            matches!(err, CgroupError::InvalidPath(..)),
            "{bad:?}: {err}"
        );
    }
    // Removing what was never created, or is already gone, succeeds.
    let missing = Cgroup::open(Some(&test_path("missing")), "abc").unwrap();
    assert!(!missing.exists());
    missing.remove().unwrap();
}

#[test]
fn cgroup_error_is_send_sync() {
    fn check<T: Send + Sync + 'static>() {}
    check::<CgroupError>();
}
