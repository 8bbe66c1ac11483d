//! Integration tests: the real server over HTTP, each database test on SQLite and, where
//! `KEYWARD_TEST_POSTGRES_URL` is set, on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// Runs each named `async fn(Db)` as two tests: `<name>::sqlite` and `<name>::postgres`.
macro_rules! db_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(tests::Db::Sqlite).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if tests::postgres_url().is_some() {
                        super::$name(tests::Db::Postgres).await
                    }
                }
            }
        )*
    };
}

mod analytics;
mod audit;
mod cli_login;
mod credentials;
mod dashboard;
mod dashboard_pages;
mod hostile_graphql;
mod input;
mod isolation;
mod members;
mod messages;
mod metrics;
mod privileges;
mod ratelimits;
mod replicas;
mod robustness;
mod running;
mod sessions;
mod signin;
mod usage;
mod verify;
