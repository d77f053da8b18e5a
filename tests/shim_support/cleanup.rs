//! What a containerd of the tests leaves behind, removed after a failed
//! test or a killed run.

use std::path::Path;
use std::process::Command;

use super::common::{self, runsc_bin};
use super::RUNC_SHIM;

/// The shims of `binary` serving the containerd at `address`.
pub(super) fn shims_of(address: &Path, binary: &str) -> Vec<i32> {
    let address = address.to_string_lossy().into_owned();
    common::processes_whose_cmdline(|c| c.contains(binary) && c.contains(&address))
}

/// What the containerd in `dir`, stopped, left behind after a failed test
/// (or a killed run): its shims, then what they ran, ours in `runsc_root`
/// and the per-namespace roots under it, runc's, their mounts, and the
/// parent cgroups containerd's default cgroupsPath made.
pub(super) fn clear(dir: &Path, address: &Path, runsc_root: &Path) {
    let shims = [RUNC_SHIM, "containerd-shim-runsc-v1"].map(|b| shims_of(address, b));
    for shim in shims.into_iter().flatten() {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(shim),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    // Ours, in our shim's root, and in the per-namespace roots that
    // runc's shim gives us as its BinaryName (handler `runc-runsc`).
    let entries = |root: &Path| -> Vec<std::fs::DirEntry> {
        std::fs::read_dir(root)
            .map(|d| d.flatten().collect())
            .unwrap_or_default()
    };
    let mut roots = vec![runsc_root.to_path_buf()];
    roots.extend(
        entries(runsc_root)
            .iter()
            .filter(|e| e.path().is_dir() && !e.path().join("meta.json").exists())
            .map(|e| e.path()),
    );
    for root in &roots {
        for entry in entries(root) {
            if !entry.path().join("meta.json").exists() {
                continue;
            }
            let _ = Command::new(runsc_bin())
                .arg("--root")
                .arg(root)
                .args(["delete", "--force"])
                .arg(entry.file_name())
                .output();
        }
    }
    // runc's containers, under the runc shim's root per namespace.
    let runc_root = dir.join("runc-root");
    for ns in std::fs::read_dir(&runc_root)
        .into_iter()
        .flatten()
        .flatten()
    {
        for c in std::fs::read_dir(ns.path()).into_iter().flatten().flatten() {
            let _ = Command::new("runc")
                .arg("--root")
                .arg(ns.path())
                .args(["delete", "--force"])
                .arg(c.file_name())
                .output();
        }
    }
    common::unmount_under(dir);
    // The parents containerd's default cgroupsPath made, once empty.
    for parent in ["default", "k8s.io"] {
        for dir in common::cgroup_dirs(parent) {
            let _ = std::fs::remove_dir(dir);
        }
    }
}
