//! `keyward-server`: runs Keyward, applies migrations, bootstraps an admin, prints the schema.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    backend::cli::main().await
}
