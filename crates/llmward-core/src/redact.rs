//! The one redaction rule, used for every upstream string that can reach a caller.
//!
//! A secret (an API key, or any credential llmward holds) is **found** in a text when the text
//! contains, byte for byte:
//!
//! 1. the whole secret;
//! 2. any run of [`MIN_RUN`] (8) or more consecutive characters of its *secret part*: the
//!    secret after its public prefix ([`PUBLIC_PREFIXES`]: `sk-proj-`, `sk-ant-api03-`, `AIza`,
//!    …; a secret with no known prefix is all secret part); or
//! 3. a masked form as providers print it: a mask (one or more `*`, `•` or `…`, or two or more
//!    `.`) followed by the secret's last [`MASK_TAIL`] (4) characters, together with whatever
//!    start of the secret stands right before the mask (`sk-…abcd`, `sk-proj-****abcd`).
//!
//! [`redact`] replaces each such span with `[REDACTED]` and changes nothing else: the public
//! prefix alone, numbers and ordinary words are never cut out of a provider's message. The same
//! finder decides whether an [`identifier`] is kept and is what the test suites' canary audits
//! use ([`contains_secret`]). With random keys the rule cannot misfire in practice: a given run
//! of 8 characters from a 62-letter alphabet turns up by chance once in about 2×10¹⁴ positions.

use std::ops::Range;

use memchr::memmem;

use crate::ApiKey;

/// What a redacted span becomes.
pub const REDACTED: &str = "[REDACTED]";

/// Messages are cut after this many characters, after redaction (a `[REDACTED]` marker at the
/// cut is kept whole).
pub const MAX_MESSAGE_CHARS: usize = 512;

/// The shortest run of a secret's secret part that counts as the secret.
pub const MIN_RUN: usize = 8;

/// How many trailing characters of a secret a masked form shows.
pub const MASK_TAIL: usize = 4;

/// Public prefixes of well-known key formats, longest first among those sharing a start. They
/// say which provider a key is for and are printed in documentation: a run of them is not a
/// secret.
pub const PUBLIC_PREFIXES: &[&str] = &[
    "sk-ant-api03-",
    "sk-ant-admin01-",
    "sk-ant-",
    "sk-proj-",
    "sk-svcacct-",
    "sk-admin-",
    "sk-or-v1-",
    "sk-",
    "AIza",
    "xai-",
    "gsk_",
    "ya29.",
];

// Longer input is cut before scanning so redaction stays linear and cheap.
const MAX_SCAN_BYTES: usize = 16 * 1024;

// How much of a secret's start a masked form may show before its mask.
const MAX_MASK_LEAD: usize = 24;

/// The public prefix of `secret` (empty when it has none of [`PUBLIC_PREFIXES`]).
pub fn public_prefix(secret: &str) -> &str {
    PUBLIC_PREFIXES
        .iter()
        .find(|p| secret.len() > p.len() && secret.starts_with(*p))
        .map_or("", |p| &secret[..p.len()])
}

/// The byte ranges of `text` where `secret` is found, by the rule in the
/// [module documentation](self), merged and in order.
///
/// ```
/// use llmward_core::redact::secret_spans;
///
/// let key = "sk-proj-Q7vLm2Xc9RtB4wKe";
/// assert_eq!(secret_spans("echo: 2Xc9RtB4 end", key), vec![6..14]);
/// assert_eq!(secret_spans("key sk-proj-****4wKe", key), vec![4..20]);
/// assert!(secret_spans("a sk-proj- key, 2Xc9RtB, proj", key).is_empty());
/// ```
pub fn secret_spans(text: &str, secret: &str) -> Vec<Range<usize>> {
    let mut hide = vec![false; text.len()];
    if mark(text.as_bytes(), secret.as_bytes(), &mut hide) {
        spans(&hide)
    } else {
        Vec::new()
    }
}

/// Whether `secret` is found in `text` by the rule in the [module documentation](self).
pub fn contains_secret(text: &str, secret: &str) -> bool {
    let mut hide = vec![false; text.len()];
    mark(text.as_bytes(), secret.as_bytes(), &mut hide)
}

