//! Entry point: decide the role (gateway frontend or host subcommand) and
//! hand over. Logs go to stderr; in the frontend role stdout is gRPC only.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use melange_frontend::cli::{self, Cli, Command};
use melange_frontend::gateway;

fn main() -> ExitCode {
    init_logging();
    if std::env::args_os().len() == 1 {
        if !started_by_buildkit() || std::io::stdin().is_terminal() {
            eprintln!(
                "melange-frontend is a BuildKit frontend: put `# syntax=<this image>` on the first line of a melange \
                 YAML and build it with docker buildx / docker build / buildctl. Run `melange-frontend --help` for \
                 the host subcommands."
            );
            return ExitCode::from(2);
        }
        return run_frontend();
    }
    match Cli::parse().command {
        Command::Frontend => run_frontend(),
        Command::Plan(args) => {
            let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
            let written = cli::write_plan(&args, &mut stdout).and_then(|()| {
                writeln!(stdout)
                    .and_then(|()| stdout.flush())
                    .map_err(|e| e.to_string())
            });
            match written {
                // A closed pipe (`plan … | head`) is the reader's choice.
                Err(e) if e.contains("Broken pipe") => ExitCode::SUCCESS,
                Err(e) => report(Err(e)),
                Ok(()) => ExitCode::SUCCESS,
            }
        }
        Command::PlanSummary(args) => report(cli::plan_summary(&args)),
        Command::Keygen(args) => report(cli::keygen_command(&args)),
        Command::Index(args) => report(cli::index_command(&args)),
        Command::SignIndex(args) => report(cli::sign_index_command(&args)),
        Command::BuildApks(args) => in_build(melange_frontend::helper::build_apks(&args)),
        Command::SigningKeyId(args) => in_build(melange_frontend::helper::signing_key_id(&args)),
        Command::InstallApk(args) => {
            in_build(melange_frontend::helper::environment::install_apk(&args))
        }
        Command::FinishEnvironment(args) => in_build(
            melange_frontend::helper::environment::finish_environment(&args),
        ),
        Command::Resolve(args) => {
            let resolved = cli::resolve_command(&args);
            for warning in &resolved.warnings {
                eprintln!("{warning}");
            }
            match resolved.outcome {
                Ok(order) => {
                    print!("{order}");
                    ExitCode::SUCCESS
                }
                Err(message) => {
                    eprintln!("ERROR: {}", message.trim_end());
                    ExitCode::FAILURE
                }
            }
        }
        Command::Extract(args) => in_build(melange_frontend::helper::extract(&args)),
        Command::GitCheckout(args) => in_build(melange_frontend::helper::git_checkout(&args)),
        Command::Verify(args) => match cli::verify_command(&args) {
            Ok((lines, any_failed)) => {
                let printed = report(Ok(lines.trim_end().to_string()));
                if any_failed {
                    ExitCode::FAILURE
                } else {
                    printed
                }
            }
            Err(message) => report(Err(message)),
        },
    }
}

/// Print a subcommand's output (stdout) or error (stderr) and pick the exit code.
fn report(outcome: Result<String, String>) -> ExitCode {
    match outcome {
        Ok(text) => {
            // A closed pipe (`plan … | head`) is the reader's choice, not an
            // error worth a panic.
            let mut stdout = std::io::stdout().lock();
            match writeln!(stdout, "{text}") {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    eprintln!("error: writing the output: {e}");
                    ExitCode::FAILURE
                }
                _ => ExitCode::SUCCESS,
            }
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// An in-build helper's outcome: the build log shows stderr, so the summary
/// goes there too.
fn in_build(outcome: Result<String, String>) -> ExitCode {
    match outcome {
        Ok(summary) => {
            eprintln!("{summary}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// buildkitd always passes the session and worker list (and the options) in
/// the environment; without them nobody is listening on the other end of
/// stdout, so speaking gRPC there would only print garbage.
fn started_by_buildkit() -> bool {
    std::env::vars_os().any(|(name, _)| {
        let name = name.to_string_lossy();
        name == "BUILDKIT_SESSION_ID"
            || name == "BUILDKIT_WORKERS"
            || name.starts_with(gateway::opts::OPT_PREFIX)
    })
}

fn run_frontend() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("melange-frontend: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(gateway::serve());
    // stdin may still be held by a blocking read; don't wait for it.
    runtime.shutdown_background();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("melange-frontend: {message}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MELANGE_FRONTEND_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
}
