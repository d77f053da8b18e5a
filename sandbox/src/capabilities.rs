//! The sandbox's own capabilities. Every process it forks later (exec'd
//! processes, subcontainers' inits) starts from the sandbox's sets and can
//! only lose capabilities on the way to its own. So once the root
//! container exists, the sandbox keeps what it needs to set those
//! processes up, plus what its containers are granted, and drops the rest
//! from every set, the bounding set included, so that no execve can bring
//! them back.

use std::collections::BTreeSet;

use caps::{CapSet, Capability as Cap, CapsHashSet};
use oci_spec::runtime::{Process, Spec};

use crate::init::identity::to_caps;

/// What the sandbox still uses after boot, itself or in a forked child
/// before that child takes the identity of its process.
const NEEDED: [Cap; 12] = [
    // Namespaces, mounts, setns, pivot_root, and loading a container's
    // seccomp filter when its spec leaves no_new_privs off.
    Cap::CAP_SYS_ADMIN,
    // Joining a mount namespace (setns) takes it as well.
    Cap::CAP_SYS_CHROOT,
    // /proc/<pid>/ns of a container whose init runs as another user.
    Cap::CAP_SYS_PTRACE,
    // Signals to container processes of other users.
    Cap::CAP_KILL,
    // The process's user and groups.
    Cap::CAP_SETUID,
    Cap::CAP_SETGID,
    // Shrinking the bounding set and setting inheritable capabilities.
    Cap::CAP_SETPCAP,
    // Rlimits above the sandbox's own, and a lower oom_score_adj.
    Cap::CAP_SYS_RESOURCE,
    // Device nodes of a subcontainer and their owners.
    Cap::CAP_MKNOD,
    Cap::CAP_CHOWN,
    // Mount points and executables inside an image's directories, which
    // may belong to any user.
    Cap::CAP_DAC_OVERRIDE,
    Cap::CAP_DAC_READ_SEARCH,
];

#[derive(Debug, thiserror::Error)]
pub enum CapsError {
    #[error(transparent)]
    Spec(#[from] crate::init::InitError),
    #[error("{} not held by sandbox {sandbox}: a sandbox that is not a pod's keeps only the capabilities its root container was created with", held_names(.missing))]
    NotHeld {
        missing: Vec<String>,
        sandbox: String,
    },
    #[error("drop {cap} from the sandbox's bounding set: {source}")]
    Bounding {
        cap: Cap,
        source: caps::errors::CapsError,
    },
    #[error("set the sandbox's {set} capabilities: {source}")]
    Set {
        set: &'static str,
        source: caps::errors::CapsError,
    },
}

/// The capabilities a sandbox holds once it serves.
#[derive(Debug, Clone)]
pub enum Retained {
    /// A pod's sandbox: the containers still to come may be granted any
    /// capability, so it keeps them all.
    All,
    Only(CapsHashSet),
}

impl Retained {
    /// What the sandbox of `spec` keeps: everything for a pod's sandbox;
    /// otherwise what it needs and every capability of the root
    /// container's five sets.
    pub fn for_root(spec: &Spec) -> Result<Self, CapsError> {
        if specutils::annotations::is_pod_sandbox(spec) {
            return Ok(Retained::All);
        }
        let mut keep: CapsHashSet = NEEDED.into_iter().collect();
        if let Some(process) = spec.process() {
            keep.extend(granted(process)?);
        }
        Ok(Retained::Only(keep))
    }

    /// Drops from this process every capability not retained.
    pub fn apply(&self) -> Result<(), CapsError> {
        let Retained::Only(keep) = self else {
            return Ok(());
        };
        let known = caps::runtime::procfs_all_supported(None).unwrap_or_else(|_| caps::all());
        for cap in caps::all() {
            if keep.contains(&cap) || !known.contains(&cap) {
                continue;
            }
            caps::drop(None, CapSet::Bounding, cap)
                .map_err(|source| CapsError::Bounding { cap, source })?;
        }
        // Effective must stay within permitted at every step: shrink it
        // first. Lowering permitted also clears ambient capabilities not
        // in it.
        for (set, name) in [
            (CapSet::Effective, "effective"),
            (CapSet::Inheritable, "inheritable"),
            (CapSet::Permitted, "permitted"),
        ] {
            let now =
                caps::read(None, set).map_err(|source| CapsError::Set { set: name, source })?;
            let next: CapsHashSet = now.intersection(keep).copied().collect();
            caps::set(None, set, &next).map_err(|source| CapsError::Set { set: name, source })?;
        }
        Ok(())
    }