fn spans(hide: &[bool]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < hide.len() {
        if hide[i] {
            let start = i;
            while i < hide.len() && hide[i] {
                i += 1;
            }
            out.push(start..i);
        } else {
            i += 1;
        }
    }
    out
}

/// Marks every span of `text` where `secret` is found; returns whether any was.
fn mark(text: &[u8], secret: &[u8], hide: &mut [bool]) -> bool {
    if secret.is_empty() || text.is_empty() {
        return false;
    }
    let mut found = false;
    // 1. The whole secret.
    for at in memmem::find_iter(text, secret) {
        hide[at..at + secret.len()].fill(true);
        found = true;
    }
    // 2. Runs of MIN_RUN characters of the secret part.
    let prefix_len = std::str::from_utf8(secret).map_or(0, |s| public_prefix(s).len());
    let part = &secret[prefix_len..];
    if part.len() >= MIN_RUN && text.len() >= MIN_RUN {
        // No set of the key's windows is built per call: identifiers are checked on every
        // answer, and a vectorised search per window is cheaper on short, capped texts.
        for window in part.windows(MIN_RUN) {
            for at in memmem::find_iter(text, window) {
                hide[at..at + MIN_RUN].fill(true);
                found = true;
            }
        }
    }
    // 3. Masked forms: a mask, then the last MASK_TAIL characters.
    if secret.len() >= 2 * MASK_TAIL {
        let tail = &secret[secret.len() - MASK_TAIL..];
        for at in memmem::find_iter(text, tail) {
            if let Some(start) = masked_start(text, at, secret) {
                hide[start..at + MASK_TAIL].fill(true);
                found = true;
            }
        }
    }
    found
}

/// Where a masked form ending in the tail at `at` starts: the mask before `at`, and the start
/// of `secret` right before the mask. `None` when no mask stands before `at`.
fn masked_start(text: &[u8], at: usize, secret: &[u8]) -> Option<usize> {
    let mut i = at;
    let (mut strong, mut dots) = (false, 0usize);
    loop {
        if i >= 1 && text[i - 1] == b'*' {
            strong = true;
            i -= 1;
        } else if i >= 1 && text[i - 1] == b'.' {
            dots += 1;
            i -= 1;
        } else if i >= 3 && (text[i - 3..i] == *"…".as_bytes() || text[i - 3..i] == *"•".as_bytes())
        {
            strong = true;
            i -= 3;
        } else {
            break;
        }
    }
    if !strong && dots < 2 {
        return None;
    }
    let lead = (1..=MAX_MASK_LEAD.min(i).min(secret.len() - MASK_TAIL))
        .rev()
        .find(|&n| text[i - n..i] == secret[..n])
        .unwrap_or(0);
    Some(i - lead)
}

/// Whether `text`, a value a caller gave where a name belongs (an environment variable name,
/// a file path component), looks like a secret typed into the wrong argument: it starts with
/// a [public prefix](PUBLIC_PREFIXES) followed by more, or it is 16 characters or longer and
/// mixes capitals, small letters and digits, as random keys do and names seldom do.
pub fn looks_like_secret(text: &str) -> bool {
    let prefixed = PUBLIC_PREFIXES
        .iter()
        .any(|p| text.len() > p.len() + 3 && text.starts_with(p));
    let mixed = text.len() >= 16
        && text.bytes().any(|b| b.is_ascii_uppercase())
        && text.bytes().any(|b| b.is_ascii_lowercase())
        && text.bytes().any(|b| b.is_ascii_digit());
    prefixed || mixed
}

/// How a caller-given environment variable name is shown in an error: as given when it is
/// shaped like a variable name, else a phrase saying why not (the caller may have typed a key
/// where its variable's name belongs, and errors never show keys).
pub fn shown_var_name(name: &str) -> String {
    let name_shaped = !name.is_empty()
        && name.len() <= 128
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if name_shaped && !looks_like_secret(name) {
        name.to_owned()
    } else {
        "(the value given as a variable name looks like an API key, not a variable name)".to_owned()
    }
}

