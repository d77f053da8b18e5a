//! `runsc checkpoint <id>`: save a running or paused container with CRIU,
//! with runc's flags (containerd passes them).

use std::path::PathBuf;

use anyhow::Result;
use runsc::api::Container;
use runsc::container::checkpoint::CheckpointOptions;
use sandbox::checkpoint::DumpOptions;

use crate::cli::GlobalFlags;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory for CRIU's image files
    #[arg(long = "image-path", default_value = "checkpoint")]
    pub image_path: PathBuf,
    /// Directory for CRIU's log and work files (default: the image path)
    #[arg(long = "work-path")]
    pub work_path: Option<PathBuf>,
    /// Leave the container running after the checkpoint
    #[arg(long = "leave-running")]
    pub leave_running: bool,
    #[command(flatten)]
    pub criu: CriuFlags,
    /// Dump memory only and leave the container running, for a later
    /// checkpoint with --parent-path
    #[arg(long = "pre-dump")]
    pub pre_dump: bool,
    /// The image directory of an earlier --pre-dump
    #[arg(long = "parent-path")]
    pub parent_path: Option<PathBuf>,
    /// CRIU's cgroup mode: soft, full, strict or ignore
    #[arg(long = "manage-cgroups-mode", value_parser = ["soft", "full", "strict", "ignore"])]
    pub manage_cgroups_mode: Option<String>,
    /// Container id (any unique prefix)
    pub id: String,
}

/// Flags that checkpoint and restore share and hand to CRIU.
#[derive(Debug, clap::Args)]
pub struct CriuFlags {
    /// Allow open TCP connections
    #[arg(long = "tcp-established")]
    pub tcp_established: bool,
    /// Allow unix sockets connected outside the container
    #[arg(long = "ext-unix-sk")]
    pub ext_unix_sk: bool,
    /// Allow a shell job (a session or terminal from outside)
    #[arg(long = "shell-job")]
    pub shell_job: bool,
    /// Save and restore file locks
    #[arg(long = "file-locks")]
    pub file_locks: bool,
}

pub fn run(g: &GlobalFlags, a: Args) -> Result<u8> {
    let store = super::store(g)?;
    let c = Container::find(&store, &a.id)?;
    let opts = CheckpointOptions {
        image: a.image_path,
        work: a.work_path,
        dump: DumpOptions {
            leave_running: a.leave_running,
            tcp_established: a.criu.tcp_established,
            ext_unix_sk: a.criu.ext_unix_sk,
            shell_job: a.criu.shell_job,
            file_locks: a.criu.file_locks,
            pre_dump: a.pre_dump,
            parent_path: a.parent_path,
            manage_cgroups_mode: a.manage_cgroups_mode,
            freeze_cgroup: None,
        },
        criu: g.criu.clone(),
    };
    c.checkpoint(opts)?;
    Ok(0)
}
