//! The store under concurrency and crashes, with real processes.
//!
//! The children are this test binary run again on an ignored helper test,
//! told what to do through the environment.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use runsc::container::store::{write_temp, META_NAME};
use runsc::container::{Container, ContainerStore, Status, StoreError};

const ROLE: &str = "RUNSC_STORE_TEST_ROLE";
const ROOT: &str = "RUNSC_STORE_TEST_ROOT";
const GO: &str = "RUNSC_STORE_TEST_GO";
const EXIT_ALREADY_EXISTS: i32 = 3;

fn child(test: &str, role: &str, root: &Path, go: &Path) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
    cmd.args(["--ignored", "--exact", test, "--test-threads=1", "--quiet"])
        .env(ROLE, role)
        .env(ROOT, root)
        .env(GO, go);
    cmd
}

fn sample(id: &str) -> Container {
    Container::new(id, "/bundle".into(), "/bundle/rootfs".into(), id)
}

fn wait_for(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !path.exists() {
        assert!(Instant::now() < deadline, "timed out waiting for {path:?}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The child side of the tests below; does nothing unless a parent set
/// the role.
#[test]
#[ignore = "helper run by other tests in a child process"]
fn store_child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let root = PathBuf::from(std::env::var(ROOT).expect("root"));
    let store = ContainerStore::open(&root).expect("open");
    wait_for(Path::new(&std::env::var(GO).expect("go")));
    match role.as_str() {
        "create" => match store.create(&sample("race")) {
            Ok(()) => std::process::exit(0),
            Err(StoreError::AlreadyExists(_)) => std::process::exit(EXIT_ALREADY_EXISTS),
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1)
            }
        },
        "crash-before-rename" => {
            let mut locked = store.lock("victim").expect("lock");
            locked.container.status = Status::Created;
            let data = serde_json::to_vec(&locked.container).expect("encode");
            let _pending = write_temp(&store.dir("victim"), META_NAME, &data).expect("temp");
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
            unreachable!("SIGKILL delivered");
        }
        other => panic!("unknown role {other}"),
    }
}

#[test]
fn thirty_two_processes_race_to_create_one_id() {
    if common::skip_without_root() {
        return;
    }
    let env = common::Env::new();
    let go = env.path().join("go");
    let children: Vec<_> = (0..32)
        .map(|_| {
            child("store_child", "create", &env.root, &go)
                .spawn()
                .expect("spawn child")
        })
        .collect();
    std::fs::write(&go, "").unwrap();
    let mut codes: Vec<i32> = children
        .into_iter()
        .map(|c| {
            c.wait_with_output()
                .expect("wait child")
                .status
                .code()
                .unwrap_or(-1)
        })
        .collect();
    codes.sort();
    let mut expected = vec![EXIT_ALREADY_EXISTS; 31];
    expected.insert(0, 0);
    assert_eq!(codes, expected);
    let store = ContainerStore::open(&env.root).unwrap();
    assert_eq!(store.ids().unwrap(), vec!["race".to_string()]);
    assert_eq!(store.load("race").unwrap().status, Status::Creating);
    // Losers leave no temporary directories behind.
    assert_eq!(std::fs::read_dir(&env.root).unwrap().count(), 1);
}

#[test]
fn kill_between_write_and_rename_keeps_old_meta() {
    if common::skip_without_root() {
        return;
    }
    let env = common::Env::new();
    let store = ContainerStore::open(&env.root).unwrap();
    store.create(&sample("victim")).unwrap();
    let before = std::fs::read(store.dir("victim").join(META_NAME)).unwrap();

    let go = env.path().join("go");
    std::fs::write(&go, "").unwrap();
    let status = child("store_child", "crash-before-rename", &env.root, &go)
        .status()
        .expect("run child");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "child must die mid-write"
    );

    // The new content sits in a temporary file, never read as meta.json.
    let temps: Vec<_> = std::fs::read_dir(store.dir("victim"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('~'))
        .collect();
    assert_eq!(temps.len(), 1, "the killed writer's temp file is there");
    assert_eq!(
        std::fs::read(store.dir("victim").join(META_NAME)).unwrap(),
        before
    );
    assert_eq!(store.load("victim").unwrap().status, Status::Creating);
    assert_eq!(store.ids().unwrap(), vec!["victim".to_string()]);

    // The lock died with the writer, and the next write goes through.
    let mut locked = store.lock("victim").unwrap();
    locked.container.status = Status::Created;
    locked.save().unwrap();
    drop(locked);
    assert_eq!(store.load("victim").unwrap().status, Status::Created);
}

/// A pids cgroup of its own that allows one task, removed on drop.
struct OneTaskCgroup(PathBuf);

impl OneTaskCgroup {
    fn new(name: &str) -> Self {
        // v1 (and hybrid) hosts have a pids hierarchy; on v2 the root
        // delegates pids to its children.
        let v1 = Path::new("/sys/fs/cgroup/pids");
        let base = if v1.join("pids.max").exists() || v1.join("tasks").exists() {
            v1.to_path_buf()
        } else {
            PathBuf::from("/sys/fs/cgroup")
        };
        let dir = base.join(name);
        std::fs::create_dir(&dir).expect("make a pids cgroup");
        std::fs::write(dir.join("pids.max"), "1").expect("set pids.max");
        Self(dir)
    }
}

impl Drop for OneTaskCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn list_reads_everything_when_it_cannot_make_threads() {
    if common::skip_without_root() {
        return;
    }
    use std::os::unix::process::CommandExt;
    let env = common::Env::new();
    let store = ContainerStore::open(&env.root).expect("open store");
    // Enough entries that list would spread the reading over threads.
    let ids: Vec<String> = (0..600).map(|i| format!("c{i:04}")).collect();
    for id in &ids {
        store.create(&sample(id)).expect("create entry");
    }
    let cgroup = OneTaskCgroup::new(&env.id("list-pids"));
    let procs = std::fs::OpenOptions::new()
        .write(true)
        .open(cgroup.0.join("cgroup.procs"))
        .expect("open cgroup.procs");
    let procs_fd = std::os::fd::AsRawFd::as_raw_fd(&procs);
    // Not -q: that lists ids without reading any metadata.
    let mut cmd = env.cmd(&["list", "--format", "json"]);
    // SAFETY: the child only calls write(2) on a descriptor opened before
    // the fork, which is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            if libc::write(procs_fd, b"0".as_ptr().cast(), 1) != 1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().expect("run list");
    drop(procs);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let states: Vec<serde_json::Value> =
        serde_json::from_str(&common::stdout(&out)).expect("list json");
    let listed: Vec<&str> = states.iter().filter_map(|s| s["id"].as_str()).collect();
    assert_eq!(listed, ids);
}
