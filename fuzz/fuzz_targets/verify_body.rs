//! The `POST /api/v1/keys/verify` body: any bytes are a checked request or an input error
//! naming a field; never a panic, and tags never carry a token.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let is_token = |word: &str| word.starts_with("kw_");
    if let Ok(body) = backend::rest::verify::parse_verify_body(
        data,
        &backend::domain::permissions::ScopeAliases::default(),
        is_token,
    ) {
        for (key, value) in body.tags.pairs() {
            assert!(!is_token(key) && !is_token(value), "{key:?}={value:?}");
        }
    }
});
