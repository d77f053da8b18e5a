//! `runsc list`: a table, JSON, or ids only, as `runc list` prints them.

use std::borrow::Cow;
use std::fmt::Write as _;
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
    match args.format {
        Format::Json => write_json(&mut out, &read_parts::<JsonPart>(&store, &ids))?,
        Format::Table => write_table(&mut out, &read_parts::<TablePart>(&store, &ids))?,
    }
    out.flush()?;
    Ok(0)
}

/// What one reader makes of its share of the containers, a state at a
/// time: a state borrows the reader's buffer, so it is written out at once
/// rather than kept (an owned state per container is a dozen allocations,
/// which musl's malloc makes the whole cost of `list`).
trait Part: Default + Send {
    fn push(&mut self, s: &OciState<'_>);
}

/// The states as JSON objects, comma-separated.
#[derive(Default)]
struct JsonPart(Vec<u8>);

impl Part for JsonPart {
    fn push(&mut self, s: &OciState<'_>) {
        let start = self.0.len();
        if start > 0 {
            self.0.push(b',');
        }
        // Strings and numbers into memory: it cannot fail, but if it did
        // no half object may stay.
        if let Err(e) = serde_json::to_writer(&mut self.0, s) {
            self.0.truncate(start);
            tracing::warn!("list: skipping {}: {e}", s.id);
        }
    }
}

/// The table's cells end to end, [`COLUMNS`] per row.
#[derive(Default)]
struct TablePart {
    text: String,
    ends: Vec<usize>,
}

const COLUMNS: usize = 6;

impl Part for TablePart {
    fn push(&mut self, s: &OciState<'_>) {
        let t = &mut self.text;
        t.push_str(&s.id);
        self.ends.push(t.len());
        // Writing to a String cannot fail.
        let _ = write!(t, "{}", s.pid);
        self.ends.push(t.len());
        t.push_str(s.status.as_str());
        self.ends.push(t.len());
        t.push_str(&s.bundle.to_string_lossy());
        self.ends.push(t.len());
        t.push_str(&s.created);
        self.ends.push(t.len());
        t.push_str(&s.owner);
        self.ends.push(t.len());
    }
}

impl TablePart {
    fn rows(&self) -> impl Iterator<Item = [&str; COLUMNS]> {
        self.ends.chunks_exact(COLUMNS).scan(0, |start, ends| {
            let row = std::array::from_fn(|i| {
                let from = if i == 0 { *start } else { ends[i - 1] };
                &self.text[from..ends[i]]
            });
            *start = ends[COLUMNS - 1];
            Some(row)
        })
    }
}

/// Each container's state pushed into a part, in `ids` order across the
/// parts. Reading and parsing thousands of meta.json files is the whole
/// cost of `list`, so it is spread over the CPUs.
fn read_parts<P: Part>(store: &ContainerStore, ids: &[String]) -> Vec<P> {
    let read = |chunk: &[String]| -> P {
        let mut part = P::default();
        let mut reader = match MetaReader::open(store) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("list: {e}");
                return part;
            }
        };
        let mut owners = Owners::default();
        for id in chunk {
            let named = |s: OciState<'_>| match (s.owner.is_empty(), s.owner_uid) {
                (true, Some(uid)) => part.push(&OciState {
                    owner: Cow::Borrowed(owners.name(uid)),
                    ..s
                }),
                _ => part.push(&s),
            };
            match reader.with_state(id, named) {
                Ok(()) => {}
                // A container that vanished between readdir and read is gone.
                Err(runsc::container::StoreError::NotExist(_)) => {}
                Err(e) => tracing::warn!("list: skipping {id}: {e}"),
            }
        }
        part
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads < 2 || ids.len() < 512 {
        return vec![read(ids)];
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
            .map(|h| match h {
                Ok(h) => h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)),
                Err(c) => read(c),
            })
            .collect()
    })
}

/// User names by uid, each looked up once per reader (the entries of one
/// root are nearly always one user's). `list` prints the name of the user
/// that made each container, as runc prints its state directory's owner;
/// `state` prints none, as runc's does.
#[derive(Default)]
struct Owners(Vec<(u32, String)>);

impl Owners {
    fn name(&mut self, uid: u32) -> &str {
        let at = match self.0.iter().position(|(u, _)| *u == uid) {
            Some(at) => at,
            None => {
                let user = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid));
                let name = match user {
                    Ok(Some(user)) => user.name,
                    // runc's way of naming a uid without a user.
                    _ => format!("#{uid}"),
                };
                self.0.push((uid, name));
                self.0.len() - 1
            }
        };
        &self.0[at].1
    }
}

/// One JSON array, as serde would write a list of the states.
fn write_json(out: &mut impl Write, parts: &[JsonPart]) -> std::io::Result<()> {
    out.write_all(b"[")?;
    let mut first = true;
    for p in parts.iter().filter(|p| !p.0.is_empty()) {
        if !first {
            out.write_all(b",")?;
        }
        out.write_all(&p.0)?;
        first = false;
    }
    out.write_all(b"]\n")
}

fn write_table(out: &mut impl Write, parts: &[TablePart]) -> std::io::Result<()> {
    let header = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"];
    let rows = || std::iter::once(header).chain(parts.iter().flat_map(TablePart::rows));
    let mut widths = [0; COLUMNS];
    for row in rows() {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut line = String::new();
    for row in rows() {
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
