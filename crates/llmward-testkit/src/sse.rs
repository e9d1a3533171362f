//! Server-sent-event framing helpers for building [`Reply::sse`](crate::Reply::sse) chunks.

/// The OpenAI stream terminator event.
pub const DONE: &str = "data: [DONE]\n\n";

/// One `data:` event carrying `json` compactly: `"data: {...}\n\n"`.
pub fn data(json: &serde_json::Value) -> String {
    format!("data: {json}\n\n")
}

/// One named event: `"event: <name>\ndata: {...}\n\n"`.
pub fn event(name: &str, json: &serde_json::Value) -> String {
    format!("event: {name}\ndata: {json}\n\n")
}
