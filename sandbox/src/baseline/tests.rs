use super::*;

/// The build-time programs are what the lists give today.
#[test]
fn precompiled_programs_match_the_lists() {
    for (bpf, allowed) in [
        (BASELINE_BPF, vec![]),
        (BASELINE_USERNS_BPF, vec![USERNS_FAMILY]),
    ] {
        let now = build(&allowed).expect("build").to_bytes();
        assert_eq!(now, bpf);
    }
}

/// docs/baseline-seccomp.md gives a reason for every entry.
#[test]
fn every_entry_is_documented() {
    let docs = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/baseline-seccomp.md"
    ))
    .expect("read docs/baseline-seccomp.md");
    let syscalls = BASELINE_FAMILIES.iter().flat_map(|f| f.syscalls.iter());
    let families = family_names();
    for name in syscalls.chain(families.iter()).chain(["clone3"].iter()) {
        assert!(docs.contains(&format!("`{name}`")), "{name} undocumented");
    }
}

fn spec_with(annotations: &[(&str, &str)]) -> Spec {
    let pair = |(k, v): &(&str, &str)| (k.to_string(), v.to_string());
    let mut spec = Spec::default();
    spec.set_annotations(Some(annotations.iter().map(pair).collect()));
    spec
}

#[test]
fn annotations_name_known_families_only() {
    let allowed = allowed_by_annotations(&spec_with(&[
        ("dev.runsc-rs.allow/io_uring", "true"),
        ("dev.runsc-rs.allow/af_alg", "true"),
        ("dev.runsc-rs.allow/bpf", "false"),
        ("other", "x"),
    ]))
    .expect("known");
    assert_eq!(allowed, ["af_alg", "io_uring"]);
    let unknown = allowed_by_annotations(&spec_with(&[("dev.runsc-rs.allow/io-uring", "true")]));
    assert!(matches!(unknown, Err(BaselineError::UnknownFamily(..))));
    let value = allowed_by_annotations(&spec_with(&[("dev.runsc-rs.allow/bpf", "yes")]));
    assert!(matches!(value, Err(BaselineError::Value(..))));
}

#[test]
fn the_global_switch_and_cap_sys_admin_choose_the_program() {
    let off = crate::options::LaunchOptions {
        no_baseline_seccomp: true,
        ..Default::default()
    };
    let spec = spec_with(&[]);
    assert!(for_container("t", &spec, &off).expect("off").is_none());
    let on = crate::options::LaunchOptions::default();
    let usual = for_container("t", &spec, &on).expect("on").expect("some");
    let prebuilt = Program::from_bytes(BASELINE_BPF).expect("bpf");
    let expected = prebuilt.prepend(socket_stub(&[])).expect("prepend");
    let expected = expected.prepend(newer_syscalls_stub()).expect("prepend");
    assert_eq!(usual.to_bytes(), expected.to_bytes());
}
