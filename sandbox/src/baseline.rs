//! The baseline seccomp filter of every workload process (a container's
//! init, what it forks, exec'd processes, a pod's later containers): it
//! stacks under the spec's own profile and refuses the kernel interfaces
//! listed in `baseline_lists.rs`, whatever the profile allows. The two
//! usual variants are compiled at build time (build.rs); a spec that opts
//! out of a family gets one built when the sandbox prepares its init.

use oci_spec::runtime::{Capability, Spec};

use crate::seccomp::{refuse_socket_families, HighestNamed, Program, ProgramError};

include!("baseline_lists.rs");

const BASELINE_BPF: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/baseline.bpf"));
const BASELINE_USERNS_BPF: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/baseline_userns.bpf"));

/// The annotation prefix that gives one family back to a container.
pub const ALLOW_ANNOTATION: &str = "dev.runsc-rs.allow/";

#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("annotation {0}: no such baseline seccomp family (known: {1})")]
    UnknownFamily(String, String),
    #[error("annotation {0}={1}: value must be true or false")]
    Value(String, String),
    #[error("build baseline seccomp filter ({0}): {1}")]
    Build(String, #[source] libseccomp::error::SeccompError),
    #[error(transparent)]
    Program(#[from] ProgramError),
}

/// The baseline program for a container, or None when the runtime runs
/// with `--baseline-seccomp=off`. Every relaxation is logged.
pub fn for_container(
    id: &str,
    spec: &Spec,
    options: &crate::options::LaunchOptions,
) -> Result<Option<Program>, BaselineError> {
    if options.no_baseline_seccomp {
        tracing::warn!("container {id}: baseline seccomp filter off (--baseline-seccomp=off)");
        return Ok(None);
    }
    let mut allowed = allowed_by_annotations(spec)?;
    for family in &allowed {
        tracing::warn!(
            "container {id}: baseline seccomp allows {family} ({ALLOW_ANNOTATION}{family}=true)"
        );
    }
    if grants_sys_admin(spec) && !allowed.contains(&USERNS_FAMILY) {
        tracing::info!("container {id}: CAP_SYS_ADMIN granted; baseline allows user namespaces");
        allowed.push(USERNS_FAMILY);
    }
    // Socket families live in a stub of their own, built here in any case.
    let (sockets, syscalls): (Vec<&str>, Vec<&str>) =
        allowed.iter().partition(|f| f.starts_with("af_"));
    let program = match syscalls.as_slice() {
        [] => Program::from_bytes(BASELINE_BPF)?,
        [USERNS_FAMILY] => Program::from_bytes(BASELINE_USERNS_BPF)?,
        _ => build(&syscalls)?,
    };
    let program = program.prepend(socket_stub(&sockets))?;
    Ok(Some(program.prepend(newer_syscalls_stub())?))
}

/// EAFNOSUPPORT for the socket families neither ordinary nor given back.
fn socket_stub(given_back: &[&str]) -> Vec<libc::sock_filter> {
    let named = SOCKET_FAMILY_NAMES
        .iter()
        .filter(|(_, n)| given_back.contains(n));
    let mut allowed = SOCKET_FAMILIES_ALLOWED.to_vec();
    allowed.extend(named.map(|(number, _)| *number));
    refuse_socket_families(&allowed, SOCKET_FAMILY_LIMIT)
}

/// The syscalls of the refused families the spec's annotations give
/// back (none for an invalid annotation, which the create refused).
pub fn given_back_syscalls(spec: &Spec) -> Vec<&'static str> {
    let allowed = allowed_by_annotations(spec).unwrap_or_default();
    let given = BASELINE_FAMILIES
        .iter()
        .filter(|f| allowed.contains(&f.name));
    given.flat_map(|f| f.syscalls.iter().copied()).collect()
}

/// Installs the baseline in the calling thread. Needs CAP_SYS_ADMIN or
/// no_new_privs.
pub fn load(program: &Program) -> std::io::Result<()> {
    program.load(0).map(drop)
}

/// The baseline with `allowed` families given back, built now.
pub fn build(allowed: &[&str]) -> Result<Program, BaselineError> {
    let (ctx, unknown) =
        build_baseline(allowed).map_err(|(what, e)| BaselineError::Build(what, e))?;
    for name in unknown {
        tracing::debug!(syscall = %name, "syscall unknown to libseccomp; not in the baseline");
    }
    Ok(Program::export(&ctx)?)
}

/// ENOSYS for every syscall above the last one reviewed, on x86_64 and
/// i386 (x32 has its own calls at 512 and above, so its new ones are left
/// to the filter: x32 is off by default in Debian's kernels).
fn newer_syscalls_stub() -> Vec<libc::sock_filter> {
    HighestNamed::up_to(BASELINE_REVIEWED_UP_TO).enosys_stub()
}

/// The families every known annotation name stands for.
fn family_names() -> Vec<&'static str> {
    let mut names: Vec<&str> = BASELINE_FAMILIES.iter().map(|f| f.name).collect();
    names.push(USERNS_FAMILY);
    names.extend(SOCKET_FAMILY_NAMES.iter().map(|(_, n)| *n));
    names
}

/// The families `dev.runsc-rs.allow/<family>=true` annotations name; an
/// unknown family or value is an error, not a silent no-op.
fn allowed_by_annotations(spec: &Spec) -> Result<Vec<&'static str>, BaselineError> {
    let known = family_names();
    let mut allowed = Vec::new();
    let annotations = spec.annotations().iter().flatten();
    for (key, value) in annotations {
        let Some(family) = key.strip_prefix(ALLOW_ANNOTATION) else {
            continue;
        };
        let Some(family) = known.iter().find(|k| **k == family) else {
            return Err(BaselineError::UnknownFamily(key.clone(), known.join(", ")));
        };
        match value.as_str() {
            "true" => allowed.push(*family),
            "false" => {}
            _ => return Err(BaselineError::Value(key.clone(), value.clone())),
        }
    }
    allowed.sort_unstable();
    allowed.dedup();
    Ok(allowed)
}

/// Whether the spec's process may ever hold CAP_SYS_ADMIN (its bounding
/// set), with which a new user namespace gives it nothing new.
fn grants_sys_admin(spec: &Spec) -> bool {
    let caps = spec
        .process()
        .as_ref()
        .and_then(|p| p.capabilities().as_ref());
    caps.and_then(|c| c.bounding().as_ref())
        .is_some_and(|b| b.contains(&Capability::SysAdmin))
}

#[cfg(test)]
mod tests;
