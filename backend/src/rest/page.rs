//! Cursor pages of the REST surface: `?limit&cursor` in, `{"items": [...],
//! "next_cursor": "…" | null}` out.

use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::{
    domain::{ids::parse_id, paging::Page},
    error::{AppError, AppResult},
};

/// A page's place.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Items per page, 1–100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u64>,
    /// The `next_cursor` of the page before.
    #[param(value_type = Option<uuid::Uuid>)]
    pub cursor: Option<String>,
}

impl PageQuery {
    pub fn read(&self) -> AppResult<(u64, Option<Uuid>)> {
        let limit = self.limit.unwrap_or(50);
        if !(1..=100).contains(&limit) {
            return Err(AppError::invalid("limit", "must be between 1 and 100"));
        }
        let cursor = self
            .cursor
            .as_deref()
            .map(|c| parse_id("cursor", c))
            .transpose()?;
        Ok((limit, cursor))
    }
}

/// A domain page as REST answers it: the items rendered, and the cursor of the next.
pub fn page_of<T, U>(
    page: Page<T>,
    id: impl Fn(&T) -> Uuid,
    out: impl Fn(T) -> AppResult<U>,
) -> AppResult<(Vec<U>, Option<String>)> {
    let next = if page.has_next {
        page.items.last().map(|i| id(i).to_string())
    } else {
        None
    };
    let items = page.items.into_iter().map(out).collect::<AppResult<_>>()?;
    Ok((items, next))
}
