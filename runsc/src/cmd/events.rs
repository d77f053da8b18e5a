//! `runsc events [--stats] [--interval N] <id>`: one stats object, or a
//! stream of them every interval, with an `oom` event whenever the
//! container's cgroup records a new OOM kill.

use std::io::Write;
use std::time::Duration;

use anyhow::Result;
use runsc::api::Container;
use runsc::container::events::Event;

use crate::cli::GlobalFlags;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print one stats object and exit
    #[arg(long)]
    pub stats: bool,
    /// Seconds between stats while streaming (e.g. 5, 5s or 500ms)
    #[arg(long, default_value = "5s", value_parser = parse_interval)]
    pub interval: Duration,
    /// Container id (any unique prefix)
    pub id: String,
}

fn parse_interval(s: &str) -> Result<Duration, String> {
    let bad = || format!("invalid interval {s:?}");
    if let Some(ms) = s.strip_suffix("ms") {
        return ms.parse().map(Duration::from_millis).map_err(|_| bad());
    }
    let secs = s.strip_suffix('s').unwrap_or(s);
    let secs: f64 = secs.parse().map_err(|_| bad())?;
    if !(secs > 0.0 && secs.is_finite()) {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(secs))
}

pub fn run(g: &GlobalFlags, a: Args) -> Result<u8> {
    let store = super::store(g)?;
    let c = Container::find(&store, &a.id)?;
    let mut out = std::io::stdout().lock();
    if a.stats {
        writeln!(out, "{}", serde_json::to_string(&c.stats()?)?)?;
        return Ok(0);
    }
    let mut ooms = c.oom_kills()?;
    loop {
        if !c.load()?.live_status().has_sandbox() {
            return Ok(0);
        }
        let now = c.oom_kills()?;
        if now > ooms {
            let oom = Event {
                kind: "oom",
                id: c.id().to_string(),
                data: None,
            };
            writeln!(out, "{}", serde_json::to_string(&oom)?)?;
            ooms = now;
        }
        writeln!(out, "{}", serde_json::to_string(&c.stats()?)?)?;
        out.flush()?;
        std::thread::sleep(a.interval);
    }
}
