//! roompeer's entry point: parses options, runs the headless call, writes the report, exits
//! with the outcome's code.

use clap::Parser;
use roompeer::cli::Cli;
use roompeer::report;
use std::io::IsTerminal;
use std::process::ExitCode;

fn main() -> ExitCode {
    report::mark_start();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ROOMPEER_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("roompeer=info,warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    if !cli.headless {
        eprintln!(
            "roompeer: the desktop window is not built yet; run with --headless (see --help)."
        );
        return ExitCode::from(2);
    }
    let options = match cli.run_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("roompeer: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("roompeer: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(roompeer::headless::run(options));
    if let Some(err) = &result.error {
        eprintln!("roompeer: {err}");
    }
    eprintln!(
        "roompeer: outcome {:?} (exit code {})",
        result.outcome, result.exit_code
    );
    if let Some(path) = &cli.report {
        let written = serde_json::to_vec_pretty(&result)
            .map_err(|e| e.to_string())
            .and_then(|json| std::fs::write(path, json).map_err(|e| e.to_string()));
        if let Err(e) = written {
            eprintln!(
                "roompeer: cannot write the report to {}: {e}",
                path.display()
            );
        }
    }
    // The runtime may hold tasks of closed peer connections; do not wait for them.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    ExitCode::from(u8::try_from(result.exit_code).unwrap_or(1))
}
