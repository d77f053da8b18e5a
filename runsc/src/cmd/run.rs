//! `runsc run <id>`: create, start, wait and delete, exiting with the
//! container's status; `--detach` stops after start.

use anyhow::Result;
use runsc::container::create::create;

use crate::cli::GlobalFlags;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub create: super::create::Args,
    /// Leave the container running and return
    #[arg(short, long)]
    pub detach: bool,
}

pub fn run(g: &GlobalFlags, a: RunArgs) -> Result<u8> {
    let store = super::store(g)?;
    let detach = a.detach;
    let created = create(&store, super::create::options(g, a.create))?;
    let id = created.container.id.clone();
    if let Err(e) = runsc::container::start::start(&store, &id) {
        let _ = runsc::container::delete::delete(&store, &id, true);
        return Err(e.into());
    }
    if detach {
        return Ok(0);
    }
    // A new sandbox is our child and exits with the container's status; a
    // subcontainer's status comes from its sandbox.
    let code = match &created.sandbox {
        Some(sandbox) => {
            let status = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(sandbox.pid), None);
            match status {
                Ok(nix::sys::wait::WaitStatus::Exited(_, c)) => c,
                Ok(nix::sys::wait::WaitStatus::Signaled(_, s, _)) => 128 + s as i32,
                other => {
                    let _ = runsc::container::delete::delete(&store, &id, true);
                    anyhow::bail!("wait for sandbox of {id}: {other:?}");
                }
            }
        }
        None => runsc::container::kill::wait(&store, &id)?,
    };
    runsc::container::delete::delete(&store, &id, true)?;
    Ok(code.clamp(0, 255) as u8)
}
