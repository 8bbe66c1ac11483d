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
    /// The page from `first + 1` rows fetched: the extra row only tells that more follow.
    fn of(mut items: Vec<T>, first: u64, total: u64) -> Self {
        let has_next = items.len() as u64 > first;
        items.truncate(usize::try_from(first).unwrap_or(usize::MAX));
        Page {
            items,
            has_next,
            total,
        }
    }

    /// The same page with each item turned into another; the first failure fails it.
    pub fn try_map<U>(self, f: impl FnMut(T) -> AppResult<U>) -> AppResult<Page<U>> {
        Ok(Page {
            items: self.items.into_iter().map(f).collect::<AppResult<_>>()?,
            has_next: self.has_next,
            total: self.total,
        })
    }
}

/// How many rows `query` holds over all pages. Counting the key column alone lets an
/// index that holds the filter answer it.
async fn count<E, C>(db: &C, query: &Select<E>, key: E::Column) -> AppResult<u64>
where
    E: EntityTrait,
    C: ConnectionTrait,
{
    let total: Option<i64> = query
        .clone()
        .select_only()
        .column_as(Expr::col(key).count(), "n")
        .into_tuple()
        .one(db)
        .await?;
    Ok(u64::try_from(total.unwrap_or(0)).unwrap_or(0))
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
    let total = count(db, &query, key).await?;
    let mut query = query.order_by_desc(key);
    if let Some(after) = after {
        query = query.filter(key.lt(after));
    }
    let items = query.limit(first + 1).all(db).await?;
    Ok(Page::of(items, first, total))
}

/// What a [`SortBy`] value is, so the cursor row's value is read back as its own type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortType {
    Text,
    Time,
    Id,
}

/// An order other than newest first: by `value` (missing values last whichever way it
/// runs), then newest first among equals.
#[derive(Debug, Clone)]
pub struct SortBy {
    pub value: sea_orm::sea_query::SimpleExpr,
    pub of: SortType,
    pub ascending: bool,
}

/// The page of `query` in `sort` order after the row whose `key` is `after`. The cursor
/// stays the row's key: its sort value is read back within `scope` (what the caller may
/// see, without the list's own filters, so a row that stopped matching them, say a key
/// disabled meanwhile, still marks the place). A cursor to no row of `scope` ends the
/// list rather than restarting it. A row whose value changed since (a key used again)
/// marks the place by its new value.
pub async fn sorted_page<E, C>(
    db: &C,
    query: Select<E>,
    scope: Select<E>,
    key: E::Column,
    sort: SortBy,
    first: u64,
    after: Option<uuid::Uuid>,
) -> AppResult<Page<E::Model>>
where
    E: EntityTrait,
    E::Model: FromQueryResult + Send + Sync,
    C: ConnectionTrait,
{
    use sea_orm::{Condition, Order, sea_query::Value};
    let first = first.clamp(1, MAX_PAGE);
    let total = count(db, &query, key).await?;
    let SortBy {
        value,
        of,
        ascending,
    } = sort;
    let mut page = query.clone();
    if let Some(after) = after {
        let at = scope
            .select_only()
            .column_as(value.clone(), "v")
            .filter(key.eq(after));
        // `None`: no such row; `Some(None)`: the row has no value.
        let at: Option<Option<Value>> = match of {
            SortType::Text => at
                .into_tuple::<Option<String>>()
                .one(db)
                .await?
                .map(|v| v.map(Value::from)),
            SortType::Time => at
                .into_tuple::<Option<chrono::DateTime<chrono::Utc>>>()
                .one(db)
                .await?
                .map(|v| v.map(Value::from)),
            SortType::Id => at
                .into_tuple::<Option<uuid::Uuid>>()
                .one(db)
                .await?
                .map(|v| v.map(Value::from)),
        };
        let Some(at) = at else {
            return Ok(Page {
                items: Vec::new(),
                has_next: false,
                total,
            });
        };
        let older = Expr::col(key).lt(Value::from(after));
        let missing = value.clone().is_null();
        page = page.filter(match at {
            Some(at) => {
                let beyond = if ascending {
                    value.clone().gt(at.clone())
                } else {
                    value.clone().lt(at.clone())
                };
                Condition::any()
                    .add(beyond)
                    .add(Condition::all().add(value.clone().eq(at)).add(older))
                    .add(missing)
            }
            None => Condition::all().add(missing).add(older),
        });
    }
    let items = page
        .order_by(value.clone().is_null(), Order::Asc)
        .order_by(value, if ascending { Order::Asc } else { Order::Desc })
        .order_by_desc(key)
        .limit(first + 1)
        .all(db)
        .await?;
    Ok(Page::of(items, first, total))
}