/// How a caller-given file path is shown in an error: as given, unless a component of it
/// [looks like a secret](looks_like_secret) (a key typed where its file's path belongs).
pub fn shown_path(path: &std::path::Path) -> String {
    let secret = path
        .components()
        .any(|c| looks_like_secret(&c.as_os_str().to_string_lossy()));
    if secret {
        "(the value given as a file path looks like an API key, not a path)".to_owned()
    } else {
        path.display().to_string()
    }
}

/// Redacts `message` against `key` by the rule in the [module documentation](self): every
/// span where the key is found becomes `[REDACTED]`, nothing else changes, and the result is
/// cut to 512 characters.
///
/// ```
/// use llmward_core::{redact::redact, ApiKey};
///
/// let key = ApiKey::new("sk-proj-abcdefghijklmnop".into())?;
/// let out = redact("Incorrect API key provided: sk-proj-****mnop. See docs.", Some(&key));
/// assert_eq!(out, "Incorrect API key provided: [REDACTED]. See docs.");
/// # Ok::<(), llmward_core::Error>(())
/// ```
pub fn redact(message: &str, key: Option<&ApiKey>) -> String {
    let mut end = message.len().min(MAX_SCAN_BYTES);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    let text = &message[..end];
    let Some(key) = key else {
        return truncate_chars(text.to_owned(), MAX_MESSAGE_CHARS);
    };
    let secret = key.expose();
    let mut hide = vec![false; text.len()];
    if !mark(text.as_bytes(), secret.as_bytes(), &mut hide) {
        return truncate_chars(text.to_owned(), MAX_MESSAGE_CHARS);
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for span in spans(&hide) {
        // Spans start and end on ASCII bytes or whole mask characters: char boundaries.
        out.push_str(&text[last..span.start]);
        out.push_str(REDACTED);
        last = span.end;
    }
    out.push_str(&text[last..]);
    // A secret that contains the marker could reappear across a marker's edge: refuse it all.
    if contains_secret(&out, secret) {
        return REDACTED.to_owned();
    }
    truncate_chars(out, MAX_MESSAGE_CHARS)
}

/// Keeps an identifier a provider sent (a request id, a response id, a model name) only when
/// `key` is not found in it by the rule in the [module documentation](self), it holds no
/// control characters and is at most 256 bytes.
pub fn identifier(value: Option<String>, key: Option<&ApiKey>) -> Option<String> {
    let value = value?;
    let bytes = value.as_bytes();
    if bytes.len() > 256 || bytes.iter().any(|b| b.is_ascii_control()) {
        return None;
    }
    if key.is_some_and(|key| contains_secret(&value, key.expose())) {
        return None;
    }
    Some(value)
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

    fn key(k: &str) -> ApiKey {
        ApiKey::new(k.to_owned()).unwrap()
    }

    #[test]
    fn runs_whole_keys_and_masked_forms_are_hidden() {
        let k = key("sk-proj-Q7vLm2Xc9RtB4wKe");
        for (input, expected) in [
            ("bad key sk-proj-Q7vLm2Xc9RtB4wKe.", "bad key [REDACTED]."),
            ("echo Lm2Xc9Rt!", "echo [REDACTED]!"),
            (
                "Incorrect key: sk-proj-****4wKe",
                "Incorrect key: [REDACTED]",
            ),
            ("Incorrect key: sk-…4wKe", "Incorrect key: [REDACTED]"),
            ("ending in ...4wKe", "ending in [REDACTED]"),
            ("shown as sk-proj-Q7vL*********4wKe", "shown as [REDACTED]"),
            (
                "two runs Q7vLm2Xc and 9RtB4wKe",
                "two runs [REDACTED] and [REDACTED]",
            ),
        ] {
            assert_eq!(redact(input, Some(&k)), expected, "{input}");
        }
    }

    /// Regression: the old 4-character rule cut ordinary words ("proj") and digits out of
    /// provider messages, and made the canary audit fail on latency figures.
    #[test]
    fn public_prefixes_numbers_and_words_are_never_cut() {
        let k = key("sk-proj-abcd9036efghijkl");
        for input in [
            "Your sk-proj- key for proj abcd is fine",
            "latency=0.000903603s and 0.000690366s",
            "model gpt-4.1-mini, 9036 tokens, efghijk",
            "see https://ai.google.dev/gemini-api/docs/rate-limits for generate_content_free_tier_input_token_count",
            "a hash 0123456789abcdef0123456789abcdef01 and sk-other-key-123456",
            "ijkl alone, 1.ijkl, *ijk",
        ] {
            assert_eq!(redact(input, Some(&k)), input);
        }
        assert_eq!(redact("sk-anything-at-all", None), "sk-anything-at-all");
    }

    #[test]
    fn public_prefix_is_the_longest_known_one() {
        assert_eq!(public_prefix("sk-ant-api03-xyz"), "sk-ant-api03-");
        assert_eq!(public_prefix("sk-proj-xyz"), "sk-proj-");
        assert_eq!(public_prefix("sk-xyz"), "sk-");
        assert_eq!(public_prefix("AIzaSyXYZ"), "AIza");
        assert_eq!(public_prefix("0123abcd"), "");
        assert_eq!(public_prefix("sk-"), "");
    }

    #[test]
    fn identifiers_that_echo_the_key_are_dropped() {
        let k = key("sk-proj-QWxyZ8mNvT3kLp9R");
        let id = |v: &str| identifier(Some(v.to_owned()), Some(&k));
        for kept in [
            "req_0123456789abcdef0123456789abcdef",
            "gpt-4.1-mini",
            "task-7b-instruct",
            "sk-proj-other",
            "req-vT3kLp9",
        ] {
            assert_eq!(id(kept).as_deref(), Some(kept));
        }
        assert_eq!(id("sk-proj-QWxyZ8mNvT3kLp9R"), None);
        assert_eq!(id("req-NvT3kLp9R"), None);
        assert_eq!(id("sk-proj-***Lp9R"), None);
        assert_eq!(id("a\nb"), None);
        assert_eq!(id(&"x".repeat(257)), None);
        assert_eq!(identifier(None, Some(&k)), None);
    }

    #[test]
    fn names_and_paths_that_look_like_keys_are_not_shown() {
        assert_eq!(shown_var_name("OPENAI_API_KEY"), "OPENAI_API_KEY");
        assert_eq!(
            shown_var_name("OPENAI_API_KEY_2026_PROD"),
            "OPENAI_API_KEY_2026_PROD"
        );
        for key in [
            "sk-proj-Q7vLm2Xc9RtB4wKe",
            "AIzaSyQ7vLm2Xc9RtB4wKe",
            "gsk_Q7vLm2Xc9Rt",
            "Q7vLm2Xc9RtB4wKeZZ",
        ] {
            let shown = shown_var_name(key);
            assert!(!shown.contains(&key[key.len() - 8..]), "{shown}");
            let shown = shown_path(std::path::Path::new(&format!("/etc/{key}")));
            assert!(!shown.contains(&key[key.len() - 8..]), "{shown}");
        }
        assert_eq!(
            shown_path(std::path::Path::new("/run/secrets/openai.key")),
            "/run/secrets/openai.key"
        );
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
        let k = key("sk-123456789abc");
        for pad in 0..12 {
            let message = format!(
                "{}{}",
                "x ".repeat(253) + &"y".repeat(pad),
                " sk-123456789abc tail"
            );
            let out = redact(&message, Some(&k));
            let open = out.matches('[').count();
            assert_eq!(open, out.matches(REDACTED).count(), "{out}");
        }
    }

    /// A key that contains the marker could reappear across a marker's edge; the whole
    /// message then becomes one marker.
    #[test]
    fn a_key_that_contains_the_marker_leaves_only_a_marker() {
        let k = key("ab[REDACTED]cd");
        assert_eq!(
            redact("x ab[REDACTED]cd [REDACTED]cd y", Some(&k)),
            REDACTED
        );
    }

    #[test]
    fn multibyte_text_next_to_secrets() {
        let k = key("zzzzQQQQww");
        let out = redact("ééé zzzzQQQQ ✓ …Qww ✓ •QQww", Some(&k));
        assert_eq!(out, "ééé [REDACTED] ✓ …Qww ✓ [REDACTED]");
    }

    // --- property test -------------------------------------------------------------------

    /// splitmix64: a tiny deterministic generator, so a failing case replays from its seed.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len())]
        }
    }

    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

    // Independent of the implementation: the rule as stated, checked naively.
    fn naive_found(text: &str, secret: &str) -> bool {
        let part = &secret[public_prefix(secret).len()..];
        let tail = &secret[secret.len().saturating_sub(MASK_TAIL)..];
        text.contains(secret)
            || (part.len() >= MIN_RUN
                && (0..=part.len() - MIN_RUN).any(|i| text.contains(&part[i..i + MIN_RUN])))
            || (secret.len() >= 2 * MASK_TAIL
                && ["*", "•", "…", ".."]
                    .iter()
                    .any(|mask| text.contains(&format!("{mask}{tail}"))))
    }

    fn survives_a_run(text: &str, secret: &str) -> bool {
        let part = &secret[public_prefix(secret).len()..];
        text.contains(secret)
            || (part.len() >= MIN_RUN
                && (0..=part.len() - MIN_RUN).any(|i| text.contains(&part[i..i + MIN_RUN])))
    }

    fn seed() -> u64 {
        let seed = std::env::var("LLMWARD_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x11_3a_7e_5d);
        eprintln!("redaction property seed: {seed} (set LLMWARD_TEST_SEED to replay)");
        seed
    }

    /// For any text in which the key is not found, redaction returns it unchanged; for any
    /// text in which it is, no run of 8 of its secret part (nor the whole key) survives.
    #[test]
    fn redaction_changes_exactly_the_found_spans() {
        let mut rng = Rng(seed());
        let (mut clean, mut dirty) = (0, 0);
        for case in 0..20_000 {
            let prefix = rng.pick(&["", "sk-", "sk-proj-", "sk-ant-api03-", "AIza", "xai-"]);
            let len = 4 + rng.below(40);
            let secret: String = (0..len)
                .map(|_| char::from(ALNUM[rng.below(ALNUM.len())]))
                .collect();
            let full = format!("{prefix}{secret}");
            let k = key(&full);
            let mut text = String::new();
            for _ in 0..rng.below(12) {
                let piece = match rng.below(9) {
                    0 => rng.pick(&[" ", ", ", ". ", "\n", "é", "✓ "]).to_owned(),
                    1 => rng
                        .pick(&["proj", "key", "sk-", "sk-proj-", "1234", "*", "…", "..."])
                        .to_owned(),
                    2 => {
                        // A fragment of the secret part shorter than a run.
                        let n = 1 + rng.below(MIN_RUN - 1).min(secret.len() - 1);
                        let at = rng.below(secret.len() - n + 1);
                        secret[at..at + n].to_owned()
                    }
                    3 => full[full.len() - MASK_TAIL.min(full.len())..].to_owned(),
                    4 => format!("{:.9}", rng.next() as f64 / u64::MAX as f64),
                    5 if rng.below(6) == 0 => full.clone(),
                    6 if rng.below(4) == 0 && secret.len() >= MIN_RUN => {
                        let n = MIN_RUN + rng.below(secret.len() - MIN_RUN + 1);
                        let at = rng.below(secret.len() - n + 1);
                        secret[at..at + n].to_owned()
                    }
                    7 if rng.below(4) == 0 => format!(
                        "{}{}{}",
                        rng.pick(&["", "sk-", prefix]),
                        rng.pick(&["****", "…", "•••", "..."]),
                        &full[full.len() - MASK_TAIL..]
                    ),
                    _ => (0..1 + rng.below(10))
                        .map(|_| char::from(ALNUM[rng.below(ALNUM.len())]))
                        .collect(),
                };
                text.push_str(&piece);
            }
            if text.chars().count() > MAX_MESSAGE_CHARS {
                continue;
            }
            let out = redact(&text, Some(&k));
            if naive_found(&text, &full) {
                dirty += 1;
                assert!(
                    !survives_a_run(&out, &full),
                    "case {case}: {full:?} in {out:?}"
                );
                assert!(
                    !naive_found(&out, &full),
                    "case {case}: {full:?} in {out:?}"
                );
            } else {
                clean += 1;
                assert_eq!(out, text, "case {case}: key {full:?}");
            }
        }
        // Both sides of the property were exercised many times.
        assert!(
            clean > 5_000 && dirty > 2_000,
            "clean {clean}, dirty {dirty}"
        );
    }
}
