//! One way to page any list (SPEC §8): newest first by a key that only grows (a v7 id or
//! a sequence number), `first` items (at most [`MAX_PAGE`]) after a cursor, with the
//! total over all pages.

use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    QuerySelect, Select,
    sea_query::{Expr, ExprTrait},
};

use crate::error::AppResult;

/// Largest page of any list.
pub const MAX_PAGE: u64 = 100;

/// One page of a list.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_next: bool,
    pub total: u64,
}

impl<T> Page<T> {
    /// The same page with each item turned into another; the first failure fails it.
    pub fn try_map<U>(self, f: impl FnMut(T) -> AppResult<U>) -> AppResult<Page<U>> {
        Ok(Page {
            items: self.items.into_iter().map(f).collect::<AppResult<_>>()?,
            has_next: self.has_next,
            total: self.total,
        })
    }
}

/// The page of `query` after `after` (by `key`, newest first).
pub async fn page<E, C, V>(
    db: &C,
    query: Select<E>,
    key: E::Column,
    first: u64,
    after: Option<V>,
) -> AppResult<Page<E::Model>>
where
    E: EntityTrait,
    E::Model: FromQueryResult + Send + Sync,
    C: ConnectionTrait,
    V: Into<sea_orm::Value>,
{
    let first = first.clamp(1, MAX_PAGE);
    // Counting the key column alone lets an index that holds the filter answer it.
    let total: Option<i64> = query
        .clone()
        .select_only()
        .column_as(Expr::col(key).count(), "n")
        .into_tuple()
        .one(db)
        .await?;
    let total = u64::try_from(total.unwrap_or(0)).unwrap_or(0);
    let mut query = query.order_by_desc(key);
    if let Some(after) = after {
        query = query.filter(key.lt(after));
    }
    let mut items = query.limit(first + 1).all(db).await?;
    let has_next = items.len() as u64 > first;
    items.truncate(usize::try_from(first).unwrap_or(usize::MAX));
    Ok(Page {
        items,
        has_next,
        total,
    })
}
