//! `starling`: parse the command line, run it, map errors to exit codes.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = starling::Cli::parse();
    match starling::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // A closed pipe (`starling history | head`) is not an error.
            let broken_pipe = |e: &(dyn std::error::Error + 'static)| {
                e.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
                    || e.downcast_ref::<serde_json::Error>()
                        .is_some_and(|j| j.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe))
            };
            if err.chain().any(broken_pipe) {
                return ExitCode::SUCCESS;
            }
            let said = starling::describe(&err);
            match starling::advice(&err) {
                Some(advice) => eprintln!("error: {said}; {advice}"),
                None => eprintln!("error: {said}"),
            }
            ExitCode::from(starling::exit_code(&err))
        }
    }
}
