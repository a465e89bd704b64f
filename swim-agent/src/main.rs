//! The `swim` command: see the crate docs of `swim_agent`.

use std::process::ExitCode;

fn main() -> ExitCode {
    match swim_agent::cli::try_parse(std::env::args_os()) {
        Ok(cli) => swim_agent::run(cli),
        // Help and version go to stdout as clap prints them.
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("swim: {}", swim_agent::cli::one_line(&e));
            ExitCode::from(2)
        }
    }
}
