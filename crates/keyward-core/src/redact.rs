//! Redaction of provider messages before they enter an [`Error`](crate::Error).

use std::collections::HashSet;

use crate::ApiKey;

/// What a redacted span becomes.
pub const REDACTED: &str = "[REDACTED]";

/// Messages are cut after this many characters, after redaction (a `[REDACTED]` marker at the
/// cut is kept whole).
pub const MAX_MESSAGE_CHARS: usize = 512;

// Longer input is cut before scanning so redaction stays linear and cheap.
const MAX_SCAN_BYTES: usize = 16 * 1024;

// Runs of these characters this long look like tokens, hashes or base64 secrets.
const LONG_RUN: usize = 32;

const KEY_PREFIXES: [&str; 7] = ["sk-", "AIza", "xai-", "gsk_", "Bearer ", "bearer ", "ya29."];

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'*' | b'+' | b'/' | b'=')
}

/// Redacts `message`: key-shaped strings (`sk-…`, `sk-ant-…`, `sk-proj-…`, `AIza…`, `xai-…`,
/// `gsk_…`, `Bearer …`, runs of 32 or more token characters mixing letters and digits) and every run of more than 3
/// characters of `key` become `[REDACTED]`; the result is cut to 512 characters.
///
/// ```
/// use keyward_core::{redact::redact, ApiKey};
///
/// let key = ApiKey::new("sk-proj-abcdefghijklmnop".into())?;
/// let out = redact("Incorrect API key provided: sk-proj-****mnop. See docs.", Some(&key));
/// assert_eq!(out, "Incorrect API key provided: [REDACTED]. See docs.");
/// # Ok::<(), keyward_core::Error>(())
/// ```
pub fn redact(message: &str, key: Option<&ApiKey>) -> String {
    let mut end = message.len().min(MAX_SCAN_BYTES);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    let text = &message[..end];
    let bytes = text.as_bytes();
    let mut hide = vec![false; bytes.len()];

    mark_key_shapes(bytes, &mut hide);
    if let Some(key) = key {
        mark_key_runs(bytes, key.expose().as_bytes(), &mut hide);
    }

    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        if hide[i] {
            while i < bytes.len() && hide[i] {
                i += 1;
            }
            out.push_str(REDACTED);
        } else {
            let start = i;
            while i < bytes.len() && !hide[i] {
                i += 1;
            }
            // Spans start and end on ASCII bytes, so they are char boundaries.
            out.push_str(&text[start..i]);
        }
    }
    truncate_chars(out, MAX_MESSAGE_CHARS)
}

/// The key prefix starting at `i`, when `i` begins a token (so `task-7b` holds no `sk-`).
fn key_prefix_at(bytes: &[u8], i: usize) -> Option<&'static str> {
    if i > 0 && is_token_char(bytes[i - 1]) {
        return None;
    }
    KEY_PREFIXES
        .iter()
        .find(|p| bytes[i..].starts_with(p.as_bytes()))
        .copied()
}

fn mark_key_shapes(bytes: &[u8], hide: &mut [bool]) {
    let mut i = 0;
    while i < bytes.len() {
        let at_boundary = i == 0 || !is_token_char(bytes[i - 1]);
        if at_boundary {
            if let Some(prefix) = key_prefix_at(bytes, i) {
                let mut j = i + prefix.len();
                j = token_end(bytes, j);
                // A bare prefix ("Bearer " before a word, "sk-" alone) is still hidden with
                // what follows; at least a few characters must follow to count as a key.
                if j >= i + prefix.len() + 3 {
                    hide[i..j].fill(true);
                    i = j;
                    continue;
                }
            }
            let j = token_end(bytes, i);
            if j - i >= LONG_RUN && looks_random(&bytes[i..j]) {
                hide[i..j].fill(true);
            }
            if j > i {
                i = j;
                continue;
            }
        }
        i += 1;
    }
}

/// Keeps an identifier a provider sent (a request id, a response id, a model name) only when
/// it cannot be carrying a secret: no key-shaped prefix, no run of more than 3 characters of
/// `key`, no control characters, at most 256 bytes. Unlike [`redact`], long random-looking
/// ids (`req_<32 hex>`) are kept: they are what request ids look like.
pub fn identifier(value: Option<String>, key: Option<&ApiKey>) -> Option<String> {
    let value = value?;
    let bytes = value.as_bytes();
    if bytes.len() > 256 || bytes.iter().any(|b| b.is_ascii_control()) {
        return None;
    }
    if (0..bytes.len()).any(|i| key_prefix_at(bytes, i).is_some()) {
        return None;
    }
    if let Some(key) = key {
        let mut hide = vec![false; bytes.len()];
        mark_key_runs(bytes, key.expose().as_bytes(), &mut hide);
        if hide.contains(&true) {
            return None;
        }
    }
    Some(value)
}

// Secrets mix digits and letters; long words, metric names and URL paths rarely do.
fn looks_random(token: &[u8]) -> bool {
    token.iter().any(u8::is_ascii_digit) && token.iter().any(u8::is_ascii_alphabetic)
}

