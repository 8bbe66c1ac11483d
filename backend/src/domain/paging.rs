//! One way to page any list (SPEC §8): newest first by a key that only grows (a v7 id or
//! a sequence number), `first` items (at most [`MAX_PAGE`]) after a cursor, with the
//! total over all pages.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, Order,
    QueryFilter, QueryOrder, QueryResult, QuerySelect, Select, TryGetable,
    sea_query::{Expr, ExprTrait, SimpleExpr, Value},
};
use uuid::Uuid;

use crate::error::{AppError, AppResult};

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

/// What a [`SortBy`] value is, so that it is read, kept in a cursor and compared as its
/// own type.
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
    pub value: SimpleExpr,
    pub of: SortType,
    pub ascending: bool,
}

/// A row's sort value, as a page read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkValue {
    Text(String),
    Time(DateTime<Utc>),
    Id(Uuid),
}

impl From<String> for MarkValue {
    fn from(v: String) -> Self {
        MarkValue::Text(v)
    }
}

impl From<DateTime<Utc>> for MarkValue {
    fn from(v: DateTime<Utc>) -> Self {
        MarkValue::Time(v)
    }
}

impl From<Uuid> for MarkValue {
    fn from(v: Uuid) -> Self {
        MarkValue::Id(v)
    }
}

impl MarkValue {
    fn of(&self) -> SortType {
        match self {
            MarkValue::Text(_) => SortType::Text,
            MarkValue::Time(_) => SortType::Time,
            MarkValue::Id(_) => SortType::Id,
        }
    }

    fn into_value(self) -> Value {
        match self {
            MarkValue::Text(v) => v.into(),
            MarkValue::Time(v) => v.into(),
            MarkValue::Id(v) => v.into(),
        }
    }
}

/// Where a row stands in a sorted list: its sort value as the page that showed it read
/// it, and its key. The cursor after a row is its mark, so the next page starts where
/// this one ended even when the row has changed (a key used again, renamed, revoked)
/// or is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub value: Option<MarkValue>,
    pub id: Uuid,
}

/// Longest cursor read; checked before any decoding.
const MAX_CURSOR: usize = 1024;

impl Mark {
    /// The cursor after this row in the order named `order`: opaque to clients, which
    /// hand it back as it came.
    pub fn cursor(&self, order: &str) -> String {
        use base64::Engine;
        let value = match &self.value {
            None => "-".to_owned(),
            Some(MarkValue::Text(v)) => format!("s{v}"),
            Some(MarkValue::Time(v)) => {
                format!(
                    "t{}",
                    v.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
                )
            }
            Some(MarkValue::Id(v)) => format!("i{v}"),
        };
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(format!("{order}\n{}\n{value}", self.id))
    }

    /// Reads a cursor that [`Mark::cursor`] made for `order` and a value of type `of`;
    /// anything else (another order's cursor, a forged or cut one) is refused, naming
    /// `field`.
    pub fn read(field: &str, cursor: &str, order: &str, of: SortType) -> AppResult<Mark> {
        use base64::Engine;
        let invalid = || AppError::invalid(field, "is not a cursor of this list");
        if cursor.len() > MAX_CURSOR {
            return Err(invalid());
        }
        let text = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(cursor)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(invalid)?;
        let mut parts = text.splitn(3, '\n');
        let (Some(made_for), Some(id), Some(value)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid());
        };
        if made_for != order {
            return Err(AppError::invalid(
                field,
                "belongs to another order of this list; start again from the first page",
            ));
        }
        let id = Uuid::parse_str(id).map_err(|_| invalid())?;
        let value = match value.split_at_checked(1) {
            Some(("-", "")) => None,
            Some(("s", v)) => Some(MarkValue::Text(v.to_owned())),
            Some(("t", v)) => Some(MarkValue::Time(
                DateTime::parse_from_rfc3339(v)
                    .map_err(|_| invalid())?
                    .with_timezone(&Utc),
            )),
            Some(("i", v)) => Some(MarkValue::Id(Uuid::parse_str(v).map_err(|_| invalid())?)),
            _ => return Err(invalid()),
        };
        if value.as_ref().is_some_and(|v| v.of() != of) {
            return Err(invalid());
        }
        Ok(Mark { value, id })
    }
}

/// A row read with its sort value beside it (as `sort_v`), so that its mark is what
/// placed it in the page.
struct Valued<M, V> {
    model: M,
    value: Option<V>,
}

impl<M: FromQueryResult, V: TryGetable> FromQueryResult for Valued<M, V> {
    fn from_query_result(res: &QueryResult, pre: &str) -> Result<Self, DbErr> {
        Ok(Valued {
            model: M::from_query_result(res, pre)?,
            value: res.try_get(pre, "sort_v")?,
        })
    }
}

/// The rows of `query` with the mark of each, its value read as `V`.
async fn valued<E, C, V>(
    db: &C,
    query: Select<E>,
    key: impl Fn(&E::Model) -> Uuid,
) -> AppResult<Vec<(E::Model, Mark)>>
where
    E: EntityTrait,
    E::Model: FromQueryResult + Send + Sync,
    C: ConnectionTrait,
    V: TryGetable + Into<MarkValue> + Send + Sync,
{
    let rows = query.into_model::<Valued<E::Model, V>>().all(db).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let id = key(&r.model);
            let value = r.value.map(Into::into);
            (r.model, Mark { value, id })
        })
        .collect())
}

/// The page of `query` in `sort` order after the row marked `after`, each row with its
/// mark. The mark carries the value the row had when its page was read, so a row that
/// changed or went since moves nothing: no row repeats and none is skipped because of
/// it. A mark is only a place in the order, compared within `query`'s own filters, so a
/// forged one shows nothing `query` would not.
pub async fn sorted_page<E, C>(
    db: &C,
    query: Select<E>,
    key: E::Column,
    key_of: impl Fn(&E::Model) -> Uuid,
    sort: SortBy,
    first: u64,
    after: Option<Mark>,
) -> AppResult<Page<(E::Model, Mark)>>
where
    E: EntityTrait,
    E::Model: FromQueryResult + Send + Sync,
    C: ConnectionTrait,
{
    let first = first.clamp(1, MAX_PAGE);
    let total = count(db, &query, key).await?;
    let SortBy {
        value,
        of,
        ascending,
    } = sort;
    let mut page = query;
    if let Some(after) = after {
        let older = Expr::col(key).lt(Value::from(after.id));
        let missing = value.clone().is_null();
        page = page.filter(match after.value {
            Some(at) => {
                let at = at.into_value();
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
    let page = page
        .column_as(value.clone(), "sort_v")
        .order_by(value.clone().is_null(), Order::Asc)
        .order_by(value, if ascending { Order::Asc } else { Order::Desc })
        .order_by_desc(key)
        .limit(first + 1);
    let items = match of {
        SortType::Text => valued::<E, C, String>(db, page, key_of).await?,
        SortType::Time => valued::<E, C, DateTime<Utc>>(db, page, key_of).await?,
        SortType::Id => valued::<E, C, Uuid>(db, page, key_of).await?,
    };
    Ok(Page::of(items, first, total))
}
