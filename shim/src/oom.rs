//! OOM kills in a container's cgroup, as they happen: cgroup v1's
//! memory.oom_control notification through an eventfd, or cgroup v2's
//! memory.events watched with inotify. A thread per container blocks on
//! it and ends when the cgroup goes.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Calls `on_oom` for each OOM in the cgroup whose directories are `dirs`.
pub fn watch(dirs: &[PathBuf], on_oom: impl Fn() + Send + 'static) {
    let v1 = dirs.iter().find(|d| d.join("memory.oom_control").exists());
    let v2 = dirs.iter().find(|d| d.join("memory.events").exists());
    let (dir, v1) = match (v1, v2) {
        (Some(d), _) => (d.clone(), true),
        (None, Some(d)) => (d.clone(), false),
        (None, None) => return,
    };
    std::thread::spawn(move || {
        let watched = if v1 {
            watch_v1(&dir, &on_oom)
        } else {
            watch_v2(&dir, &on_oom)
        };
        if let Err(e) = watched {
            log::warn!("watch {} for OOM: {e}", dir.display());
        }
    });
}

fn watch_v1(dir: &Path, on_oom: &dyn Fn()) -> std::io::Result<()> {
    let control = File::open(dir.join("memory.oom_control"))?;
    let efd = rustix::event::eventfd(0, rustix::event::EventfdFlags::CLOEXEC)?;
    std::fs::write(
        dir.join("cgroup.event_control"),
        format!("{} {}", efd.as_raw_fd(), control.as_raw_fd()),
    )?;
    let mut count = [0u8; 8];
    loop {
        rustix::io::read(&efd, &mut count)?;
        // The notification also fires when the cgroup is removed.
        if !dir.exists() {
            return Ok(());
        }
        on_oom();
    }
}

fn watch_v2(dir: &Path, on_oom: &dyn Fn()) -> std::io::Result<()> {
    use rustix::fs::inotify;
    let events = dir.join("memory.events");
    let fd = inotify::init(inotify::CreateFlags::CLOEXEC)?;
    inotify::add_watch(&fd, &events, inotify::WatchFlags::MODIFY)?;
    let mut seen = oom_kills(&events);
    let mut buf = [0u8; 4096];
    loop {
        rustix::io::read(&fd, &mut buf)?;
        if !dir.exists() {
            return Ok(());
        }
        let now = oom_kills(&events);
        if now > seen {
            on_oom();
        }
        seen = now;
    }
}

fn oom_kills(events: &Path) -> u64 {
    std::fs::read_to_string(events)
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}
