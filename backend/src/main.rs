//! `keyward-server`: runs Keyward, applies migrations, bootstraps an admin, prints the schema.

/// mimalloc: the verify path allocates a few small buffers per request from many
/// threads; mimalloc serves them from per-thread pages, faster than the system allocator
/// and with less memory kept in per-thread arenas.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    backend::cli::main().await
}
