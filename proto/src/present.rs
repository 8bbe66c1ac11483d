//! How a request presents a credential: `Authorization: Bearer <token>`,
//! `Authorization: ApiKey <token>` or `X-API-Key: <token>`. The server reads requests
//! this way, and so does an SDK's middleware in front of a product's own routes, so a
//! request means the same credential to both.

use http::{HeaderMap, HeaderValue, header};

/// Headers that present no one credential: a header in none of the accepted forms, or
/// two different credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the credential headers are malformed")
    }
}

impl std::error::Error for Malformed {}

/// The credential presented in the headers, if any. A header that is present but not
/// one of the accepted forms is `MALFORMED`, and so is a request presenting two different
/// credentials (in `Authorization` and `X-API-Key`, or a header given twice): which one
/// it meant cannot be decided, so neither is used.
pub fn presented_credential(headers: &HeaderMap) -> Result<Option<String>, Malformed> {
    let authorization = headers
        .get_all(header::AUTHORIZATION)
        .into_iter()
        .map(authorization_token);
    let api_key = headers.get_all("x-api-key").into_iter().map(api_key_token);
    let mut presented: Option<String> = None;
    for token in authorization.chain(api_key) {
        let token = token?;
        match &presented {
            Some(first) if *first != token => return Err(Malformed),
            Some(_) => {}
            None => presented = Some(token),
        }
    }
    Ok(presented)
}

/// `Bearer <token>` or `ApiKey <token>`.
fn authorization_token(value: &HeaderValue) -> Result<String, Malformed> {
    let value = value.to_str().map_err(|_| Malformed)?.trim();
    let (scheme, token) = value.split_once(' ').ok_or(Malformed)?;
    if !(scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("apikey")) {
        return Err(Malformed);
    }
    nonempty_token(token)
}

/// `X-API-Key: <token>`.
fn api_key_token(value: &HeaderValue) -> Result<String, Malformed> {
    nonempty_token(value.to_str().map_err(|_| Malformed)?)
}

/// The token trimmed; nothing is malformed.
fn nonempty_token(token: &str) -> Result<String, Malformed> {
    let token = token.trim();
    if token.is_empty() {
        return Err(Malformed);
    }
    Ok(token.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn two_different_credentials_are_refused_whichever_headers_carry_them() {
        for pairs in [
            [("authorization", "Bearer abc"), ("x-api-key", "xyz")],
            [("x-api-key", "abc"), ("authorization", "ApiKey xyz")],
            [
                ("authorization", "Bearer abc"),
                ("authorization", "Bearer xyz"),
            ],
            [("x-api-key", "abc"), ("x-api-key", "xyz")],
            // A bad second header is not skipped over either.
            [("authorization", "Bearer abc"), ("x-api-key", " ")],
        ] {
            assert_eq!(
                presented_credential(&headers(&pairs)).unwrap_err(),
                Malformed,
                "{pairs:?}"
            );
        }
        // The same credential twice is still the one credential.
        let same = headers(&[("authorization", "Bearer abc"), ("x-api-key", "abc")]);
        assert_eq!(presented_credential(&same).unwrap().as_deref(), Some("abc"));
    }

    #[test]
    fn accepts_the_three_header_forms() {
        for h in [
            headers(&[("authorization", "Bearer abc")]),
            headers(&[("authorization", "ApiKey abc")]),
            headers(&[("authorization", "apikey   abc ")]),
            headers(&[("x-api-key", "abc")]),
        ] {
            assert_eq!(presented_credential(&h).unwrap().as_deref(), Some("abc"));
        }
        assert_eq!(presented_credential(&HeaderMap::new()).unwrap(), None);
        assert_eq!(
            presented_credential(&headers(&[("authorization", "Basic abc")])).unwrap_err(),
            Malformed
        );
        assert_eq!(
            presented_credential(&headers(&[("authorization", "Bearer")])).unwrap_err(),
            Malformed
        );
    }
}
