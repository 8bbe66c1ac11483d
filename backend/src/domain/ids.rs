//! Parsing of ids that arrive from callers.

use uuid::Uuid;

use crate::error::{AppError, AppResult};

/// Parses an id given in field `field`; a malformed id is an input error naming the field.
pub fn parse_id(field: &str, raw: &str) -> AppResult<Uuid> {
    Uuid::parse_str(raw.trim()).map_err(|_| AppError::invalid(field, "is not a valid id"))
}

/// A new time-ordered id: newer ids sort after older ones, which cursor pagination uses.
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}
