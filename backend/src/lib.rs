//! Keyward: API keys, personal access tokens, service-account keys and dashboard sign-in
//! for API products. This crate is the server: REST verification, the GraphQL API,
//! authentication and the domain services behind them.

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod dashboard;
pub mod db;
pub mod domain;
pub mod error;
pub mod graphql;
pub mod metrics;
pub mod oidc;
pub mod rest;
pub mod server;
pub mod signin;
pub mod state;
pub mod telemetry;
pub use keyward_proto::token;
