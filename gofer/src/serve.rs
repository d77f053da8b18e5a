//! The gofer process's life: donate every mount, then wait for the end of
//! the `create` that started it.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use oci_spec::runtime::Spec;
use specutils::channel::Channel;
use specutils::mounts::{bind_source, donated_mounts, parse_options};

use crate::donation::{donate, make_mount, make_rootfs, GoferError};

/// Donates the rootfs on `channels[0]` and the bind mounts on the rest,
/// then blocks until the `create` that started it, answered, kills it (a
/// systemd scope started around it stays non-empty until then), or until
/// the channels hang up because the sandbox is gone: the gofer's life ends
/// with `create` (docs/decisions.md, "The gofer ends with create").
pub fn serve(spec: Spec, bundle: &Path, channels: Vec<OwnedFd>) -> Result<(), GoferError> {
    let channels: Vec<Channel> = channels.into_iter().map(Channel::from_fd).collect();
    donate_all(&spec, bundle, &channels)?;
    drop(spec);
    wait_for_hangup(&channels);
    Ok(())
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
        let err = serve(
            spec,
            Path::new("/nonexistent-bundle"),
            vec![a.into(), b.into()],
        )
        .expect_err("two channels for one mount");
        assert!(
            matches!(err, GoferError::Channels { got: 2, wanted: 1 }),
            "{err}"
        );
    }
}
