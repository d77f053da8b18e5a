//! `delete --force` of a running container: its init goes first, and the
//! kernel ends its pid namespace with it, so the cgroup is empty when it is
//! removed and no freeze, kill and thaw round is needed (BENCHMARKS.md,
//! row j: that round took up to 10 ms with 1000 containers running).

mod common;

use std::path::PathBuf;

use common::{Env, Reaper};
use rustix::fs::inotify;

/// The file a freeze of cgroup `rel` writes: v1 `freezer.state` where the
/// freezer hierarchy is mounted, else cgroup2's `cgroup.freeze`.
fn freeze_file(rel: &str) -> Option<PathBuf> {
    if let Some(freezer) = common::v1_hierarchy("freezer") {
        return Some(freezer.join(rel).join("freezer.state"));
    }
    common::cgroup_dirs(rel)
        .into_iter()
        .map(|d| d.join("cgroup.freeze"))
        .find(|f| f.exists())
}

#[test]
fn force_delete_of_a_running_container_needs_no_freeze() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    // Several processes in the container's pid namespace, not only its init.
    let bundle = env.bundle("b", &["sh", "-c", "sleep 1000 & sleep 1000 & wait"]);
    let ids: Vec<String> = (0..5).map(|i| env.id(&format!("force{i}"))).collect();
    let reaper = Reaper {
        env: &env,
        ids: ids.clone(),
    };
    for id in &ids {
        env.ok(&["run", "--detach", "-b", bundle.to_str().unwrap(), id]);
        let Some(file) = freeze_file(&format!("runsc/{id}")) else {
            eprintln!("skipped: no freezer for the container's cgroup");
            return;
        };
        let watch = inotify::init(inotify::CreateFlags::NONBLOCK).expect("inotify_init1");
        inotify::add_watch(&watch, &file, inotify::WatchFlags::MODIFY)
            .unwrap_or_else(|e| panic!("watch {}: {e}", file.display()));
        env.ok(&["delete", "--force", id]);
        let mut buf = [std::mem::MaybeUninit::uninit(); 1024];
        let mut events = inotify::Reader::new(&watch, &mut buf);
        let mut writes = 0;
        loop {
            match events.next() {
                Ok(e) if e.events().contains(inotify::ReadFlags::MODIFY) => writes += 1,
                Ok(_) => {}
                Err(rustix::io::Errno::AGAIN) => break,
                Err(e) => panic!("read inotify events: {e}"),
            }
        }
        assert_eq!(writes, 0, "delete --force of {id} froze its cgroup");
        assert_eq!(
            env.leftover_processes(),
            Vec::<i32>::new(),
            "processes left"
        );
    }
    drop(reaper);
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    env.assert_clean(&ids);
}
