//! Integration tests: the real server over HTTP, each database test on SQLite and, where
//! `KEYWARD_TEST_POSTGRES_URL` is set, on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
extern crate tests;

mod analytics;
mod audit;
mod bounds;
mod cli_login;
mod credentials;
mod dashboard;
mod dashboard_pages;
mod email;
mod hardening;
mod hostile_graphql;
mod input;
mod isolation;
mod key_events;
mod leaks;
mod members;
mod messages;
mod metrics;
mod openapi;
mod outage;
mod privileges;
mod product_keys;
mod races;
mod ratelimits;
mod replicas;
mod rest_management;
mod robustness;
mod running;
mod sdk;
mod sdk_typescript;
mod sessions;
mod signin;
mod usage;
mod verify;
mod webhooks;
