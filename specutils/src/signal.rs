//! Signal numbers as kill(2) takes them: 0 (a check that the process
//! exists) up to SIGRTMAX. nix's `Signal` names neither 0 nor the real-time
//! signals, and Docker stops a systemd image with SIGRTMIN+3.

use nix::errno::Errno;

/// The first real-time signal a name counts from, as glibc, kill(1) and
/// Docker number them (`RTMIN+3` is 37, systemd's halt). musl's
/// `SIGRTMIN()`, in this build, is 35: it keeps one more for itself.
const RTMIN: i32 = 34;

/// Whether kill(2) takes `signal`.
pub fn is_valid(signal: i32) -> bool {
    (0..=libc::SIGRTMAX()).contains(&signal)
}

/// Sends `signal` to process `pid`.
pub fn send(pid: i32, signal: i32) -> Result<(), Errno> {
    // SAFETY: kill(2) takes two integers and reads no memory of ours.
    Errno::result(unsafe { libc::kill(pid, signal) }).map(drop)
}

/// A signal by number or name, as kill(1) takes it: `9`, `KILL`,
/// `SIGKILL`, `sigkill`, `RTMIN+3`, `SIGRTMAX-2`.
pub fn parse(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return is_valid(n).then_some(n);
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let (min, max) = (RTMIN, libc::SIGRTMAX());
    let rt = |rest: &str, base: i32, sign: i32| -> Option<i32> {
        let n = match rest {
            "" => 0,
            _ => rest
                .strip_prefix(if sign > 0 { '+' } else { '-' })?
                .parse()
                .ok()?,
        };
        let sig = base + sign * n;
        (min..=max).contains(&sig).then_some(sig)
    };
    if let Some(rest) = name.strip_prefix("RTMIN") {
        return rt(rest, min, 1);
    }
    if let Some(rest) = name.strip_prefix("RTMAX") {
        return rt(rest, max, -1);
    }
    format!("SIG{name}")
        .parse::<nix::sys::signal::Signal>()
        .ok()
        .map(|sig| sig as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_names() {
        assert_eq!(parse("9"), Some(9));
        assert_eq!(parse("0"), Some(0));
        assert_eq!(parse("KILL"), Some(9));
        assert_eq!(parse("SIGTERM"), Some(15));
        assert_eq!(parse("hup"), Some(1));
        assert_eq!(parse("RTMIN"), Some(34));
        assert_eq!(parse("SIGRTMIN+3"), Some(37));
        assert_eq!(parse("rtmax-1"), Some(libc::SIGRTMAX() - 1));
        assert_eq!(parse(&libc::SIGRTMAX().to_string()), Some(libc::SIGRTMAX()));
        for bad in [
            "SIGNOPE", "0x", "999", "-1", "RTMIN-1", "RTMAX+1", "RTMIN+", "RTMIN3",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
