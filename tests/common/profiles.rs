//! Seccomp profiles and runc, shared by the tests that compare with it.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

use super::{stdout, Env};

pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data")
        .join(name)
}

/// The `linux.seccomp` that Docker 19.03 hands the runtime on x86_64 for a
/// container with `caps`: the architectures of its `archMap`, and the rules
/// whose `includes` and `excludes` hold for amd64 and those capabilities.
pub fn docker_19_03_profile(caps: &[String]) -> Value {
    let has = |c: &String| caps.contains(c);
    let text = std::fs::read_to_string(data("docker-19.03-default.json")).expect("read profile");
    let docker: Value = serde_json::from_str(&text).expect("profile json");
    let list = |v: &Value| -> Vec<String> {
        let items = v.as_array().into_iter().flatten();
        items
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    };
    // minKernel (4.8, for ptrace) holds on every kernel we run on.
    let arches = |cond: &Value| list(&cond["arches"]);
    let amd64 = |cond: &Value| arches(cond).iter().any(|a| a == "amd64");
    let x86_64 = docker["archMap"]
        .as_array()
        .expect("archMap")
        .iter()
        .find(|m| m["architecture"] == "SCMP_ARCH_X86_64")
        .expect("x86_64 in archMap");
    let mut architectures = vec![x86_64["architecture"].clone()];
    architectures.extend(x86_64["subArchitectures"].as_array().expect("sub").clone());
    let mut rules = Vec::new();
    for rule in docker["syscalls"].as_array().expect("syscalls") {
        let (inc, exc) = (&rule["includes"], &rule["excludes"]);
        let included = (arches(inc).is_empty() || amd64(inc)) && list(&inc["caps"]).iter().all(has);
        let excluded = amd64(exc) || list(&exc["caps"]).iter().any(has);
        if included && !excluded {
            let mut oci = json!({"names": rule["names"], "action": rule["action"]});
            if let Some(args) = rule["args"].as_array().filter(|a| !a.is_empty()) {
                oci["args"] = json!(args);
            }
            rules.push(oci);
        }
    }
    json!({"defaultAction": docker["defaultAction"], "architectures": architectures, "syscalls": rules})
}

/// The capabilities tools/mkrootfs grants, which Docker's also are.
pub fn mkrootfs_caps(env: &Env) -> Vec<String> {
    let probe = env.bundle("probe", &["true"]);
    let config = std::fs::read_to_string(probe.join("config.json")).expect("config");
    let config: Value = serde_json::from_str(&config).expect("config json");
    let caps = &config["process"]["capabilities"]["bounding"];
    let caps = caps.as_array().expect("caps").iter();
    caps.filter_map(|c| c.as_str().map(str::to_string))
        .collect()
}

/// runc's report on the same bundle, when runc is installed.
pub fn runc_report(env: &Env, bundle: &Path, id: &str) -> Option<String> {
    let root = env.path().join("runc-root");
    let mut cmd = Command::new("runc");
    cmd.arg("--root")
        .arg(&root)
        .args(["run", "-b"])
        .arg(bundle)
        .arg(id);
    let out = env.output(cmd);
    let _ = Command::new("runc")
        .arg("--root")
        .arg(&root)
        .args(["delete", "-f", id])
        .output();
    out.status.success().then(|| stdout(&out))
}
