//! `keyward`: log in to a Keyward server, pick an organization, and manage API keys and
//! personal access tokens from the terminal (SPEC §11).

mod context;
mod identities;
mod manage;
mod output;
mod session;

use clap::{Args, CommandFactory, Parser, Subcommand};

use keyward_cli::error::exit;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  any other failure (server unreachable, refused, local files)
  2  wrong usage or input
  3  not logged in, or the token expired or was revoked (also: `verify` of an invalid token)
  4  forbidden: the credential may not do this
  5  not found

Environment:
  KEYWARD_SERVER       the server's URL (else the saved one, else http://127.0.0.1:8080)
  KEYWARD_API_KEY      a credential to act with instead of the saved one (CI)
  KEYWARD_BROWSER_CMD  the browser to open for `login` ({url} is replaced, else appended)
  NO_COLOR             no colour in any output";

/// Keyward from the terminal.
#[derive(Parser)]
#[command(name = "keyward", version, after_help = EXIT_CODES)]
struct Cli {
    /// The Keyward server's URL (also KEYWARD_SERVER); `login` saves it.
    #[arg(long, global = true, value_name = "URL")]
    server: Option<String>,
    /// Act in this organization (name, slug or id) instead of the active one.
    #[arg(long, global = true, value_name = "ORG")]
    org: Option<String>,
    /// Print data as JSON, for scripts.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Log in: in the browser, with a device code (on machines without one), or with a
    /// token.
    Login(LoginArgs),
    /// Revoke the token this machine holds and forget it (the server and organization stay).
    Logout,
    /// Who the CLI acts as, with which credential, and what it may do.
    Whoami,
    /// Login state and the credential, as `gh auth` has them.
    #[command(subcommand)]
    Auth(AuthCommand),
    /// Your organizations and the active one.
    #[command(subcommand)]
    Org(OrgCommand),
    /// The active organization's projects.
    #[command(subcommand)]
    Project(ProjectCommand),
    /// API keys of the active organization (and project).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The product's customers: credits, limits and metadata their keys share.
    #[command(subcommand)]
    Identities(identities::IdentitiesCommand),
    /// Your personal access tokens.
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Check a credential with the server; exits 0 only when it is valid.
    Verify {
        /// The credential; read from standard input when absent or `-`.
        token: Option<String>,
    },
    /// Use an API key or token you already have.
    #[command(name = "api-key", subcommand)]
    ApiKey(ApiKeyCommand),
    /// Print a shell completion script.
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand)]
enum AuthCommand {
    /// Log in (the same as `keyward login`).
    Login(LoginArgs),
    /// Log out (the same as `keyward logout`).
    Logout,
    /// Whether you are logged in, as whom, with which credential (masked) from where, and
    /// what it may do in the active organization; exits 3 when not logged in.
    Status,
    /// Print the credential this CLI acts with on standard output, for scripts.
    Token,
}

#[derive(Args)]
struct LoginArgs {
    /// Use the device flow: show a code to approve from any browser.
    #[arg(long, conflicts_with_all = ["browser", "token"])]
    device: bool,
    /// Use the browser on this machine even when it looks headless.
    #[arg(long, conflicts_with = "token")]
    browser: bool,
    /// Log in with an existing token instead (`-` reads it from standard input).
    #[arg(long, value_name = "TOKEN")]
    token: Option<String>,
    /// How long to wait for the browser.
    #[arg(long, default_value = "5m", value_name = "DURATION")]
    timeout: humantime::Duration,
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Organizations you belong to, with your role; `*` marks the active one.
    List,
    /// Make an organization active (name or slug in any case, or id).
    Use { org: String },
    /// Login state, the active organization and the token's expiry.
    Current,
}

#[derive(Subcommand)]
enum ProjectCommand {
    /// The active organization's projects; `*` marks the active one.
    List,
    /// Make a project active (name or slug in any case, or id); keys are then created
    /// and listed in it.
    Use { project: String },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Keys of the active organization (and project).
    List {
        /// Only keys whose name or prefix contains this.
        #[arg(long)]
        search: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
    },
    /// Create a key; its secret is printed once.
    Create(manage::CreateKey),
    /// Revoke a key: requests with it fail at once.
    Revoke {
        /// Id, name or prefix.
        key: String,
        /// Why, for the audit log.
        #[arg(long)]
        reason: Option<String>,
        /// Do not ask for confirmation.
        #[arg(long, short)]
        yes: bool,
    },
    /// Replace a key's secret; the old one works for the grace period.
    Rotate {
        /// Id, name or prefix.
        key: String,
        /// How long the old secret keeps working (at most 24h).
        #[arg(long, default_value = "0s", value_name = "DURATION")]
        grace: humantime::Duration,
    },
    /// Change a key: each option given is changed, the rest left as they are.
    Update(manage::UpdateKey),
    /// Set, add to or take from a key's credits.
    Credits {
        /// Id, name or prefix.
        key: String,
        #[arg(value_parser = ["set", "increment", "decrement"])]
        op: String,
        /// How many.
        value: i64,
    },
    /// Disable a key until it is enabled again.
    Disable { key: String },
    /// Enable a disabled key.
    Enable { key: String },
}

