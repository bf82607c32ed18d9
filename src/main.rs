//! roompeer's entry point: parses options, then opens the window, runs a session from the
//! command line (`--headless`, writing the report and exiting with the outcome's code), or
//! serves rooms (`roompeer serve`).

use clap::Parser;
use roompeer::cli::{Cli, Command, ServeArgs};
use roompeer::report;
use std::io::IsTerminal;
use std::process::ExitCode;

fn main() -> ExitCode {
    report::mark_start();
    let cli = Cli::parse();
    init_log(&cli);
    let dir = cli.profile.clone();
    let profiler = dir.as_deref().and_then(|dir| {
        roompeer::profile::Profiler::start(dir)
            .inspect_err(|e| eprintln!("roompeer: {e}"))
            .ok()
    });
    let code = run(cli);
    if let (Some(profiler), Some(dir)) = (profiler, dir) {
        match profiler.finish() {
            Ok(summary) => eprintln!(
                "roompeer: the run used {:.2} CPU-s; where it went: {} (flamegraph.svg, profile.txt)",
                summary.cpu_s,
                dir.display()
            ),
            Err(e) => eprintln!("roompeer: {e}"),
        }
    }
    code
}

/// What the options ask for: a subcommand, the device list, the window or a headless run.
fn run(cli: Cli) -> ExitCode {
    match &cli.command {
        Some(Command::Serve(args)) => return serve(args),
        Some(Command::Completions { shell }) => {
            let written = Cli::write_completions(*shell, &mut std::io::stdout());
            return written_or_said(written, "the completion script");
        }
        Some(Command::Man { serve }) => {
            let written = Cli::write_man_page(*serve, &mut std::io::stdout());
            return written_or_said(written, "the manual page");
        }
        None => {}
    }
    if cli.list_devices {
        let devices = roompeer::devices::DeviceList::query();
        println!(
            "{}",
            serde_json::to_string_pretty(&devices).unwrap_or_default()
        );
        return ExitCode::SUCCESS;
    }
    if !cli.headless {
        return window(cli);
    }
    let options = match cli.run_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("roompeer: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(runtime) = runtime() else {
        return ExitCode::from(1);
    };
    // On a terminal, one live line shows the call (it reads the state the window would).
    let view = roompeer::live::LiveView::figures_only();
    view.update(|s| {
        s.status = roompeer::live::ShownStatus::Session(roompeer::call::Status::Connecting)
    });
    let line = (!cli.quiet)
        .then(|| roompeer::terminal::StatusLine::start(view.clone()))
        .flatten();
    let link = line.is_some().then(|| roompeer::session::WindowLink {
        view,
        stop: Default::default(),
    });
    let result = runtime.block_on(roompeer::session::run(options, link));
    if let Some(line) = line {
        line.finish();
    }
    for l in roompeer::terminal::summary(&result) {
        eprintln!("{l}");
    }
    if let Some(path) = &cli.report {
        let written = serde_json::to_vec_pretty(&result)
            .map_err(std::io::Error::other)
            .and_then(|json| std::fs::write(path, json));
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

/// Success, or a failed write said (a reader that closed the pipe early is no failure).
fn written_or_said(written: std::io::Result<()>, what: &str) -> ExitCode {
    match written {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            eprintln!("roompeer: cannot write {what}: {e}");
            ExitCode::from(1)
        }
        _ => ExitCode::SUCCESS,
    }
}

/// The log on stderr: warnings by default, more with `-v`/`-vv`, or what `ROOMPEER_LOG` says;
/// written above the status line, without the known noise.
fn init_log(cli: &Cli) {
    use tracing_subscriber::prelude::*;
    let default = match cli.verbose {
        0 => "warn",
        1 => "roompeer=info,warn",
        _ => "roompeer=debug,info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("ROOMPEER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let log = tracing_subscriber::fmt::layer()
        .with_writer(roompeer::terminal::LogWriter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_filter(roompeer::terminal::KnownNoise)
        // Outermost, so its level is the subscriber's hint: `log` records (rtc and webrtc log
        // through it, some for every packet) below that level are then dropped by the `log`
        // macro itself instead of being built and filtered (4% of a call's network thread).
        .with_filter(filter);
    tracing_subscriber::registry().with(log).init();
}

/// `roompeer serve`: runs the room server until interrupted.
fn serve(args: &ServeArgs) -> ExitCode {
    let Some(runtime) = runtime() else {
        return ExitCode::from(1);
    };
    runtime.block_on(async {
        let server = match roompeer::server::RoomServer::start(&args.options()).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("roompeer serve: {e}");
                return ExitCode::from(2);
            }
        };
        // One machine-readable line (scripts and tests wait for it), then the same for people.
        let port = |a: Option<std::net::SocketAddr>| a.map(|a| a.port());
        println!(
            "{}",
            serde_json::json!({"listening": true, "http": port(server.http), "https": port(server.https)})
        );
        for (scheme, addr) in [("http", server.http), ("https", server.https)] {
            if let Some(addr) = addr {
                eprintln!("roompeer serve: rooms and the page at {scheme}://{addr}/");
            }
        }
        let stop = async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
            }
        };
        stop.await;
        eprintln!("roompeer serve: stopping");
        drop(server);
        ExitCode::SUCCESS
    })
}

/// The desktop window; sessions run on a runtime beside it.
fn window(cli: Cli) -> ExitCode {
    let Some(runtime) = runtime() else {
        return ExitCode::from(1);
    };
    let handle = runtime.handle().clone();
    let result = roompeer::gui::run_window(cli, handle);
    runtime.shutdown_timeout(std::time::Duration::from_millis(1500));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("roompeer: {e}");
            ExitCode::from(2)
        }
    }
}

/// The async runtime every mode runs on; says why when it cannot start.
fn runtime() -> Option<tokio::runtime::Runtime> {
    tokio::runtime::Runtime::new()
        .inspect_err(|e| eprintln!("roompeer: cannot start the async runtime: {e}"))
        .ok()
}
