//! The container process's AppArmor profile, SELinux process label and
//! SELinux mount label, as runc applies them. The frontend has already
//! refused labels for an LSM the host does not enforce, as runc refuses
//! them, so whatever reaches here is written and any failure is an error.
//!
//! Profile and label take effect at the next execve, so they are written
//! first thing in `exec_process`: before the container's seccomp filter
//! (which may forbid the open and write) and before the identity change.

use std::io::Write;
use std::path::Path;

use oci_spec::runtime::Process;
use rustix::fs::{Mode, OFlags};

use specutils::error::os;

use super::InitError;

/// Where this thread's attributes live: the container's own /proc, which
/// the init mounted and an exec'd process sees once it joined the mount
/// namespace.
const PROC_THREAD_SELF: &str = "/proc/thread-self";

/// Sets what `process` runs under from its next execve: the AppArmor
/// profile, then the SELinux process label.
pub(crate) fn label_exec(process: &Process) -> Result<(), InitError> {
    let proc = Path::new(PROC_THREAD_SELF);
    if let Some(profile) = non_empty(process.apparmor_profile()) {
        apparmor_exec(proc, profile)?;
    }
    if let Some(label) = non_empty(process.selinux_label()) {
        write_attr(proc, Path::new("attr/exec"), label.as_bytes())
            .map_err(os(format!("set SELinux process label {label:?}")))?;
    }
    Ok(())
}

/// `options` with the SELinux `context` of `label` added when the
/// filesystem takes one, as runc labels the mounts it makes. proc and
/// sysfs keep their own labels; mqueue is labelled through an xattr by
/// runc, which this does not do; bind mounts and cgroup filesystems are
/// mounted elsewhere.
pub(crate) fn with_mount_label(
    fstype: &str,
    options: &[String],
    label: Option<&str>,
) -> Vec<String> {
    let mut options = options.to_vec();
    let takes_context = !matches!(fstype, "proc" | "sysfs" | "mqueue" | "cgroup" | "cgroup2");
    if let Some(label) = label.filter(|l| !l.is_empty()) {
        if takes_context && !options.iter().any(|o| o.starts_with("context=")) {
            // fsconfig takes the value as it is: no quotes, unlike mount(2)'s
            // comma-separated data.
            options.push(format!("context={label}"));
        }
    }
    options
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

/// Asks AppArmor to confine this task with `profile` from its next execve
/// (libapparmor's aa_change_onexec). Kernels since 5.8 have AppArmor's own
/// attribute directory; older ones only the shared `attr/exec`.
fn apparmor_exec(proc: &Path, profile: &str) -> Result<(), InitError> {
    let own = Path::new("attr/apparmor/exec");
    let attr = if proc.join(own).exists() {
        own
    } else {
        Path::new("attr/exec")
    };
    Ok(write_attr(proc, attr, format!("exec {profile}").as_bytes())
        .map_err(os(format!("apply AppArmor profile {profile:?}")))?)
}

/// Writes `value` to the attribute file `attr` under `proc` in one write,
/// as the LSMs require, after checking the file is really on procfs: a
/// mount over /proc (CVE-2019-16884) would otherwise swallow the label and
/// leave the process unconfined.
fn write_attr(proc: &Path, attr: &Path, value: &[u8]) -> std::io::Result<()> {
    use specutils::error::errno_text;
    let path = proc.join(attr);
    let fd =
        rustix::fs::open(&path, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty()).map_err(|e| {
            let text = errno_text(&e.into());
            std::io::Error::new(e.kind(), format!("open {}: {text}", path.display()))
        })?;
    let fs = rustix::fs::fstatfs(&fd)?;
    if fs.f_type != libc::PROC_SUPER_MAGIC {
        return Err(std::io::Error::other(format!(
            "{} is not on procfs",
            path.display()
        )));
    }
    let mut file = std::fs::File::from(fd);
    file.write_all(value).map_err(|e| {
        let text = errno_text(&e);
        std::io::Error::new(e.kind(), format!("write {}: {text}", path.display()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lsm_active(name: &str) -> bool {
        std::fs::read_to_string(format!("/sys/module/{name}/parameters/enabled"))
            .is_ok_and(|v| v.starts_with('Y'))
            || (name == "selinux" && Path::new("/sys/fs/selinux/enforce").exists())
    }

    /// Without AppArmor the kernel refuses the write (EINVAL), as runc
    /// sees it: the profile is really written to this thread's attribute.
    #[test]
    fn a_profile_reaches_the_kernel() {
        if lsm_active("apparmor") || lsm_active("selinux") {
            eprintln!("skipped: this host has an LSM that takes attr/exec");
            return;
        }
        let p = Path::new(PROC_THREAD_SELF);
        let err = apparmor_exec(p, "docker-default").unwrap_err().to_string();
        assert!(err.contains("docker-default"), "{err}");
        assert!(err.contains("attr/exec"), "{err}");
        assert!(err.contains("invalid argument"), "{err}");
    }

    #[test]
    fn an_attribute_file_off_procfs_is_refused() {
        let dir = std::env::temp_dir().join(format!("lsm-attr-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("attr")).unwrap();
        std::fs::write(dir.join("attr/exec"), "").unwrap();
        let err = apparmor_exec(&dir, "docker-default")
            .unwrap_err()
            .to_string();
        let written = std::fs::read_to_string(dir.join("attr/exec")).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(err.contains("is not on procfs"), "{err}");
        assert_eq!(written, "");
    }

    #[test]
    fn the_mount_label_goes_only_where_runc_puts_it() {
        let data = vec!["mode=755".to_string()];
        let label = Some("system_u:object_r:container_file_t:s0:c1,c2");
        assert_eq!(
            with_mount_label("tmpfs", &data, label),
            [
                "mode=755",
                "context=system_u:object_r:container_file_t:s0:c1,c2"
            ]
        );
        assert_eq!(with_mount_label("proc", &data, label), ["mode=755"]);
        assert_eq!(with_mount_label("mqueue", &[], label), Vec::<String>::new());
        assert_eq!(with_mount_label("tmpfs", &data, None), ["mode=755"]);
        assert_eq!(with_mount_label("tmpfs", &data, Some("")), ["mode=755"]);
        let own = vec!["context=a".to_string()];
        assert_eq!(with_mount_label("devpts", &own, label), ["context=a"]);
    }
}
