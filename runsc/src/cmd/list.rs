//! `runsc list`: a table, JSON, or ids only, as `runc list` prints them.

use std::io::Write;

use anyhow::Result;
use runsc::container::state::OciState;

use crate::cli::GlobalFlags;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format
    #[arg(short, long, value_enum, default_value = "table")]
    pub format: Format,
    /// Print only container ids
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

pub fn run(g: &GlobalFlags, args: Args) -> Result<u8> {
    let store = super::store(g)?;
    let mut ids = store.ids()?;
    ids.sort();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if args.quiet {
        for id in &ids {
            writeln!(out, "{id}")?;
        }
        out.flush()?;
        return Ok(0);
    }
    let mut states = Vec::with_capacity(ids.len());
    for id in &ids {
        match store.read_meta(id) {
            Ok(c) => states.push(OciState::of(&c)),
            // A container that vanished between readdir and read is gone.
            Err(runsc::container::StoreError::NotExist(_)) => {}
            Err(e) => tracing::warn!("list: skipping {id}: {e}"),
        }
    }
    match args.format {
        Format::Json => {
            serde_json::to_writer(&mut out, &states)?;
            writeln!(out)?;
        }
        Format::Table => write_table(&mut out, &states)?,
    }
    out.flush()?;
    Ok(0)
}

fn write_table(out: &mut impl Write, states: &[OciState]) -> std::io::Result<()> {
    let rows: Vec<[String; 6]> = states
        .iter()
        .map(|s| {
            [
                s.id.clone(),
                s.pid.to_string(),
                s.status.to_string(),
                s.bundle.display().to_string(),
                s.created.clone(),
                s.owner.clone(),
            ]
        })
        .collect();
    let header = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}   "));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}
