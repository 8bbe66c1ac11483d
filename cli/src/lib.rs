//! Keyward from the terminal: the `keyward` command, and the library it is built on, so a
//! product's own CLI can offer `login` without writing the flows again.
//!
//! A product CLI that logs its users in with the device flow and then calls the API as
//! them:
//!
//! ```no_run
//! use keyward_cli::{Client, login};
//!
//! # async fn product_login() -> keyward_cli::Result<()> {
//! let client = Client::new("https://auth.example.com", None)?;
//! let name = login::machine_name();
//! let issued = login::device(&client, &name, &mut login::PrintCode, &mut login::Sleep).await?;
//! let me = client.with_token(Some(issued.token.clone())).me().await?;
//! let email = me.user.map(|u| u.email).unwrap_or_default();
//! eprintln!("Logged in as {email}; token `{}` expires in {:?} s", issued.name, issued.expires_in);
//! // Keep `issued.token` somewhere private (it is shown nowhere else).
//! # Ok(())
//! # }
//! ```
//!
//! [`login::browser`] runs the browser flow instead, and [`login::with_token`] checks a
//! pasted token.

pub mod client;
pub mod config;
pub mod error;
pub mod login;
pub mod token;

pub use client::Client;
pub use error::{Error, Result};
pub use token::Secret;
