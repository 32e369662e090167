//! The `contact-manager` binary: parse the command line, run the command.

// Many small allocations per request and per relayed message (see the
// README's Benchmark): mimalloc spends less time on them than glibc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    server::cli::run().await
}
