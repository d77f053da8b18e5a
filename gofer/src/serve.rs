//! The gofer process's life: donate every mount, then stay until the
//! sandbox closes the channels.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use oci_spec::runtime::Spec;
use specutils::channel::Channel;
use specutils::mounts::{bind_source, donated_mounts, parse_options};

use crate::donation::{donate, make_mount, make_rootfs, GoferError};

/// Donates the rootfs on `channels[0]` and the bind mounts on the rest,
/// then calls `confine` (the gofer needs no more privilege once the mounts
/// are made) and blocks until every channel is closed by the sandbox. The
/// spec is dropped before the wait: the gofer idles for the container's
/// life, and a parsed spec (a seccomp profile's hundreds of names) would
/// keep its heap pages resident all that time.
pub fn serve<E>(
    spec: Spec,
    bundle: &Path,
    channels: Vec<OwnedFd>,
    confine: impl FnOnce() -> Result<(), E>,
) -> Result<(), GoferError>
where
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let channels: Vec<Channel> = channels.into_iter().map(Channel::from_fd).collect();
    donate_all(&spec, bundle, &channels)?;
    drop(spec);
    idle(&channels, confine)
}

/// Donates the rootfs on `channels[0]` and the bind mounts on the rest, in
/// spec order; a mount that cannot be made is reported on its channel.
pub fn donate_all(spec: &Spec, bundle: &Path, channels: &[Channel]) -> Result<(), GoferError> {
    let mounts = donated_mounts(spec);
    if channels.len() != mounts.len() + 1 {
        return Err(GoferError::Channels {
            got: channels.len(),
            wanted: mounts.len() + 1,
        });
    }
    let rootfs = specutils::spec::rootfs_path(bundle, spec);
    donate(&channels[0], &rootfs, make_rootfs(&rootfs))?;
    for ((_, m), channel) in mounts.iter().zip(&channels[1..]) {
        let (source, made) = match bind_source(bundle, m) {
            Some(source) => {
                let options = parse_options(m.options().as_deref().unwrap_or(&[]));
                let made = make_mount(&source, &options);
                (source, made)
            }
            None => (
                m.destination().clone(),
                Err(GoferError::NoSource {
                    dest: m.destination().clone(),
                }),
            ),
        };
        donate(channel, &source, made)?;
    }
    Ok(())
}

/// The gofer's life once its mounts are donated: `confine`, give back
/// what setup left resident, and wait until every channel has closed.
pub fn idle<E>(
    channels: &[Channel],
    confine: impl FnOnce() -> Result<(), E>,
) -> Result<(), GoferError>
where
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    confine().map_err(|e| GoferError::Confine(e.into()))?;
    specutils::idle_code::drop_idle_code();
    specutils::idle_stack::drop_idle_stack();
    // Last: the two above read /proc into buffers they then free.
    specutils::sys::release_free_memory();
    wait_for_hangup(channels);
    Ok(())
}

/// Blocks until the sandbox has closed every channel (or died).
fn wait_for_hangup(channels: &[Channel]) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut open: Vec<&Channel> = channels.iter().collect();
    while !open.is_empty() {
        let mut fds: Vec<PollFd> = open
            .iter()
            .map(|c| PollFd::new(c.as_fd(), PollFlags::POLLIN))
            .collect();
        if poll(&mut fds, PollTimeout::NONE).is_err() {
            continue;
        }
        let hung: Vec<bool> = fds
            .iter()
            .map(|f| {
                f.revents().is_some_and(|r| {
                    r.intersects(PollFlags::POLLHUP | PollFlags::POLLERR | PollFlags::POLLIN)
                })
            })
            .collect();
        let mut i = 0;
        open.retain(|_| {
            let keep = !hung[i];
            i += 1;
            keep
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_count_that_does_not_match_the_mounts_is_refused_first() {
        // The default spec has no bind mounts: one channel, the rootfs's.
        let spec = Spec::default();
        let (a, _a) = std::os::unix::net::UnixStream::pair().expect("socketpair");
        let (b, _b) = std::os::unix::net::UnixStream::pair().expect("socketpair");
        let confined = std::cell::Cell::new(false);
        let err = serve(
            spec,
            Path::new("/nonexistent-bundle"),
            vec![a.into(), b.into()],
            || -> Result<(), String> {
                confined.set(true);
                Ok(())
            },
        )
        .expect_err("two channels for one mount");
        assert!(
            matches!(err, GoferError::Channels { got: 2, wanted: 1 }),
            "{err}"
        );
        assert!(
            !confined.get(),
            "nothing is donated or confined on a mismatch"
        );
    }
}
