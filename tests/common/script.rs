//! Scripts run in a container, for tests that read what it printed.

use serde_json::json;

use super::{edit_config, stderr, stdout, Env};

/// Runs `script` in a container of `bundle` and returns (status, stdout).
pub fn run_script(env: &Env, bundle: &std::path::Path, name: &str, script: &str) -> (i32, String) {
    edit_config(bundle, |c| {
        c["process"]["args"] = json!(["sh", "-c", script])
    });
    let id = env.id(name);
    let out = env.runsc(&["run", "-b", bundle.to_str().unwrap(), &id]);
    let status = out.status.code().unwrap_or(-1);
    assert!(
        !stderr(&out).contains("runsc:"),
        "runsc failed: {}",
        stderr(&out)
    );
    env.assert_clean(&[&id]);
    (status, stdout(&out))
}

pub fn lines_with<'a>(out: &'a str, prefix: &str) -> Vec<&'a str> {
    out.lines().filter(|l| l.starts_with(prefix)).collect()
}
