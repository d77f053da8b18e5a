//! Logs in the layouts runc's clients read. containerd's shim reads the last
//! `{"level":"error","msg":...}` line of `--log` to explain a failure, so
//! the JSON layout is runc's (`level`, `msg`, `time`), one object per line,
//! each written with a single append so that processes sharing the file
//! never interleave within a line.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context as LayerContext, Layer};
use tracing_subscriber::prelude::*;

use crate::cli::{GlobalFlags, LogFormat};

struct Sink {
    out: Mutex<Box<dyn Write + Send>>,
    format: LogFormat,
    max: Level,
    /// Most severe level written; stderr leaves errors to main, which
    /// prints the one line a failure gets.
    min: Level,
}

struct LineLayer {
    sinks: Vec<Sink>,
}

/// Sets up `--log`, `--log-format`, `--debug` and `--debug-log`. Without
/// `--log`, warnings and worse go to stderr.
pub fn init(g: &GlobalFlags, command: &str) -> Result<()> {
    let level = if g.debug { Level::DEBUG } else { Level::INFO };
    let mut sinks = Vec::new();
    match &g.log {
        Some(path) => sinks.push(Sink {
            out: Mutex::new(Box::new(open_log(path)?)),
            format: g.log_format,
            max: level,
            min: Level::ERROR,
        }),
        // The sandbox's and gofer's stderr belong to the container.
        None if matches!(command, "boot" | "gofer") => {}
        None => sinks.push(Sink {
            out: Mutex::new(Box::new(std::io::stderr())),
            format: g.log_format,
            max: Level::WARN,
            min: Level::WARN,
        }),
    }
    if let Some(spec) = &g.debug_log {
        let path = debug_log_path(spec, command);
        sinks.push(Sink {
            out: Mutex::new(Box::new(open_log(&path)?)),
            format: LogFormat::Text,
            max: Level::DEBUG,
            min: Level::ERROR,
        });
    }
    tracing_subscriber::registry()
        .with(LineLayer { sinks })
        .try_init()
        .context("set up logging")?;
    Ok(())
}

/// Writes `message` as an error line to the `--log` named in `args`, for
/// a command line that did not parse (so `init` never ran): containerd
/// looks there for the cause of every failure. Best effort.
pub fn log_unparsed(args: &[std::ffi::OsString], message: &str) {
    let value = |name: &str| -> Option<String> {
        let mut found = None;
        let mut iter = args.iter().filter_map(|a| a.to_str());
        while let Some(a) = iter.next() {
            if a == "--" {
                break;
            }
            if a == name {
                found = iter.next().map(str::to_string);
            } else if let Some(v) = a.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
                found = Some(v.to_string());
            }
        }
        found
    };
    let Some(path) = value("--log") else {
        return;
    };
    let format = match value("--log-format").as_deref() {
        Some("json") => LogFormat::Json,
        _ => LogFormat::Text,
    };
    let fields = Fields {
        msg: message.to_string(),
        extra: Vec::new(),
    };
    if let Ok(mut f) = open_append(Path::new(&path)) {
        let _ = f.write_all(format_line(format, &Level::ERROR, &fields).as_bytes());
    }
}

/// A `--debug-log` value ending in '/' is a directory holding one file per
/// command, as gVisor names them.
fn debug_log_path(spec: &str, command: &str) -> PathBuf {
    if spec.ends_with('/') {
        let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S%.6f");
        Path::new(spec).join(format!(
            "runsc.log.{stamp}.{}.{command}",
            std::process::id()
        ))
    } else {
        PathBuf::from(spec)
    }
}

/// The log files this process writes to: a forked child that keeps
/// logging (the sandbox's gofer) keeps these descriptors open.
static LOG_FDS: Mutex<Vec<RawFd>> = Mutex::new(Vec::new());

/// Descriptors of the log files [`init`] opened.
pub fn log_fds() -> Vec<RawFd> {
    LOG_FDS.lock().map(|fds| fds.clone()).unwrap_or_default()
}

/// [`open_append`], remembered in [`LOG_FDS`].
fn open_log(path: &Path) -> Result<File> {
    let file = open_append(path)?;
    if let Ok(mut fds) = LOG_FDS.lock() {
        fds.push(file.as_raw_fd());
    }
    Ok(file)
}

fn open_append(path: &Path) -> Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("create log directory {}", dir.display()))?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("open log file {}", path.display()))
}

#[derive(Default)]
struct Fields {
    msg: String,
    extra: Vec<(String, String)>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.msg = value.to_string();
        } else {
            self.extra
                .push((field.name().to_string(), value.to_string()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.msg = format!("{value:?}");
        } else {
            self.extra
                .push((field.name().to_string(), format!("{value:?}")));
        }
    }
}

fn level_word(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "error",
        Level::WARN => "warning",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

fn format_line(format: LogFormat, level: &Level, fields: &Fields) -> String {
    let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    match format {
        LogFormat::Json => {
            let mut obj = serde_json::Map::new();
            obj.insert("level".into(), level_word(level).into());
            obj.insert("msg".into(), fields.msg.clone().into());
            obj.insert("time".into(), time.into());
            for (k, v) in &fields.extra {
                obj.insert(k.clone(), v.clone().into());
            }
            let mut line = serde_json::Value::Object(obj).to_string();
            line.push('\n');
            line
        }
        LogFormat::Text => {
            let mut line = format!(
                "time={time:?} level={} msg={:?}",
                level_word(level),
                fields.msg
            );
            for (k, v) in &fields.extra {
                let _ = write!(line, " {k}={v:?}");
            }
            line.push('\n');
            line
        }
    }
}

impl<S: Subscriber> Layer<S> for LineLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: LayerContext<'_, S>) {
        let level = event.metadata().level();
        // libcgroups warns about every controller a hybrid host lacks.
        if event.metadata().target().starts_with("libcgroups")
            && *level > Level::ERROR
            && self.sinks.iter().all(|s| s.max < Level::DEBUG)
        {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        for sink in &self.sinks {
            // Level order in tracing: ERROR < WARN < ... < TRACE.
            if *level > sink.max || *level < sink.min {
                continue;
            }
            let line = format_line(sink.format, level, &fields);
            if let Ok(mut out) = sink.out.lock() {
                let _ = out.write_all(line.as_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line_has_runc_keys() {
        let fields = Fields {
            msg: "boom \"x\"".into(),
            extra: vec![],
        };
        let line = format_line(LogFormat::Json, &Level::ERROR, &fields);
        let v: serde_json::Value = serde_json::from_str(&line).expect("valid json");
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "boom \"x\"");
        assert!(v["time"].as_str().is_some_and(|t| t.ends_with('Z')));
    }
}
