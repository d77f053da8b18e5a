//! The frontend as a library, in process, as the containerd shim calls it:
//! a container whose init and exec'd process get the stdio the caller
//! gives, not the caller's own, and an exec'd process the label rules of
//! `runsc exec`.

mod common;

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::Env;
use runsc::api::Container;
use runsc::container::options::CreateOptions;
use runsc::container::ContainerStore;
use sandbox::control::Stdio;

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Kills and reaps what a failed assertion left behind (the sandbox is our
/// child, so nothing else would).
struct OnPanic(Container, Option<i32>);

impl Drop for OnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = self.0.delete(true);
            if let Some(pid) = self.1 {
                let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
            }
        }
    }
}

#[test]
fn a_container_and_its_exec_write_to_the_stdio_given() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    runsc::container::spawn::use_exe(PathBuf::from(common::runsc_bin()));
    let store = ContainerStore::open(&env.root).unwrap();
    let id = env.id("api");
    let bundle = env.bundle("b", &["sh", "-c", "echo from-init; exec sleep 1000"]);
    let init_out = env.path().join("init.out");
    let out = File::create(&init_out).unwrap();
    let null = || -> OwnedFd { File::open("/dev/null").unwrap().into() };
    let mut opts = CreateOptions::new(&id, bundle);
    opts.child_flags = vec![
        format!("--root={}", env.root.display()),
        format!("--log={}", env.log.display()),
        "--log-format=json".into(),
    ];
    opts.stdio = Some([null(), out.try_clone().unwrap().into(), out.into()]);
    let (c, created) = Container::create(&store, opts).unwrap();
    let _cleanup = OnPanic(c.clone(), created.sandbox.as_ref().map(|s| s.pid));
    c.start().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while read(&init_out) != "from-init\n" {
        assert!(
            Instant::now() < deadline,
            "init wrote {:?}",
            read(&init_out)
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // Exec through the api keeps `runsc exec`'s label rules: on a host
    // without AppArmor, a profile is refused rather than run unconfined.
    let apparmor = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y");
    if !apparmor {
        let mut confined = oci_spec::runtime::Process::default();
        confined.set_args(Some(vec!["true".into()]));
        confined.set_apparmor_profile(Some("runsc-test".into()));
        let none = null();
        let stdio = Stdio::Streams(vec![none.as_fd(); 3]);
        let err = c.exec_process(confined, stdio).unwrap_err();
        assert!(err.to_string().contains("AppArmor is not enabled"), "{err}");
    }

    let exec_out = env.path().join("exec.out");
    let out = File::create(&exec_out).unwrap();
    let stdin = null();
    let mut process = oci_spec::runtime::Process::default();
    process.set_args(Some(vec![
        "sh".into(),
        "-c".into(),
        "echo from-exec; exit 7".into(),
    ]));
    let stdio = Stdio::Streams(vec![stdin.as_fd(), out.as_fd(), out.as_fd()]);
    let pid = c.exec_process(process, stdio).unwrap();
    assert_eq!(c.wait_exec(pid).unwrap(), 7);
    assert_eq!(read(&exec_out), "from-exec\n");
    assert!(!c.processes().unwrap().is_empty());

    c.signal(libc::SIGKILL, false).unwrap();
    assert_eq!(c.wait().unwrap(), 128 + libc::SIGKILL);
    c.delete(false).unwrap();
    // The sandbox is our child: reaped here, as the shim's reaper does.
    if let Some(sandbox) = created.sandbox {
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(sandbox.pid), None);
    }
    env.assert_clean(&[&id]);
}