// End of the token starting at `i`, not counting trailing dots (sentence punctuation).
fn token_end(bytes: &[u8], mut i: usize) -> usize {
    let start = i;
    while i < bytes.len() && is_token_char(bytes[i]) {
        i += 1;
    }
    while i > start && bytes[i - 1] == b'.' {
        i -= 1;
    }
    i
}

fn mark_key_runs(bytes: &[u8], key: &[u8], hide: &mut [bool]) {
    const GRAM: usize = 4;
    if key.len() < GRAM || bytes.len() < GRAM {
        return;
    }
    let grams: HashSet<&[u8]> = key.windows(GRAM).collect();
    for (i, window) in bytes.windows(GRAM).enumerate() {
        if grams.contains(window) {
            hide[i..i + GRAM].fill(true);
        }
    }
}

fn truncate_chars(mut s: String, max: usize) -> String {
    if let Some((mut cut, _)) = s.char_indices().nth(max) {
        // A marker cut in half would read as text (and could match a key containing it).
        if let Some(start) = s[..cut].rfind('[') {
            if s[start..].starts_with(REDACTED) && start + REDACTED.len() > cut {
                cut = start + REDACTED.len();
            }
        }
        if cut < s.len() {
            s.truncate(cut);
            s.push('…');
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_shapes_are_hidden() {
        for (input, expected) in [
            ("key sk-abc123def456 bad", "key [REDACTED] bad"),
            ("sk-ant-api03-xyzxyzxyz", "[REDACTED]"),
            ("use AIzaSyD-1234567890abc", "use [REDACTED]"),
            (
                "got xai-AbCdEf123 and gsk_QwErTy987",
                "got [REDACTED] and [REDACTED]",
            ),
            (
                "Authorization: Bearer eyJhbGciOi.x.y",
                "Authorization: [REDACTED]",
            ),
            (
                "hash 0123456789abcdef0123456789abcdef01 end",
                "hash [REDACTED] end",
            ),
            ("no secrets here", "no secrets here"),
            (
                "see https://ai.google.dev/gemini-api/docs/rate-limits for generate_content_free_tier_input_token_count",
                "see https://ai.google.dev/gemini-api/docs/rate-limits for generate_content_free_tier_input_token_count",
            ),
        ] {
            assert_eq!(redact(input, None), expected, "{input}");
        }
    }

    #[test]
    fn masked_echo_of_the_key_leaves_no_run_longer_than_three() {
        let key = ApiKey::new("qwertyuiopasdf1234".into()).unwrap();
        let out = redact(
            "Incorrect key: qwer****1234, also tyuiop and sdf1",
            Some(&key),
        );
        assert!(!out.contains("qwer"), "{out}");
        assert!(!out.contains("1234"), "{out}");
        assert!(!out.contains("tyuiop"), "{out}");
        assert!(!out.contains("sdf1"), "{out}");
        assert!(out.starts_with("Incorrect key: "), "{out}");
    }

    #[test]
    fn identifiers_that_echo_the_key_are_dropped() {
        let key = ApiKey::new("sk-proj-QWxyZ8mNvT3kLp9R".into()).unwrap();
        let id = |v: &str| identifier(Some(v.to_owned()), Some(&key));
        assert_eq!(
            id("req_0123456789abcdef0123456789abcdef").as_deref(),
            Some("req_0123456789abcdef0123456789abcdef")
        );
        assert_eq!(id("gpt-4.1-mini").as_deref(), Some("gpt-4.1-mini"));
        assert_eq!(id("task-7b-instruct").as_deref(), Some("task-7b-instruct"));
        assert_eq!(id("sk-proj-QWxyZ8mNvT3kLp9R"), None);
        assert_eq!(id("req-vT3kLp9R"), None);
        assert_eq!(id("Bearer xyz"), None);
        assert_eq!(id("AIzaSyXYZ"), None);
        assert_eq!(id("a\nb"), None);
        assert_eq!(identifier(None, Some(&key)), None);
    }

    #[test]
    fn long_messages_are_truncated_on_a_char_boundary() {
        let out = redact(&"é ".repeat(1000), None);
        assert_eq!(out.chars().count(), MAX_MESSAGE_CHARS + 1);
        let huge = "x ".repeat(100_000);
        assert!(redact(&huge, None).len() < 2 * MAX_MESSAGE_CHARS);
    }

    /// Regression (found by the `redact` fuzz target): truncation cut a `[REDACTED]` marker
    /// in half, leaving `[REDAC`, which a key containing "REDACTED" matches.
    #[test]
    fn a_marker_is_never_cut_by_truncation() {
        for pad in 0..12 {
            let message = format!(
                "{}{}",
                "x ".repeat(253) + &"y".repeat(pad),
                " sk-123456789 tail"
            );
            let out = redact(&message, None);
            let open = out.matches('[').count();
            assert_eq!(open, out.matches(REDACTED).count(), "{out}");
        }
    }

    #[test]
    fn multibyte_text_next_to_secrets() {
        let key = ApiKey::new("zzzzéé".replace('é', "Q")).unwrap();
        let out = redact("ééé zzzzQQ ✓ sk-123456 ✓", Some(&key));
        assert_eq!(out, "ééé [REDACTED] ✓ [REDACTED] ✓");
    }
}
