//! `runsc ps [--format table|json] <id> [ps args]`: json is the array of
//! host pids, as runc prints it; table is the host's `ps` (default `-ef`)
//! narrowed to the container's processes.

use std::io::Write;

use anyhow::{bail, Context, Result};
use runsc::api::Container;

use crate::cli::GlobalFlags;

#[derive(Debug, clap::Args)]
#[command(trailing_var_arg = true)]
pub struct Args {
    /// Output format
    #[arg(short, long, value_enum, default_value = "table")]
    pub format: Format,
    /// Container id (any unique prefix)
    pub id: String,
    /// Arguments for ps(1)
    #[arg(allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

pub fn run(g: &GlobalFlags, a: Args) -> Result<u8> {
    let store = super::store(g)?;
    let pids = Container::find(&store, &a.id)?.processes()?;
    let mut out = std::io::stdout().lock();
    if let Format::Json = a.format {
        writeln!(out, "{}", serde_json::to_string(&pids)?)?;
        return Ok(0);
    }
    let args = if a.ps_args.is_empty() {
        vec!["-ef".to_string()]
    } else {
        a.ps_args
    };
    let listing = std::process::Command::new("ps")
        .args(&args)
        .output()
        .context("run ps")?;
    if !listing.status.success() {
        bail!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&listing.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&listing.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let Some(column) = header.split_whitespace().position(|h| h == "PID") else {
        bail!("ps {}: no PID column in its output", args.join(" "));
    };
    writeln!(out, "{header}")?;
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(column)
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            writeln!(out, "{line}")?;
        }
    }
    Ok(0)
}
