//! A `restore` request checked before anything is made: the image read and
//! verified, CRIU found, the work directory chosen.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use super::options::RestoreRequest;
use super::LifecycleError;
use specutils::error::os;

/// A checked restore request: the image read, CRIU found.
pub(super) struct Restoring<'a> {
    pub request: &'a RestoreRequest,
    pub image: PathBuf,
    pub work: PathBuf,
    pub info: sandbox::checkpoint::ImageInfo,
}

/// Calls `f` with the stdio the init gets: `given`, or ours when None.
pub(super) fn with_init_stdio<T>(
    given: Option<&[OwnedFd; 3]>,
    f: impl FnOnce([BorrowedFd<'_>; 3]) -> T,
) -> T {
    let ours = (std::io::stdin(), std::io::stdout(), std::io::stderr());
    f(match given {
        Some([i, o, e]) => [i.as_fd(), o.as_fd(), e.as_fd()],
        None => [ours.0.as_fd(), ours.1.as_fd(), ours.2.as_fd()],
    })
}

/// Fails early, before anything is made, when a restore cannot work;
/// `stdio` is what the restored init will get (ours when None).
pub(super) fn check_restore<'a>(
    request: &'a RestoreRequest,
    stdio: Option<&[OwnedFd; 3]>,
) -> Result<Restoring<'a>, LifecycleError> {
    let criu = sandbox::criu::Criu::find(request.criu.as_deref())?;
    tracing::debug!("restore with criu {}", criu.version);
    let image = std::fs::canonicalize(&request.image)
        .map_err(os(format!("image directory {}", request.image.display())))?;
    let info = sandbox::checkpoint::ImageInfo::read(&image)?;
    info.verify_files(&image)?;
    with_init_stdio(stdio, |stdio| {
        sandbox::checkpoint::check_stdio(&info, stdio)
    })?;
    // Made only once the id is ours, so a refused restore leaves no
    // directory behind.
    let work = match &request.work {
        Some(w) => {
            let what = || format!("work directory {}", w.display());
            if w.exists() && !w.is_dir() {
                return Err(LifecycleError::Invalid(format!(
                    "{} is not a directory",
                    what()
                )));
            }
            std::path::absolute(w).map_err(os(what()))?
        }
        None => image.clone(),
    };
    Ok(Restoring {
        request,
        image,
        work,
        info,
    })
}
