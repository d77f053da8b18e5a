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
        if let Err(e) = containerd_shim::mount::mount_rootfs(fstype, source, &m.options, &target) {
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

pub fn unmount_rootfs(bundle: &Path) {
    let target = bundle.join("rootfs");
    if let Err(e) = containerd_shim::mount::umount_recursive(target.to_str(), libc::MNT_DETACH) {
        log::warn!("unmount {}: {e}", target.display());
    }
}
