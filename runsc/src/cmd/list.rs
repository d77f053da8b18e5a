//! `runsc list`: a table, JSON, or ids only, as `runc list` prints them.

use std::borrow::Cow;
use std::io::Write;

use anyhow::Result;
use runsc::container::state::OciState;
use runsc::container::store_reader::MetaReader;
use runsc::container::ContainerStore;

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
    // Sorted already.
    let ids = store.ids()?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if args.quiet {
        for id in &ids {
            writeln!(out, "{id}")?;
        }
        out.flush()?;
        return Ok(0);
    }
    let states = read_states(&store, &ids);
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

/// The state of each container, in `ids` order. Reading and parsing
/// thousands of meta.json files is the whole cost of `list`, so it is
/// spread over the CPUs.
fn read_states(store: &ContainerStore, ids: &[String]) -> Vec<OciState> {
    let read = |chunk: &[String]| -> Vec<OciState> {
        let mut reader = match MetaReader::open(store) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("list: {e}");
                return Vec::new();
            }
        };
        chunk
            .iter()
            .filter_map(|id| match reader.read(id) {
                Ok(c) => Some(OciState::from_container(c)),
                // A container that vanished between readdir and read is gone.
                Err(runsc::container::StoreError::NotExist(_)) => None,
                Err(e) => {
                    tracing::warn!("list: skipping {id}: {e}");
                    None
                }
            })
            .collect()
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads < 2 || ids.len() < 512 {
        return read(ids);
    }
    let chunk = ids.len().div_ceil(threads);
    std::thread::scope(|s| {
        // A chunk whose thread cannot be made (a pids limit, say) is read
        // here instead.
        let handles: Vec<_> = ids
            .chunks(chunk)
            .map(|c| {
                std::thread::Builder::new()
                    .spawn_scoped(s, move || read(c))
                    .map_err(|_| c)
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| match h {
                Ok(h) => h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)),
                Err(c) => read(c),
            })
            .collect()
    })
}

fn write_table(out: &mut impl Write, states: &[OciState]) -> std::io::Result<()> {
    // Borrowed where the state has the text already: no copy per cell.
    let rows: Vec<[Cow<'_, str>; 6]> = states
        .iter()
        .map(|s| {
            [
                Cow::Borrowed(s.id.as_str()),
                Cow::Owned(s.pid.to_string()),
                Cow::Borrowed(s.status.as_str()),
                s.bundle.to_string_lossy(),
                Cow::Borrowed(s.created.as_str()),
                Cow::Borrowed(s.owner.as_str()),
            ]
        })
        .collect();
    let header = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(Cow::Borrowed);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut line = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        line.clear();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                // Padded to `w` characters, then three spaces.
                let pad = w.saturating_sub(cell.chars().count()) + 3;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}
