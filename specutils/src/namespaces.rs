//! What the spec's namespaces may ask for here, checked before anything
//! is started.

use oci_spec::runtime::{LinuxNamespaceType, Spec};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NamespaceError {
    #[error(
        "linux.namespaces has no mount namespace: runsc runs every container in a \
         mount namespace of its own, never in its caller's"
    )]
    NoMount,
    #[error(
        "linux.namespaces: joining mount namespace {path} is not supported: the \
         container's root is built and pivoted into in a mount namespace of its own"
    )]
    JoinMount { path: String },
}

/// A fresh mount namespace is what the rootfs is built in; see
/// docs/decisions.md for why one named by path, or none, is refused.
pub fn check_mount_namespace(spec: &Spec) -> Result<(), NamespaceError> {
    let mount = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .and_then(|ns| ns.iter().find(|n| n.typ() == LinuxNamespaceType::Mount));
    match mount.map(|n| n.path().as_ref()) {
        None => Err(NamespaceError::NoMount),
        Some(Some(path)) if !path.as_os_str().is_empty() => Err(NamespaceError::JoinMount {
            path: path.display().to_string(),
        }),
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(namespaces: &str) -> Spec {
        let json = format!(
            r#"{{"ociVersion":"1.0.2","root":{{"path":"rootfs"}},
            "process":{{"cwd":"/","args":["sh"],"user":{{"uid":0,"gid":0}}}},
            "linux":{{"namespaces":{namespaces}}}}}"#
        );
        serde_json::from_str(&json).expect("spec")
    }

    #[test]
    fn mount_namespace_must_be_new() {
        assert_eq!(
            check_mount_namespace(&spec(r#"[{"type":"mount"}]"#)),
            Ok(())
        );
        let empty = spec(r#"[{"type":"mount","path":""}]"#);
        assert_eq!(check_mount_namespace(&empty), Ok(()));
        let none = spec(r#"[{"type":"pid"}]"#);
        assert_eq!(check_mount_namespace(&none), Err(NamespaceError::NoMount));
        let joined = spec(r#"[{"type":"mount","path":"/proc/1/ns/mnt"}]"#);
        let err = check_mount_namespace(&joined).unwrap_err().to_string();
        assert!(err.contains("/proc/1/ns/mnt"), "{err}");
    }
}
