//! systemd's cgroup layout for `--systemd-cgroup`: where systemd would
//! put a container's scope, as a cgroupfs path. Nothing is registered with
//! systemd; only the place is the same.

use std::path::PathBuf;

use super::{resolve_path, CgroupError};

/// The cgroupfs path of a systemd-style `cgroupsPath`, `slice:prefix:name`
/// (what containerd and kubelet send with runc's `--systemd-cgroup`): the
/// directory systemd would give unit `<prefix>-<name>.scope` in that
/// slice, whose dashes nest (`a-b.slice` is `a.slice/a-b.slice`). A name
/// ending in `.slice` is a slice of its own. An empty slice is
/// `system.slice`; no path at all is `system.slice:runsc:<id>`. No unit is
/// registered with systemd: only the place is the same.
pub fn systemd_path(given: Option<&str>, id: &str) -> Result<PathBuf, CgroupError> {
    let raw = given.filter(|p| !p.is_empty());
    let invalid = |reason| CgroupError::InvalidPath(PathBuf::from(raw.unwrap_or_default()), reason);
    let (slice, prefix, name) = match raw.map(|r| r.split(':').collect::<Vec<_>>()) {
        None => ("", "runsc", id),
        Some(parts) => match parts[..] {
            [slice, prefix, name] => (slice, prefix, name),
            _ => {
                return Err(invalid(
                    "with --systemd-cgroup it must be slice:prefix:name",
                ))
            }
        },
    };
    let slice = if slice.is_empty() {
        "system.slice"
    } else {
        slice
    };
    let mut path = expand_slice(slice).ok_or_else(|| invalid("the slice is not a valid name"))?;
    if name.is_empty() || name.contains('/') || prefix.contains('/') {
        return Err(invalid("the unit name is not a valid name"));
    }
    if name.ends_with(".slice") {
        path.push(name);
    } else if prefix.is_empty() {
        path.push(format!("{name}.scope"));
    } else {
        path.push(format!("{prefix}-{name}.scope"));
    }
    resolve_path(Some(&path), id)
}

/// `a-b-c.slice` as the directories systemd nests it in:
/// `/a.slice/a-b.slice/a-b-c.slice`; `-.slice` is the root.
fn expand_slice(slice: &str) -> Option<PathBuf> {
    let mut path = PathBuf::from("/");
    if slice == "-.slice" {
        return Some(path);
    }
    let stem = slice.strip_suffix(".slice")?;
    if stem.is_empty()
        || stem.contains('/')
        || stem.starts_with('-')
        || stem.ends_with('-')
        || stem.contains("--")
    {
        return None;
    }
    let mut prefix = String::new();
    for part in stem.split('-') {
        if !prefix.is_empty() {
            prefix.push('-');
        }
        prefix.push_str(part);
        path.push(format!("{prefix}.slice"));
    }
    Some(path)
}

#[cfg(test)]
mod path_tests {
    use super::*;

    fn ok(given: Option<&str>) -> String {
        systemd_path(given, "c1")
            .map(|p| p.display().to_string())
            .unwrap_or_else(|e| format!("error: {e}"))
    }

    #[test]
    fn systemd_paths_land_where_systemd_puts_them() {
        assert_eq!(
            ok(Some("kubepods-besteffort-pod12.slice:cri-containerd:abc")),
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod12.slice/cri-containerd-abc.scope"
        );
        assert_eq!(
            ok(Some("system.slice:docker:abc")),
            "/system.slice/docker-abc.scope"
        );
        assert_eq!(ok(Some(":runsc:abc")), "/system.slice/runsc-abc.scope");
        assert_eq!(ok(Some("machine.slice::abc")), "/machine.slice/abc.scope");
        assert_eq!(ok(Some("-.slice:x:abc")), "/x-abc.scope");
        assert_eq!(ok(Some("a.slice:x:a-b.slice")), "/a.slice/a-b.slice");
        assert_eq!(ok(None), "/system.slice/runsc-c1.scope");
        assert_eq!(ok(Some("")), "/system.slice/runsc-c1.scope");
    }

    #[test]
    fn bad_systemd_paths_are_refused() {
        for bad in [
            "/runsc/c1",
            "a:b",
            "a:b:c:d",
            "a.slice:x:",
            "noslice:x:abc",
            "-a.slice:x:abc",
            "a--b.slice:x:abc",
            "a-.slice:x:abc",
            "../x.slice:x:abc",
            "a.slice:x:../../etc",
            "a.slice:../x:abc",
        ] {
            assert!(
                ok(Some(bad)).starts_with("error: invalid cgroup path"),
                "{bad}: {}",
                ok(Some(bad))
            );
        }
    }
}
