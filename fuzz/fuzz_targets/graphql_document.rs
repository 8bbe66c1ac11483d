//! GraphQL document limits: any text is measured, in time linear in its length, before
//! the parser recurses into it; a document that passes nests no deeper than the limit.
#![no_main]

use backend::graphql::{MAX_DEPTH, limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    if limits::check(query, MAX_DEPTH).is_ok() {
        assert!(limits::text_nesting(query) <= limits::MAX_NESTING);
    }
});
