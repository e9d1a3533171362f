//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use llmward_core::{ApiKey, HttpOptions};
use llmward_gemini::Gemini;
use llmward_testkit::Upstream;
use serde_json::{Value, json};

/// A key-shaped test key.
pub const KEY: &str = "AIzaSyC9x7Q2mLp4Rk8vWn3Tb6Hj1Zd5Fg0YsE";

/// A Developer-API provider pointed at `upstream` (`{url}/v1beta`).
pub fn gemini(upstream: &Upstream) -> Gemini {
    gemini_with(upstream, HttpOptions::new())
}

/// Like [`gemini`] with transport options.
pub fn gemini_with(upstream: &Upstream, http: HttpOptions) -> Gemini {
    Gemini::builder()
        .api_key(ApiKey::new(KEY.into()).unwrap().with_label("test-key"))
        .base_url(format!("{}/v1beta", upstream.url()))
        .http(http)
        .build()
        .unwrap()
}

/// The JSON of every `data:` line of a Gemini SSE body.
pub fn sse_chunks(body: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(body)
        .split('\n')
        .map(|l| l.trim_end_matches('\r'))
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| serde_json::from_str(d.trim()).unwrap())
        .collect()
}

/// The non-streaming answer equivalent to a stream: every chunk's parts in order in one
/// candidate, the last finishReason, finishMessage and usage snapshot, the response id and
/// model version.
pub fn merge_chunks(chunks: &[Value]) -> Value {
    let mut parts = Vec::new();
    let mut candidate = json!({"index": 0});
    let mut out = json!({});
    for c in chunks {
        if let Some(first) = c.pointer("/candidates/0") {
            if let Some(p) = first.pointer("/content/parts").and_then(Value::as_array) {
                parts.extend(p.iter().cloned());
            }
            for key in ["finishReason", "finishMessage"] {
                if let Some(v) = first.get(key) {
                    candidate[key] = v.clone();
                }
            }
        }
        for key in [
            "usageMetadata",
            "responseId",
            "modelVersion",
            "promptFeedback",
        ] {
            if let Some(v) = c.get(key) {
                out[key] = v.clone();
            }
        }
    }
    candidate["content"] = json!({"role": "model", "parts": parts});
    out["candidates"] = json!([candidate]);
    out
}
