//! exec with a terminal: one sent to a console socket, the caller's own
//! lent to the process, and its size followed.

mod common;

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use common::{assert_exec_fails_with, running, stderr, stdout, Env};

#[test]
fn exec_with_a_terminal() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let (id, _r) = running(&env, "b", &["sleep", "1000"]);
    let sock = env.path().join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let mut exec = env
        .cmd(&[
            "exec",
            "-t",
            "--console-socket",
            sock.to_str().unwrap(),
            &id,
            "sh",
        ])
        .spawn()
        .unwrap();
    let mut pty = std::fs::File::from(common::receive_master(&listener));
    use std::io::Write;
    pty.write_all(b"tty; echo answer-$((6*7)); exit 3\n")
        .unwrap();
    let mut seen = String::new();
    read_until(&mut pty, &mut seen, "answer-42");
    assert!(seen.contains("/dev/pts/"), "{seen:?}");
    assert_eq!(exec.wait().unwrap().code(), Some(3));
}

#[test]
fn exec_with_a_terminal_of_our_own() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let (id, _r) = running(&env, "b", &["sleep", "1000"]);
    // script(1) gives runsc a terminal; without --console-socket, exec -t
    // lends it to the process, as runc does.
    let line = format!(
        "{} --root {} exec -t {id} sh",
        common::runsc_bin(),
        env.root.display(),
    );
    common::assert_shell_on_a_terminal(&line);
    // With no terminal of ours at all, the process still gets a pty.
    let out = env.runsc(&["exec", "-t", &id, "sh", "-c", "tty; exit 4"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("/dev/pts/"), "{}", stdout(&out));
    // --detach cannot lend our terminal.
    let out = env.runsc(&["exec", "-t", "-d", &id, "true"]);
    assert_exec_fails_with(&out, "--console-socket");
    // Our console socket is gone, and so are the exec'd processes.
    let listed: Vec<_> = std::fs::read_dir(&env.root)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(listed, vec![std::ffi::OsString::from(&id)]);
    let pids: Vec<i64> = serde_json::from_str(&env.ok(&["ps", "-f", "json", &id])).unwrap();
    assert_eq!(pids.len(), 1, "{pids:?}");
}

#[test]
fn exec_on_our_terminal_follows_its_size() {
    if common::skip_without_root() {
        return;
    }
    use std::io::Write;
    let env = Env::new();
    let (id, _r) = running(&env, "b", &["sleep", "1000"]);
    let size = |rows, cols| rustix::termios::Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = nix::pty::openpty(None, None).expect("openpty");
    rustix::termios::tcsetwinsize(&pty.master, size(24, 80)).unwrap();
    let slave = pty.slave;
    let mut cmd = env.cmd(&[
        "exec",
        "-t",
        &id,
        "sh",
        "-c",
        "stty size; echo ready; read x; stty size",
    ]);
    cmd.stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave.try_clone().unwrap());
    // SAFETY: setsid and ioctl(TIOCSCTTY) on a descriptor the child already
    // has are async-signal-safe; the terminal becomes runsc's own, so its
    // size changes signal runsc.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("runsc exec -t");
    drop(slave);
    let mut master = std::fs::File::from(pty.master);
    let mut seen = String::new();
    read_until(&mut master, &mut seen, "ready");
    assert!(seen.contains("24 80"), "{seen:?}");
    rustix::termios::tcsetwinsize(&master, size(50, 132)).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    master.write_all(b"\n").unwrap();
    read_until(&mut master, &mut seen, "50 132");
    assert_eq!(child.wait().unwrap().code(), Some(0), "{seen:?}");
}

/// Reads `from` into `seen` until `needle` shows up, failing after 10 s
/// rather than blocking on a terminal that stays silent.
fn read_until(from: &mut std::fs::File, seen: &mut String, needle: &str) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + Duration::from_secs(10);
    while !seen.contains(needle) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no {needle:?} in {seen:?}");
        let mut fds = [PollFd::new(from.as_fd(), PollFlags::POLLIN)];
        let timeout = PollTimeout::try_from(left.as_millis().min(10_000) as i32).unwrap();
        if poll(&mut fds, timeout).unwrap_or(0) == 0 {
            continue;
        }
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    assert!(seen.contains(needle), "no {needle:?} in {seen:?}");
}