    /// Refuses a process that would need a capability the sandbox has
    /// given up; it could not be granted, and the child would fail late.
    pub fn check(&self, process: &Process, sandbox: &str) -> Result<(), CapsError> {
        let Retained::Only(keep) = self else {
            return Ok(());
        };
        let missing: BTreeSet<String> = granted(process)?
            .difference(keep)
            .map(|c| c.to_string())
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        Err(CapsError::NotHeld {
            missing: missing.into_iter().collect(),
            sandbox: sandbox.to_string(),
        })
    }
}

/// "capability X is" or "capabilities X, Y are", for the error.
fn held_names(missing: &[String]) -> String {
    let (noun, verb) = if missing.len() == 1 {
        ("capability", "is")
    } else {
        ("capabilities", "are")
    };
    format!("{noun} {} {verb}", missing.join(", "))
}

/// The union of a process's five capability sets.
fn granted(process: &Process) -> Result<CapsHashSet, CapsError> {
    let mut all = CapsHashSet::new();
    let Some(c) = process.capabilities() else {
        return Ok(all);
    };
    for set in [
        c.bounding(),
        c.effective(),
        c.permitted(),
        c.inheritable(),
        c.ambient(),
    ] {
        all.extend(to_caps(set.as_ref())?);
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{Capability, LinuxCapabilitiesBuilder, ProcessBuilder};
    use std::collections::{HashMap, HashSet};

    fn spec_with(caps: &[Capability], annotations: &[(&str, &str)]) -> Spec {
        let set: HashSet<Capability> = caps.iter().copied().collect();
        let process = ProcessBuilder::default()
            .capabilities(
                LinuxCapabilitiesBuilder::default()
                    .bounding(set.clone())
                    .permitted(set.clone())
                    .effective(set)
                    .inheritable(HashSet::new())
                    .ambient(HashSet::new())
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let mut spec = Spec::default();
        spec.set_process(Some(process));
        let map: HashMap<String, String> = annotations
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        spec.set_annotations(Some(map));
        spec
    }

    #[test]
    fn a_lone_container_keeps_its_own_and_the_needed() {
        let spec = spec_with(&[Capability::SysTime, Capability::NetBindService], &[]);
        let Retained::Only(keep) = Retained::for_root(&spec).unwrap() else {
            panic!("a lone container's sandbox kept everything");
        };
        assert!(keep.contains(&Cap::CAP_SYS_TIME));
        assert!(keep.contains(&Cap::CAP_NET_BIND_SERVICE));
        assert!(keep.contains(&Cap::CAP_SYS_ADMIN));
        assert!(!keep.contains(&Cap::CAP_SYS_MODULE));
        assert!(!keep.contains(&Cap::CAP_NET_ADMIN));
        assert_eq!(keep.len(), NEEDED.len() + 2);
    }

    #[test]
    fn a_pod_sandbox_keeps_everything() {
        let spec = spec_with(&[], &[("io.kubernetes.cri.container-type", "sandbox")]);
        assert!(matches!(Retained::for_root(&spec), Ok(Retained::All)));
    }

    #[test]
    fn check_names_what_is_missing() {
        let retained = Retained::for_root(&spec_with(&[], &[])).unwrap();
        let asks = spec_with(&[Capability::SysModule, Capability::Kill], &[]);
        let err = retained
            .check(asks.process().as_ref().unwrap(), "box")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("capability CAP_SYS_MODULE is not held by sandbox box"),
            "{err}"
        );
        let fine = spec_with(&[Capability::Kill, Capability::SysAdmin], &[]);
        assert!(retained
            .check(fine.process().as_ref().unwrap(), "box")
            .is_ok());
    }
}
