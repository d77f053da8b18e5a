//! A container's cgroup path from the spec's `cgroupsPath`, checked so
//! that removing it can never take the host's root or a sibling along.

use std::path::{Component, Path, PathBuf};

use super::{CgroupError, DEFAULT_PARENT};

/// The cgroup path, absolute and normalised. `..` is refused because it would
/// leave the cgroup filesystem, and the root because removing it would kill
/// every process on the host.
pub(super) fn resolve_path(path: Option<&Path>, id: &str) -> Result<PathBuf, CgroupError> {
    let given = path.filter(|p| !p.as_os_str().is_empty());
    let raw = given.map_or_else(|| Path::new(DEFAULT_PARENT).join(id), Path::to_path_buf);
    let invalid = |reason| CgroupError::InvalidPath(raw.clone(), reason);
    let id_is_one_name = matches!(
        Path::new(id).components().collect::<Vec<_>>()[..],
        [Component::Normal(_)]
    );
    if given.is_none() && !id_is_one_name {
        // Otherwise removing one container's cgroup could take others along.
        return Err(invalid("the container id must be one path component"));
    }
    let mut resolved = PathBuf::from("/");
    for component in raw.components() {
        match component {
            Component::Normal(name) => resolved.push(name),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => return Err(invalid("\"..\" in it")),
        }
    }
    if resolved == Path::new("/") {
        return Err(invalid("the root cgroup holds the whole host"));
    }
    Ok(resolved)
}
