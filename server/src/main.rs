//! The `contact-manager` binary: parse the command line, run the command.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    server::cli::run().await
}
