//! Pod annotations: whether a spec starts a new sandbox or joins one, in
//! the spellings of containerd's CRI plugin, CRI-O and dockershim.

use oci_spec::runtime::Spec;

/// (container-type key, sandbox-id key, value meaning "a container in a
/// pod", value meaning "the pod's sandbox").
const SCHEMES: [(&str, &str, &str, &str); 3] = [
    (
        "io.kubernetes.cri.container-type",
        "io.kubernetes.cri.sandbox-id",
        "container",
        "sandbox",
    ),
    (
        "io.kubernetes.cri-o.ContainerType",
        "io.kubernetes.cri-o.SandboxID",
        "container",
        "sandbox",
    ),
    (
        "io.kubernetes.docker.type",
        "io.kubernetes.sandbox.id",
        "container",
        "podsandbox",
    ),
];

/// What a spec is to its pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodRole {
    /// Starts a sandbox of its own (a pod's sandbox, or a lone container).
    Sandbox,
    /// Runs in the existing sandbox `sandbox_id`.
    Container { sandbox_id: String },
}

pub fn pod_role(spec: &Spec) -> PodRole {
    let Some(a) = spec.annotations().as_ref() else {
        return PodRole::Sandbox;
    };
    for (type_key, id_key, container, _) in SCHEMES {
        if a.get(type_key).map(String::as_str) == Some(container) {
            if let Some(id) = a.get(id_key).filter(|id| !id.is_empty()) {
                return PodRole::Container {
                    sandbox_id: id.clone(),
                };
            }
        }
    }
    PodRole::Sandbox
}

/// Whether a spec is a pod's sandbox, into which the orchestrator will
/// later create the pod's containers, with specs not known yet.
pub fn is_pod_sandbox(spec: &Spec) -> bool {
    let Some(a) = spec.annotations().as_ref() else {
        return false;
    };
    SCHEMES
        .iter()
        .any(|(type_key, _, _, sandbox)| a.get(*type_key).map(String::as_str) == Some(sandbox))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn spec(pairs: &[(&str, &str)]) -> Spec {
        let mut s = Spec::default();
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        s.set_annotations(Some(map));
        s
    }

    #[test]
    fn roles() {
        assert_eq!(pod_role(&Spec::default()), PodRole::Sandbox);
        assert_eq!(
            pod_role(&spec(&[("io.kubernetes.cri.container-type", "sandbox")])),
            PodRole::Sandbox
        );
        let sub = PodRole::Container {
            sandbox_id: "pod1".into(),
        };
        assert_eq!(
            pod_role(&spec(&[
                ("io.kubernetes.cri.container-type", "container"),
                ("io.kubernetes.cri.sandbox-id", "pod1"),
            ])),
            sub
        );
        assert_eq!(
            pod_role(&spec(&[
                ("io.kubernetes.cri-o.ContainerType", "container"),
                ("io.kubernetes.cri-o.SandboxID", "pod1"),
            ])),
            sub
        );
        // A container type without a sandbox id cannot join anything.
        assert_eq!(
            pod_role(&spec(&[("io.kubernetes.cri.container-type", "container")])),
            PodRole::Sandbox
        );
    }

    #[test]
    fn pod_sandboxes() {
        assert!(!is_pod_sandbox(&Spec::default()));
        assert!(is_pod_sandbox(&spec(&[(
            "io.kubernetes.cri.container-type",
            "sandbox"
        )])));
        assert!(is_pod_sandbox(&spec(&[(
            "io.kubernetes.cri-o.ContainerType",
            "sandbox"
        )])));
        assert!(is_pod_sandbox(&spec(&[(
            "io.kubernetes.docker.type",
            "podsandbox"
        )])));
        assert!(!is_pod_sandbox(&spec(&[(
            "io.kubernetes.cri.container-type",
            "container"
        )])));
    }
}
