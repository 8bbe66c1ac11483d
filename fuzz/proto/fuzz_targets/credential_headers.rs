//! Credential-header extraction: any `Authorization` and `X-API-Key` bytes give a
//! credential, none, or a refusal; never a panic, and never an empty credential.
#![no_main]

use http::{HeaderMap, HeaderValue, header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut headers = HeaderMap::new();
    let mut parts = data.splitn(2, |b| *b == 0);
    if let Some(value) = parts.next().and_then(|v| HeaderValue::from_bytes(v).ok()) {
        headers.insert(header::AUTHORIZATION, value);
    }
    if let Some(value) = parts.next().and_then(|v| HeaderValue::from_bytes(v).ok()) {
        headers.insert("x-api-key", value);
    }
    if let Ok(Some(token)) = keyward_proto::present::presented_credential(&headers) {
        assert!(!token.is_empty() && token.trim() == token, "{token:?}");
    }
});