#[derive(Subcommand)]
enum TokensCommand {
    /// Your personal access tokens.
    List,
    /// Create a personal access token; its secret is printed once.
    Create(manage::CreateToken),
    /// Revoke a personal access token.
    Revoke {
        /// Id or name.
        token: String,
        /// Do not ask for confirmation.
        #[arg(long, short)]
        yes: bool,
    },
}

#[derive(Subcommand)]
enum ApiKeyCommand {
    /// Check a token and save it as the credential to act with (`-` reads standard input).
    Set { token: String },
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            std::process::exit(if err.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            output::note(&format!("error: cannot start: {err}"));
            std::process::exit(exit::OTHER);
        }
    };
    let code = match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(err) => {
            output::error(&err.to_string());
            err.exit_code()
        }
    };
    std::process::exit(code);
}

async fn run(cli: Cli) -> keyward_cli::Result<i32> {
    if let Command::Completion { shell } = cli.command {
        let mut command = Cli::command();
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut command, "keyward", &mut script);
        output::raw(&script);
        return Ok(exit::OK);
    }
    let mut ctx = context::Ctx::load(cli.server.as_deref(), cli.org, cli.json)?;
    let result = match cli.command {
        Command::Login(args) => session::login(&mut ctx, args).await,
        Command::ApiKey(ApiKeyCommand::Set { token }) => session::set_token(&mut ctx, &token).await,
        Command::Logout => session::logout(&mut ctx).await,
        Command::Whoami => session::whoami(&ctx, false).await,
        Command::Auth(AuthCommand::Login(args)) => session::login(&mut ctx, args).await,
        Command::Auth(AuthCommand::Logout) => session::logout(&mut ctx).await,
        Command::Auth(AuthCommand::Status) => session::whoami(&ctx, true).await,
        Command::Auth(AuthCommand::Token) => session::auth_token(&ctx),
        Command::Org(OrgCommand::List) => session::org_list(&ctx).await,
        Command::Org(OrgCommand::Use { org }) => session::org_use(&mut ctx, &org).await,
        Command::Org(OrgCommand::Current) => session::org_current(&ctx).await,
        Command::Project(ProjectCommand::List) => session::project_list(&ctx).await,
        Command::Project(ProjectCommand::Use { project }) => {
            session::project_use(&mut ctx, &project).await
        }
        Command::Keys(KeysCommand::List { search, limit }) => {
            manage::keys_list(&ctx, search, limit).await
        }
        Command::Keys(KeysCommand::Create(args)) => manage::keys_create(&ctx, args).await,
        Command::Keys(KeysCommand::Revoke { key, reason, yes }) => {
            manage::keys_revoke(&ctx, &key, reason, yes).await
        }
        Command::Keys(KeysCommand::Rotate { key, grace }) => {
            manage::keys_rotate(&ctx, &key, grace.into()).await
        }
        Command::Keys(KeysCommand::Update(args)) => manage::keys_update(&ctx, args).await,
        Command::Keys(KeysCommand::Credits { key, op, value }) => {
            manage::keys_credits(&ctx, &key, &op, value).await
        }
        Command::Keys(KeysCommand::Disable { key }) => manage::keys_toggle(&ctx, &key, false).await,
        Command::Keys(KeysCommand::Enable { key }) => manage::keys_toggle(&ctx, &key, true).await,
        Command::Identities(command) => identities::run(&ctx, command).await,
        Command::Tokens(TokensCommand::List) => manage::tokens_list(&ctx).await,
        Command::Tokens(TokensCommand::Create(args)) => manage::tokens_create(&ctx, args).await,
        Command::Tokens(TokensCommand::Revoke { token, yes }) => {
            manage::tokens_revoke(&ctx, &token, yes).await
        }
        Command::Verify { token } => manage::verify(&ctx, token).await,
        Command::Completion { .. } => Ok(exit::OK),
    };
    result.map_err(|err| ctx.explain(err))
}
