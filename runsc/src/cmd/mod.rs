//! One module per subcommand. Each parses its own flags and calls the
//! library; the lifecycle logic lives in `runsc::container`.

pub mod features;
pub mod list;
pub mod spec;
pub mod state;

use anyhow::Result;
use runsc::container::ContainerStore;

use crate::cli::{Cli, Command, GlobalFlags};

/// Runs the parsed command; the result is the process exit status.
pub fn run(cli: Cli) -> Result<u8> {
    let g = &cli.global;
    match cli.command {
        Command::Spec(a) => spec::run(g, a),
        Command::List(a) => list::run(g, a),
        Command::State(a) => state::run(g, a),
        Command::Features(a) => features::run(g, a),
    }
}

/// Opens the store named by `--root`.
pub fn store(g: &GlobalFlags) -> Result<ContainerStore> {
    Ok(ContainerStore::open(&g.root)?)
}
