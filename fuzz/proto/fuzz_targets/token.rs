//! Token parsing: the format check (the server's) and the shape check (the CLI's) never panic,
//! and the CLI never calls mistyped a token the server accepts.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let format = keyward_proto::token::TokenFormat::new("kw").expect("a valid prefix");
    let parsed = format.parse(raw);
    let offline = keyward_proto::token::check_shape(raw);
    if parsed.is_ok() {
        assert!(
            offline.is_ok(),
            "the CLI refuses a token the server accepts: {raw:?}"
        );
    }
    let _ = keyward_proto::token::TokenHash::from_hex(raw);
});
