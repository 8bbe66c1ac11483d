//! Token parsing: the server's format check and the CLI's offline check never panic,
//! and the CLI never calls mistyped a token the server accepts.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let format = backend::token::TokenFormat::new("kw").expect("a valid prefix");
    let parsed = format.parse(raw);
    let offline = keyward_cli::token::check(raw);
    if parsed.is_ok() {
        assert!(
            offline.is_ok(),
            "the CLI refuses a token the server accepts: {raw:?}"
        );
    }
    let _ = backend::token::TokenHash::from_hex(raw);
});
