//! `runsc restore <id>`: a new sandbox running a container restored from a
//! checkpoint, with runc's flags. Without --detach it waits for the
//! container, deletes it and exits with its status, as `run` does.

use std::path::PathBuf;

use anyhow::Result;
use runsc::api::Container;
use runsc::container::options::RestoreRequest;
use sandbox::checkpoint::RestoreOptions;

use crate::cli::GlobalFlags;

#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub create: super::create::Args,
    /// Directory holding the checkpoint's image files
    #[arg(long = "image-path", default_value = "checkpoint")]
    pub image_path: PathBuf,
    /// Directory for CRIU's log and work files (default: the image path)
    #[arg(long = "work-path")]
    pub work_path: Option<PathBuf>,
    /// Leave the container running and return
    #[arg(short, long)]
    pub detach: bool,
    #[command(flatten)]
    pub criu: super::checkpoint::CriuFlags,
    /// Accepted for runc compatibility; the restored tree always joins the
    /// new container's cgroup
    #[arg(long = "manage-cgroups-mode", value_parser = ["soft", "full", "strict", "ignore"])]
    pub manage_cgroups_mode: Option<String>,
    /// Accepted for runc compatibility: the sandbox always reaps the
    /// restored init
    #[arg(long = "no-subreaper")]
    pub no_subreaper: bool,
}

pub fn run(g: &GlobalFlags, a: RestoreArgs) -> Result<u8> {
    let store = super::store(g)?;
    let options = super::create::options(g, a.create);
    let restore = RestoreRequest {
        image: a.image_path,
        work: a.work_path,
        options: RestoreOptions {
            tcp_established: a.criu.tcp_established,
            ext_unix_sk: a.criu.ext_unix_sk,
            shell_job: a.criu.shell_job,
            file_locks: a.criu.file_locks,
        },
        criu: g.criu.clone(),
    };
    let signals = if a.detach {
        None
    } else {
        Some(runsc::container::signals::Forwarder::new()?)
    };
    let (container, created) = Container::restore(&store, options, restore)?;
    match signals {
        Some(signals) => super::run::finish(&container, &created, &signals, false),
        None => Ok(0),
    }
}
