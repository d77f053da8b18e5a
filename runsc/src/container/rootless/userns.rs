//! The user namespace a rootless `create` runs in: the caller's uid and gid
//! become root there, so that the gofer and the sandbox can make their
//! namespaces and mounts, owned by the user and by no one else.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxIdMapping, LinuxIdMappingBuilder, LinuxNamespaceType, Spec};

use super::super::LifecycleError;
use specutils::error::{os, OsError};

/// Moves this process into a new user namespace where our effective uid
/// and gid are 0, mapping only those (what an unprivileged process may map
/// itself; setgroups is then denied, as in runc's rootless containers).
/// Must run while the process is single-threaded: unshare refuses
/// CLONE_NEWUSER otherwise.
pub fn enter_user_namespace() -> Result<(), OsError> {
    if ENTERED.load(Ordering::Relaxed) {
        return Ok(());
    }
    let uid = rustix::process::geteuid().as_raw();
    let gid = rustix::process::getegid().as_raw();
    nix::sched::unshare(CloneFlags::CLONE_NEWUSER).map_err(os(
        "rootless: unshare a user namespace (are unprivileged user namespaces allowed here?)",
    ))?;
    write_proc_self("uid_map", &format!("0 {uid} 1\n"))?;
    write_proc_self("setgroups", "deny")?;
    write_proc_self("gid_map", &format!("0 {gid} 1\n"))?;
    ENTERED.store(true, Ordering::Relaxed);
    Ok(())
}

static ENTERED: AtomicBool = AtomicBool::new(false);

/// Whether this process moved itself into a user namespace of its own with
/// [`enter_user_namespace`]: a rootless run by a user who is not root.
pub fn entered_user_namespace() -> bool {
    ENTERED.load(Ordering::Relaxed)
}

fn write_proc_self(file: &str, data: &str) -> Result<(), OsError> {
    let path = Path::new("/proc/self").join(file);
    std::fs::write(&path, data).map_err(os(format!("write {}", path.display())))
}

/// Refuses, as runc does, a spec without a user namespace of its own: its
/// container would share the sandbox's. Then rewrites the spec's uid and
/// gid mappings, whose host ids are the host's, into ids of the user
/// namespace we run in, which is where the sandbox writes them. A host id
/// outside our namespace cannot be mapped by this user: an error naming it.
pub fn prepare_spec(spec: &mut Spec) -> Result<(), LifecycleError> {
    let has_user_ns = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == LinuxNamespaceType::User));
    let Some(linux) = spec.linux_mut().as_mut().filter(|_| has_user_ns) else {
        return Err(LifecycleError::Invalid(
            "rootless: the spec needs a user namespace (runsc spec --rootless writes one)".into(),
        ));
    };
    if let Some(maps) = linux.uid_mappings().clone() {
        let own = own_map("uid_map")?;
        linux.set_uid_mappings(Some(translate(&maps, &own, "uid")?));
    }
    if let Some(maps) = linux.gid_mappings().clone() {
        let own = own_map("gid_map")?;
        linux.set_gid_mappings(Some(translate(&maps, &own, "gid")?));
    }
    Ok(())
}

/// One line of /proc/self/{uid,gid}_map: ids `inside..inside+len` are
/// `outside..` in the parent namespace.
#[derive(Debug, Clone, Copy)]
struct Extent {
    inside: u32,
    outside: u32,
    len: u32,
}

fn own_map(file: &str) -> Result<Vec<Extent>, LifecycleError> {
    let path = Path::new("/proc/self").join(file);
    let text = std::fs::read_to_string(&path).map_err(os(format!("read {}", path.display())))?;
    Ok(text
        .lines()
        .filter_map(|line| {
            let mut n = line.split_whitespace().map(|f| f.parse::<u32>().ok());
            Some(Extent {
                inside: n.next()??,
                outside: n.next()??,
                len: n.next()??,
            })
        })
        .collect())
}

fn translate(
    maps: &[LinuxIdMapping],
    own: &[Extent],
    kind: &str,
) -> Result<Vec<LinuxIdMapping>, LifecycleError> {
    maps.iter()
        .map(|m| {
            let (host, size) = (m.host_id(), m.size());
            let extent = own.iter().find(|e| {
                host >= e.outside
                    && u64::from(host) + u64::from(size) <= u64::from(e.outside) + u64::from(e.len)
            });
            let Some(e) = extent else {
                return Err(LifecycleError::Invalid(format!(
                    "rootless: linux.{kind}Mappings maps host {kind} {host} (size {size}), \
                     which this user cannot map: map only its own {kind}"
                )));
            };
            LinuxIdMappingBuilder::default()
                .container_id(m.container_id())
                .host_id(e.inside + (host - e.outside))
                .size(size)
                .build()
                .map_err(|err| LifecycleError::Invalid(format!("{kind} mapping: {err}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{translate, Extent};
    use oci_spec::runtime::LinuxIdMappingBuilder;

    fn map(container: u32, host: u32, size: u32) -> oci_spec::runtime::LinuxIdMapping {
        LinuxIdMappingBuilder::default()
            .container_id(container)
            .host_id(host)
            .size(size)
            .build()
            .unwrap()
    }

    #[test]
    fn host_ids_become_ids_of_our_namespace() {
        let own = [Extent {
            inside: 0,
            outside: 1001,
            len: 1,
        }];
        let got = translate(&[map(0, 1001, 1)], &own, "uid").unwrap();
        assert_eq!(
            (got[0].container_id(), got[0].host_id(), got[0].size()),
            (0, 0, 1)
        );
        assert!(translate(&[map(0, 1001, 2)], &own, "uid").is_err());
        assert!(translate(&[map(0, 0, 1)], &own, "uid").is_err());
        // The initial namespace's map is the identity.
        let initial = [Extent {
            inside: 0,
            outside: 0,
            len: u32::MAX,
        }];
        let got = translate(&[map(0, 100000, 65536)], &initial, "uid").unwrap();
        assert_eq!(got[0].host_id(), 100000);
    }
}
