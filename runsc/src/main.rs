//! `runsc`: the frontend binary. Parses flags, sets up logging, and runs one
//! subcommand; every failure becomes one line on stderr (and an error entry
//! in `--log`) and exit status 1.

mod cli;
mod cmd;
mod logging;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let logs = logging::init(&cli.global, cli.command.name());
    let logs_ok = match &logs {
        Ok(()) => true,
        Err(e) => {
            eprintln!("runsc: {e:#}");
            false
        }
    };
    match cmd::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let line = format!("{e:#}");
            if logs_ok {
                tracing::error!("{line}");
            }
            eprintln!("runsc: {line}");
            ExitCode::from(1)
        }
    }
}
