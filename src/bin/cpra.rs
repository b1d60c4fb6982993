//! The `cpra` binary: parses the command line and hands over to `cpra::cli`.

use clap::Parser;

fn main() {
    let cli = cpra::cli::Cli::parse();
    std::process::exit(cpra::cli::main_with(cli));
}
