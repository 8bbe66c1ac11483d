//! The server never panics or errs internally on input: pseudo-random garbage in bodies,
//! headers and paths always gets a 4xx, and the server keeps serving.

use reqwest::header::HeaderValue;
use tests::{Db, TestApp};

db_tests!(garbage_never_gets_a_5xx);

/// A small deterministic generator, so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = (self.next() as usize) % max;
        (0..len).map(|_| self.next() as u8).collect()
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() as usize) % items.len()]
    }
}

async fn garbage_never_gets_a_5xx(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.bootstrap("ada@example.com").await;
    let mut rng = Rng(0x5eed_cafe_f00d_d00d);
    let fragments = [
        "{",
        "}",
        "\"query\"",
        ":",
        "\"key\"",
        "null",
        "[",
        "]",
        "mutation",
        "{ me { user { email } } }",
        "\"variables\"",
        "kw_sk_live_",
        "kw_pat_",
        "\\u0000",
        "9999999999999999999999",
        ",",
        "\"",
        "__schema",
        "createApiKey(input: {organizationId: \"x\", name: \"\"})",
        "ÿ",
        "\u{1F511}",
    ];
    for round in 0..200 {
        let body: Vec<u8> = if round % 2 == 0 {
            rng.bytes(512)
        } else {
            (0..(rng.next() % 12))
                .flat_map(|_| rng.pick(&fragments).as_bytes().to_vec())
                .collect()
        };
        let path = rng.pick(&[
            "/graphql",
            "/api/v1/keys/verify",
            "/api/v1/api-keys/verify",
            "/auth/logout",
            "/auth/dev",
        ]);
        let token: String = (0..(rng.next() % 80))
            .map(|_| (b' ' + (rng.next() % 95) as u8) as char)
            .collect();
        let header_value = HeaderValue::from_str(&format!(
            "{} {}",
            rng.pick(&["Bearer", "ApiKey", "Basic", ""]),
            token.trim()
        ))
        .unwrap_or(HeaderValue::from_static("Bearer x"));
        let mut req = if round % 3 == 0 {
            app.client.get(format!(
                "{}{path}?token={}",
                app.base,
                token.replace(['#', '&', ' '], "")
            ))
        } else {
            app.client.post(format!("{}{path}", app.base)).body(body)
        };
        req = match round % 4 {
            0 => req.header("authorization", header_value),
            1 => req.header(
                "x-api-key",
                HeaderValue::from_bytes(&rng.bytes(40)).unwrap_or(HeaderValue::from_static("x")),
            ),
            2 => req.bearer_auth(&admin.pat),
            _ => req.header("cookie", format!("keyward_session={token}")),
        };
        let response = req.send().await.unwrap();
        assert!(
            response.status().as_u16() < 500,
            "round {round}: {path} answered {}",
            response.status()
        );
    }
    let health = app
        .client
        .get(format!("{}/ready", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    app.finish().await;
}
