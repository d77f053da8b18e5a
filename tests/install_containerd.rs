//! `runsc install --containerd`: our shim as a CRI runtime in a real
//! containerd config (`containerd config default`), which containerd then
//! reads as such; the rest of the file kept, a second install a no-op,
//! uninstall giving back the file byte for byte; bad input refused with
//! the file untouched.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{assert_fails_with, runsc_bin, stderr, stdout, Env};

fn runsc(args: &[&str]) -> Output {
    Command::new(runsc_bin())
        .args(args)
        .output()
        .expect("run runsc")
}

fn containerd(args: &[&str]) -> Output {
    Command::new("containerd")
        .args(args)
        .output()
        .expect("containerd (apt-get install containerd)")
}

/// The lines of containerd's merged view of `config` under our runtime's
/// header, up to the next runtime's.
fn dumped_runtime(config: &Path) -> String {
    let out = containerd(&["--config", config.to_str().unwrap(), "config", "dump"]);
    assert!(out.status.success(), "config dump: {}", stderr(&out));
    let dump = stdout(&out);
    let header = "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runsc]";
    let Some(start) = dump.find(header) else {
        panic!("no runsc runtime in containerd's view:\n{dump}");
    };
    dump[start..]
        .lines()
        .take_while(|l| !l.contains("untrusted_workload_runtime]"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn install_into_containerds_default_config_and_back() {
    let env = Env::new();
    let config = env.path().join("config.toml");
    let out = containerd(&["config", "default"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let original = out.stdout;
    std::fs::write(&config, &original).unwrap();
    let path = config.to_str().unwrap();
    let install = || {
        runsc(&[
            "install",
            "--containerd",
            "--config-file",
            path,
            "--runtime-config-path",
            "/etc/containerd/runsc.toml",
        ])
    };

    let out = install();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("kind: RuntimeClass"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("handler: runsc"), "{}", stdout(&out));
    let installed = std::fs::read(&config).unwrap();
    // containerd's CRI plugin reads it as one of its runtimes: the dump
    // shows the fields of its runtime type, filled in.
    let runtime = dumped_runtime(&config);
    for line in [
        "runtime_type = \"io.containerd.runsc.v1\"",
        "ConfigPath = \"/etc/containerd/runsc.toml\"",
        "TypeUrl = \"io.containerd.runsc.v1.options\"",
        "cni_conf_dir = \"\"",
    ] {
        assert!(runtime.contains(line), "{line} missing:\n{runtime}");
    }
    // The rest of the file is as it was: every original line, in order.
    let text = String::from_utf8(installed.clone()).unwrap();
    let mut lines = text.lines();
    for want in String::from_utf8(original.clone()).unwrap().lines() {
        assert!(lines.any(|l| l == want), "{want:?} lost:\n{text}");
    }

    let out = install();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(&config).unwrap(), installed, "not idempotent");

    for _ in 0..2 {
        let out = runsc(&["uninstall", "--containerd", "--config-file", path]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(std::fs::read(&config).unwrap(), original);
    }
}

#[test]
fn a_new_config_file_holds_the_runtime() {
    let env = Env::new();
    let config = env.path().join("etc/containerd/config.toml");
    let path = config.to_str().unwrap();
    let out = runsc(&["install", "--containerd", "--config-file", path]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(dumped_runtime(&config).contains("runtime_type = \"io.containerd.runsc.v1\""));
    let out = runsc(&["uninstall", "--containerd", "--config-file", path]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&config).unwrap(), "version = 2\n");
}

#[test]
fn bad_configs_are_refused_and_left_alone() {
    let env = Env::new();
    let config = env.path().join("config.toml");
    let path = config.to_str().unwrap();
    for (text, error) in [
        ("version = 2\n[plugins\n", "as TOML"),
        (
            "version = 3\n",
            "config version 3 is containerd 2.x, whose task API our shim does not speak",
        ),
        (
            "version = 2\n[plugins]\n\"io.containerd.grpc.v1.cri\" = 1\n",
            "plugins.io.containerd.grpc.v1.cri is not a table",
        ),
    ] {
        std::fs::write(&config, text).unwrap();
        for verb in ["install", "uninstall"] {
            let out = runsc(&[verb, "--containerd", "--config-file", path]);
            if verb == "uninstall" && text.starts_with("version = 2\n[plugins]") {
                // Nothing of ours in it: nothing to do.
                assert!(out.status.success(), "{}", stderr(&out));
            } else {
                assert_fails_with(&out, error);
                assert!(stderr(&out).contains(path), "{}", stderr(&out));
            }
            assert_eq!(std::fs::read_to_string(&config).unwrap(), text);
        }
    }
}

#[test]
fn an_earlier_entry_is_replaced_where_it_stands() {
    let env = Env::new();
    let config = env.path().join("config.toml");
    let cri = "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes";
    std::fs::write(
        &config,
        format!(
            "version = 2\n{cri}.runsc]\n  runtime_type = \"old\"\n\
             {cri}.runc]\n  runtime_type = \"io.containerd.runc.v2\"\n"
        ),
    )
    .unwrap();
    let out = runsc(&[
        "install",
        "--containerd",
        "--config-file",
        config.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(!text.contains("\"old\""), "{text}");
    let (ours, runc) = (text.find(".runsc]"), text.find(".runc]"));
    assert!(ours.is_some() && ours < runc, "moved:\n{text}");
}
