//! The leaked-key receiver (SPEC §16): `POST /api/v1/secret-scanning`, where a secret
//! scanner (GitHub's partner programme, or any that speaks its format) reports tokens it
//! found in public. The signature is the only credential; see [`crate::domain::leaks`].

use axum::{body::Bytes, extract::State, http::HeaderMap};
use serde::Serialize;
use utoipa::ToSchema;

use super::openapi;
use crate::{
    domain::leaks::{HEADER_KEY_ID, HEADER_SIGNATURE},
    error::AppResult,
    state::AppState,
};

/// What a reported token turned out to be.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LeakLabel {
    /// A credential of this deployment: it was acted on per its organization's policy.
    TruePositive,
    /// No credential of this deployment.
    FalsePositive,
}

/// The answer about one reported token.
#[derive(Debug, Serialize, ToSchema)]
pub struct LeakVerdict {
    /// The token's SHA-256, hex: the token itself is never sent back.
    pub token_hash: String,
    /// The type the report gave.
    pub token_type: String,
    pub label: LeakLabel,
}

/// Receives a secret-scanning report.
#[utoipa::path(
    post,
    path = "/api/v1/secret-scanning",
    tag = "verification",
    summary = "Report leaked tokens (secret scanning)",
    description = "GitHub's secret-scanning partner format: a JSON array of `{token, type, \
        url, source}`, signed with ECDSA P-256 (SHA-256) over the raw body; the signature, \
        base64 DER, in `Github-Public-Key-Signature`, the key in \
        `Github-Public-Key-Identifier`, checked against the keys at \
        `KEYWARD_SECRET_SCANNING_KEYS_URL`. Each of this deployment's credentials found is \
        marked leaked, audited, announced (`api_key.leaked`) and revoked, unless its \
        organization's policy is to flag only. At most 100 tokens a report.",
    params(
        ("github-public-key-identifier" = String, Header, description = "The key that signed the report."),
        ("github-public-key-signature" = String, Header, description = "Base64 DER ECDSA signature of the body."),
    ),
    request_body(content = Vec<serde_json::Value>, content_type = "application/json",
        description = "`[{\"token\": \"…\", \"type\": \"keyward_api_key\", \"url\": \"https://…\", \"source\": \"content\"}]`"),
    responses(
        (status = 200, description = "Each token's label, in the report's order.", body = Vec<LeakVerdict>),
        (status = 400, response = openapi::InvalidInput),
        (status = 403, response = openapi::Forbidden),
        (status = 413, response = openapi::TooLarge),
    )
)]
pub async fn secret_scanning(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<axum::Json<Vec<LeakVerdict>>> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let verdicts = state
        .services
        .report_leaked_tokens(header(HEADER_KEY_ID), header(HEADER_SIGNATURE), &body)
        .await?;
    Ok(axum::Json(
        verdicts
            .into_iter()
            .map(|v| LeakVerdict {
                token_hash: v.token_hash,
                token_type: v.token_type,
                label: match v.label {
                    crate::domain::leaks::Label::TruePositive => LeakLabel::TruePositive,
                    crate::domain::leaks::Label::FalsePositive => LeakLabel::FalsePositive,
                },
            })
            .collect(),
    ))
}
