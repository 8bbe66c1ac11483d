//! GraphQL output and input types. Output types are built from domain values, never
//! derived on entity models, so a stored field (a hash, say) can never leak by accident.
//! One file per aggregate, as the domain and the mutations are split.

mod audit;
mod credentials;
mod members;
mod orgs;
mod service_accounts;
mod sessions;

pub use audit::*;
pub use credentials::*;
pub use members::*;
pub use orgs::*;
pub use service_accounts::*;
pub use sessions::*;

use async_graphql::{Context, SimpleObject, connection::Edge};
use uuid::Uuid;

use crate::domain::{Actor, Services, credentials::Page, ids::parse_id};

/// Adds a total count to every connection.
#[derive(SimpleObject)]
pub struct TotalCount {
    /// How many items match, over all pages.
    pub total_count: u64,
}

/// A connection with `totalCount`.
pub type Conn<T> = async_graphql::connection::Connection<String, T, TotalCount>;

/// Builds a connection page; the cursor of an item is its id.
pub fn connection<T, U: async_graphql::OutputType>(
    page: Page<T>,
    id: impl Fn(&T) -> String,
    node: impl Fn(T) -> U,
) -> Conn<U> {
    let mut conn = Conn::with_additional_fields(
        false,
        page.has_next,
        TotalCount {
            total_count: page.total,
        },
    );
    conn.edges.extend(
        page.items
            .into_iter()
            .map(|item| Edge::new(id(&item), node(item))),
    );
    conn
}

/// Page size from `first` (default 50, at most 100).
pub fn page_size(first: Option<i32>) -> async_graphql::Result<u64> {
    match first {
        None => Ok(50),
        Some(n) if (1..=100).contains(&n) => Ok(n as u64),
        Some(_) => {
            Err(crate::error::AppError::invalid("first", "must be between 1 and 100").into())
        }
    }
}

/// Page size from `first` (default 50, at most 100) and the `after` cursor, an item's id.
pub fn paging(
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<(u64, Option<Uuid>)> {
    let first = page_size(first)?;
    let after = after.map(|a| parse_id("after", &a)).transpose()?;
    Ok((first, after))
}

pub fn actor<'a>(ctx: &'a Context<'_>) -> async_graphql::Result<&'a Actor> {
    ctx.data::<Actor>()
}

pub fn services<'a>(ctx: &'a Context<'_>) -> async_graphql::Result<&'a Services> {
    ctx.data::<Services>()
}
