//! containerd's rootfs mounts, which the shim makes on the bundle's
//! rootfs at Create and takes down at Delete.

use std::path::Path;

use containerd_shim::TtrpcResult;

use crate::service::internal;

/// Mounts containerd's rootfs mounts on `bundle`/rootfs; whether any.
pub fn mount_rootfs(
    bundle: &Path,
    mounts: &[containerd_shim::protos::types::mount::Mount],
) -> TtrpcResult<bool> {
    let target = bundle.join("rootfs");
    for m in mounts {
        let fstype = Some(m.type_.as_str()).filter(|t| !t.is_empty());
        let source = Some(m.source.as_str()).filter(|s| !s.is_empty());
        if let Err(e) = mount_one(fstype, source, &m.options, &target) {
            unmount_rootfs(bundle);
            return Err(internal(format!(
                "mount rootfs {} on {}: {e}",
                m.source,
                target.display()
            )));
        }
    }
    Ok(!mounts.is_empty())
}

/// One of containerd's mounts: its options split into mount flags and
/// the filesystem's data, as mount(8) does. (The crate's own mount_rootfs
/// forks and waits through the crate's reaper, which the shim turns off.)
fn mount_one(
    fstype: Option<&str>,
    source: Option<&str>,
    options: &[String],
    target: &Path,
) -> nix::Result<()> {
    use nix::mount::MsFlags;
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for o in options {
        match o.as_str() {
            "ro" => flags.insert(MsFlags::MS_RDONLY),
            "rw" => flags.remove(MsFlags::MS_RDONLY),
            "nosuid" => flags.insert(MsFlags::MS_NOSUID),
            "nodev" => flags.insert(MsFlags::MS_NODEV),
            "noexec" => flags.insert(MsFlags::MS_NOEXEC),
            "noatime" => flags.insert(MsFlags::MS_NOATIME),
            "relatime" => flags.insert(MsFlags::MS_RELATIME),
            "sync" => flags.insert(MsFlags::MS_SYNCHRONOUS),
            "bind" => flags.insert(MsFlags::MS_BIND),
            "rbind" => flags.insert(MsFlags::MS_BIND | MsFlags::MS_REC),
            "suid" | "dev" | "exec" | "async" | "defaults" => {}
            other => data.push(other),
        }
    }
    let data = data.join(",");
    let bind = flags.contains(MsFlags::MS_BIND);
    let fstype = fstype.filter(|t| *t != "bind");
    let data = Some(data.as_str()).filter(|d| !d.is_empty());
    nix::mount::mount(source, target, fstype, flags, data)?;
    // A bind mount takes read-only only from a remount.
    if bind && flags.contains(MsFlags::MS_RDONLY) {
        let remount = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY;
        nix::mount::mount(None::<&str>, target, None::<&str>, remount, None::<&str>)?;
    }
    Ok(())
}

pub fn unmount_rootfs(bundle: &Path) {
    let target = bundle.join("rootfs");
    if let Err(e) = containerd_shim::mount::umount_recursive(target.to_str(), libc::MNT_DETACH) {
        log::warn!("unmount {}: {e}", target.display());
    }
}
