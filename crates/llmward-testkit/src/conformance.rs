//! Reader for the recorded-response conformance corpus and the expectations in its `SOURCES.md`.
//!
//! The corpus is read in place from `$LLMWARD_CONFORMANCE`, or by default from
//! `<workspace root>/../shared/conformance`.

use std::collections::BTreeMap;
use std::env;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Environment variable naming the corpus folder; when set, a missing corpus fails the test.
const ENV: &str = "LLMWARD_CONFORMANCE";

/// One `### \`provider/file\`` section of `SOURCES.md`: what the oracle parser read from that file.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// Corpus-relative path, e.g. `openai/chat_text.json`.
    pub file: String,
    /// The HTTP status the recording answered with.
    pub status: Option<u16>,
    /// The error the body carries (also set for errors inside HTTP 200 streams).
    pub error: Option<ExpectedError>,
    /// Visible text; `None` for `text=(none)`.
    pub text: Option<ExpectedText>,
    /// Reasoning/thinking text.
    pub reasoning: Option<ExpectedText>,
    /// Cohere's `tool_plan` text.
    pub tool_plan: Option<ExpectedText>,
    /// Tool calls in order.
    pub tool_calls: Vec<ExpectedToolCall>,
    /// The provider's raw finish reason (`end_turn`, `STOP`, ...).
    pub finish_raw: Option<String>,
    /// The normalized finish reason (`stop`, `length`, `tool_calls`, `content_filter`).
    pub finish: Option<String>,
    /// Raw provider token counts by the oracle's names (`input`, `output`, `reasoning`, `thoughts`, ...).
    pub usage: BTreeMap<String, u64>,
    /// Number of SSE/stream events, for streamed bodies.
    pub stream_events: Option<usize>,
    /// Absolute path of `_sidecars/<provider>/<name>.request.json`, when it exists.
    pub request_sidecar: Option<PathBuf>,
    /// Absolute path of `_sidecars/<provider>/<name>.headers.json`, when it exists.
    pub headers_sidecar: Option<PathBuf>,
    /// The entry's notes (and provenance notes), one per line.
    pub notes: String,
}

/// Expected text, possibly only a prefix of a longer text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedText {
    /// The whole text, or its first characters when `total_chars` is set.
    pub prefix: String,
    /// Total length in chars when the oracle truncated the text.
    pub total_chars: Option<usize>,
}

impl ExpectedText {
    /// Checks `actual` against the whole text, or against the prefix and the char count.
    pub fn check(&self, actual: &str) -> Result<(), String> {
        match self.total_chars {
            None if actual == self.prefix => Ok(()),
            None => Err(format!("expected text {:?}, got {actual:?}", self.prefix)),
            Some(total) => {
                if !actual.starts_with(&self.prefix) {
                    return Err(format!(
                        "expected text starting with {:?}, got {actual:?}",
                        self.prefix
                    ));
                }
                let n = actual.chars().count();
                if n == total {
                    Ok(())
                } else {
                    Err(format!("expected {total} chars, got {n}: {actual:?}"))
                }
            }
        }
    }
}

/// One expected tool call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedToolCall {
    /// Function name.
    pub name: String,
    /// Parsed arguments (compare as JSON values, not strings).
    pub arguments: Value,
    /// Call id; `None` when the provider sends none (Gemini 2.5). May be `Some("")`.
    pub id: Option<String>,
}

/// The error a recorded body carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedError {
    /// The HTTP status shown by the oracle (200 for errors inside streams).
    pub status: u16,
    /// The error type/status string; `None` when null or absent.
    pub error_type: Option<String>,
    /// The error code as JSON (string or number); `None` when null, absent or cut off.
    pub code: Option<Value>,
    /// The message, or its prefix when `message_truncated`.
    pub message: String,
    /// The oracle cut the message short; compare with `starts_with`.
    pub message_truncated: bool,
}

/// The corpus folder, if it exists (it must contain `SOURCES.md`).
///
/// `$LLMWARD_CONFORMANCE` wins (a relative value is taken from the workspace root); otherwise
/// `<workspace root>/../shared/conformance`, the workspace root being the nearest ancestor of
/// `$CARGO_MANIFEST_DIR` whose `Cargo.toml` has a `[workspace]` table.
pub fn corpus_dir() -> Option<PathBuf> {
    let dir = candidate_dir()?;
    dir.join("SOURCES.md").is_file().then_some(dir)
}

/// Like [`corpus_dir`], for tests: if the corpus is missing, panics when `$LLMWARD_CONFORMANCE`
/// is set, else prints `conformance corpus not found at ...: skipped` to stderr and returns `None`.
pub fn require_corpus() -> Option<PathBuf> {
    if let Some(dir) = corpus_dir() {
        return Some(dir);
    }
    let looked = candidate_dir().map_or_else(
        || "<no workspace root above CARGO_MANIFEST_DIR>".to_owned(),
        |d| d.display().to_string(),
    );
    if explicit_env().is_some() {
        panic!(
            "{ENV} is set but no conformance corpus was found at {looked}: the corpus is the \
             folder of recorded real provider responses with their expected parse (SOURCES.md) \
             that the project's checkout keeps beside it as ../shared/conformance; point {ENV} \
             at it, or unset {ENV} to skip these tests as a plain `cargo test` does"
        );
    }
    eprintln!(
        "conformance corpus (recorded provider responses, ../shared/conformance) not found at \
         {looked}: skipped; scripts/test and CI require it"
    );
    None
}

fn explicit_env() -> Option<OsString> {
    env::var_os(ENV).filter(|v| !v.is_empty())
}

fn candidate_dir() -> Option<PathBuf> {
    let root = workspace_root();
    match explicit_env() {
        Some(v) => {
            let p = PathBuf::from(v);
            if p.is_absolute() {
                Some(p)
            } else {
                Some(root.map_or_else(|| p.clone(), |r| r.join(&p)))
            }
        }
        None => Some(root?.parent()?.join("shared").join("conformance")),
    }
}

fn workspace_root() -> Option<PathBuf> {
    // Read at runtime so the crate under test (not the testkit) decides where the search starts.
    let start = env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    start
        .ancestors()
        .find(|dir| {
            fs::read_to_string(dir.join("Cargo.toml"))
                .is_ok_and(|toml| toml.lines().any(|l| l.trim() == "[workspace]"))
        })
        .map(Path::to_path_buf)
}

/// Reads a corpus file, e.g. `read(&corpus, "openai/chat_text.json")`; panics if it cannot.
pub fn read(corpus: &Path, file: &str) -> Vec<u8> {
    let path = corpus.join(file);
    fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The recorded response headers of `entry` (lowercase names, one pair per value), or empty
/// without a headers sidecar.
pub fn headers(entry: &Entry) -> Vec<(String, String)> {
    let Some(path) = &entry.headers_sidecar else {
        return Vec::new();
    };
    let text =
        fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let doc: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    let Some(map) = doc.get("headers").and_then(Value::as_object) else {
        panic!("{} has no \"headers\" object", path.display());
    };
    let mut out = Vec::new();
    for (name, values) in map {
        let name = name.to_ascii_lowercase();
        match values {
            Value::Array(items) => {
                for item in items {
                    let value = match item {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    out.push((name.clone(), value));
                }
            }
            Value::String(s) => out.push((name, s.clone())),
            other => out.push((name, other.to_string())),
        }
    }
    out
}

/// Every entry of `SOURCES.md`, in file order; panics naming the line it cannot parse.
pub fn entries(corpus: &Path) -> Vec<Entry> {
    let path = corpus.join("SOURCES.md");
    let text =
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    parse_sources(corpus, &text)
}

/// The entries whose file lives in `folder` (e.g. `"openai"` matches `openai/…` but not `openai_compat/…`).
pub fn entries_for(corpus: &Path, folder: &str) -> Vec<Entry> {
    let prefix = format!("{}/", folder.trim_end_matches('/'));
    entries(corpus)
        .into_iter()
        .filter(|e| e.file.starts_with(&prefix))
        .collect()
}

fn parse_sources(corpus: &Path, text: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut current: Option<Entry> = None;
    for (i, line) in text.lines().enumerate() {
        let fail = |why: &str| -> ! { panic!("SOURCES.md line {}: {why}: {line}", i + 1) };
        if let Some(rest) = line.strip_prefix("### `") {
            out.extend(current.take());
            let Some((file, annotation)) = rest.split_once('`') else {
                fail("unterminated file name in heading");
            };
            current = Some(new_entry(corpus, file, annotation));
        } else if line.starts_with('#') {
            out.extend(current.take());
        } else if let Some(entry) = current.as_mut() {
            if line.trim().is_empty() {
                continue;
            }
            let Some((key, value)) = line.strip_prefix("- ").and_then(|b| b.split_once(": "))
            else {
                fail("expected a `- Key: value` line");
            };
            let result = match key {
                "Source" => Ok(()),
                "Request" => {
                    entry.status = request_status(value);
                    Ok(())
                }
                "Parse" => parse_line(entry, value),
                "Notes" | "Provenance note" => {
                    if !entry.notes.is_empty() {
                        entry.notes.push('\n');
                    }
                    entry.notes.push_str(value);
                    Ok(())
                }
                _ => Err(format!("unknown key {key:?}")),
            };
            if let Err(why) = result {
                fail(&why);
            }
        }
    }
    out.extend(current);
    out
}

fn new_entry(corpus: &Path, file: &str, annotation: &str) -> Entry {
    let (provider, name) = file.split_once('/').unwrap_or(("", file));
    let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
    let sidecar = |kind: &str| {
        let path = corpus
            .join("_sidecars")
            .join(provider)
            .join(format!("{stem}.{kind}.json"));
        (annotation.contains(&format!("{kind} sidecar")) && path.is_file()).then_some(path)
    };
    Entry {
        file: file.to_owned(),
        status: None,
        error: None,
        text: None,
        reasoning: None,
        tool_plan: None,
        tool_calls: Vec::new(),
        finish_raw: None,
        finish: None,
        usage: BTreeMap::new(),
        stream_events: None,
        request_sidecar: sidecar("request"),
        headers_sidecar: sidecar("headers"),
        notes: String::new(),
    }
}

fn request_status(value: &str) -> Option<u16> {
    let (_, after) = value.split_once("→ HTTP ")?;
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Parses one `Parse:` value: `**error** HTTP N: {...}` or ` | `-separated `key=value` segments.
fn parse_line(entry: &mut Entry, value: &str) -> Result<(), String> {
    if let Some(rest) = value.strip_prefix("**error** HTTP ") {
        let (status, json) = rest
            .split_once(": ")
            .ok_or("expected `HTTP N: {...}` after **error**")?;
        let status = status
            .parse()
            .map_err(|_| format!("bad error status {status:?}"))?;
        entry.error = Some(parse_error(status, json)?);
        return Ok(());
    }
    let mut rest = value;
    loop {
        if let Some(r) = rest.strip_prefix("text=") {
            (entry.text, rest) = quoted_or_none(r)?;
        } else if let Some(r) = rest.strip_prefix("reasoning=") {
            (entry.reasoning, rest) = quoted_or_none(r)?;
        } else if let Some(r) = rest.strip_prefix("tool_plan=") {
            (entry.tool_plan, rest) = quoted_or_none(r)?;
        } else if let Some(r) = rest.strip_prefix("tool_calls=") {
            (entry.tool_calls, rest) = tool_calls(r)?;
        } else if let Some(r) = rest.strip_prefix("finish=") {
            let (seg, r) = segment(r);
            (entry.finish_raw, entry.finish) = finish(seg)?;
            rest = r;
        } else if let Some(r) = rest.strip_prefix("usage=") {
            let (seg, r) = segment(r);
            entry.usage = usage(seg)?;
            rest = r;
        } else {
            let (seg, r) = segment(rest);
            let n = seg
                .strip_suffix(" SSE/stream events")
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| format!("unknown segment {seg:?}"))?;
            entry.stream_events = Some(n);
            rest = r;
        }
        if rest.is_empty() {
            return Ok(());
        }
        rest = rest
            .strip_prefix(" | ")
            .ok_or_else(|| format!("expected ` | ` before {rest:?}"))?;
    }
}

/// Splits off the text up to the next ` | ` (for segments that never contain one).
fn segment(s: &str) -> (&str, &str) {
    match s.find(" | ") {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    }
}

/// Strips a trailing `… [N chars]` truncation marker, returning the prefix and N.
fn truncation(s: &str) -> Option<(&str, usize)> {
    let inner = s.strip_suffix(" chars]")?;
    let (prefix, n) = inner.rsplit_once("… [")?;
    Some((prefix, n.parse().ok()?))
}

fn quoted_or_none(s: &str) -> Result<(Option<ExpectedText>, &str), String> {
    if let Some(rest) = s.strip_prefix("(none)") {
        return Ok((None, rest));
    }
    let (text, used, closed) = json_string(s)?;
    if !closed {
        return Err(format!("unterminated string {s:?}"));
    }
    let expected = match truncation(&text) {
        Some((prefix, total)) => ExpectedText {
            prefix: prefix.to_owned(),
            total_chars: Some(total),
        },
        None => ExpectedText {
            prefix: text,
            total_chars: None,
        },
    };
    Ok((Some(expected), &s[used..]))
}

/// Decodes the JSON string literal at the start of `s` (which must begin with `"`), tolerating a
/// cut-off end. Returns the text, the bytes consumed and whether the closing quote was seen.
fn json_string(s: &str) -> Result<(String, usize, bool), String> {
    if !s.starts_with('"') {
        return Err(format!("expected a quoted string at {s:?}"));
    }
    let mut out = String::new();
    let mut chars = s.char_indices().skip(1).peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, i + 1, true)),
            '\\' => {
                let Some((_, esc)) = chars.next() else {
                    return Ok((out, s.len(), false));
                };
                match esc {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    '/' | '"' | '\\' => out.push(esc),
                    'u' => {
                        let Some(unit) = hex4(&mut chars) else {
                            return Ok((out, s.len(), false));
                        };
                        let code = if (0xD800..0xDC00).contains(&unit) {
                            // A high surrogate pairs with a following `\uDC00`-`\uDFFF` escape.
                            let mut look = chars.clone();
                            let low = match (look.next(), look.next()) {
                                (Some((_, '\\')), Some((_, 'u'))) => hex4(&mut look),
                                _ => None,
                            };
                            match low {
                                Some(low) if (0xDC00..0xE000).contains(&low) => {
                                    chars = look;
                                    0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                                }
                                _ => 0xFFFD,
                            }
                        } else {
                            unit
                        };
                        out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
                    }
                    other => return Err(format!("bad escape \\{other} in {s:?}")),
                }
            }
            _ => out.push(c),
        }
    }
    Ok((out, s.len(), false))
}

fn hex4(chars: &mut (impl Iterator<Item = (usize, char)> + Clone)) -> Option<u32> {
    let mut v = 0;
    for _ in 0..4 {
        v = v * 16 + chars.next()?.1.to_digit(16)?;
    }
    Some(v)
}

/// `none` or `name({json}) id='x'` calls separated by `; ` (`id=None` when absent).
fn tool_calls(s: &str) -> Result<(Vec<ExpectedToolCall>, &str), String> {
    if let Some(rest) = s.strip_prefix("none") {
        return Ok((Vec::new(), rest));
    }
    let mut calls = Vec::new();
    let mut rest = s;
    loop {
        let open = rest
            .find('(')
            .ok_or_else(|| format!("expected `name(` in {rest:?}"))?;
        let name = &rest[..open];
        let args_len = balanced_json_len(&rest[open + 1..])?;
        let args_text = &rest[open + 1..open + 1 + args_len];
        let arguments: Value = serde_json::from_str(args_text)
            .map_err(|e| format!("tool arguments {args_text:?} are not JSON: {e}"))?;
        rest = rest[open + 1 + args_len..]
            .strip_prefix(") id=")
            .ok_or_else(|| format!("expected `) id=` after arguments of {name}"))?;
        let id = if let Some(r) = rest.strip_prefix("None") {
            rest = r;
            None
        } else {
            let (id, r) = python_str(rest)?;
            rest = r;
            Some(id)
        };
        calls.push(ExpectedToolCall {
            name: name.to_owned(),
            arguments,
            id,
        });
        match rest.strip_prefix("; ") {
            Some(r) => rest = r,
            None => return Ok((calls, rest)),
        }
    }
}

/// Length of the JSON object/array at the start of `s`, found by bracket matching outside strings.
fn balanced_json_len(s: &str) -> Result<usize, String> {
    if !(s.starts_with('{') || s.starts_with('[')) {
        return Err(format!("expected a JSON object or array at {s:?}"));
    }
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, b) in s.bytes().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Ok(i + 1);
                }
            }
            _ => {}
        }
    }
    Err(format!("unbalanced JSON at {s:?}"))
}

/// A Python `repr` string: `'...'` or `"..."` with backslash escapes.
fn python_str(s: &str) -> Result<(String, &str), String> {
    let quote = s
        .chars()
        .next()
        .filter(|c| *c == '\'' || *c == '"')
        .ok_or_else(|| format!("expected a quoted id at {s:?}"))?;
    let mut out = String::new();
    let mut chars = s.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, other)) => out.push(other),
                None => break,
            },
            _ if c == quote => return Ok((out, &s[i + 1..])),
            _ => out.push(c),
        }
    }
    Err(format!("unterminated quoted id at {s:?}"))
}

/// `raw → normalized [comment]`; `None` on either side means absent.
fn finish(seg: &str) -> Result<(Option<String>, Option<String>), String> {
    let (raw, norm) = seg
        .split_once(" → ")
        .ok_or_else(|| format!("expected `raw → normalized` in {seg:?}"))?;
    let norm = norm.split_whitespace().next().unwrap_or_default();
    let some = |s: &str| (s != "None" && !s.is_empty()).then(|| s.to_owned());
    Ok((some(raw.trim()), some(norm)))
}

/// `(none)` or `key=N, key=N, ...`.
fn usage(seg: &str) -> Result<BTreeMap<String, u64>, String> {
    let mut out = BTreeMap::new();
    if seg == "(none)" {
        return Ok(out);
    }
    for pair in seg.split(", ") {
        let (key, n) = pair
            .rsplit_once('=')
            .ok_or_else(|| format!("expected key=N in usage, got {pair:?}"))?;
        let n = n
            .parse()
            .map_err(|_| format!("usage value {n:?} of {key} is not a number"))?;
        out.insert(key.to_owned(), n);
    }
    Ok(out)
}

/// The oracle's error summary: a JSON object with `type`, `code` and `message`, possibly cut
/// off by a trailing `… [N chars]` marker (N counts the whole summary).
fn parse_error(status: u16, text: &str) -> Result<ExpectedError, String> {
    let (body, truncated) = match truncation(text) {
        Some((prefix, _)) => (prefix, true),
        None => (text, false),
    };
    let fields = lenient_object(body, truncated)?;
    let mut error = ExpectedError {
        status,
        error_type: None,
        code: None,
        message: String::new(),
        message_truncated: false,
    };
    let mut has_message = false;
    for (key, value, complete) in fields {
        match key.as_str() {
            "type" if complete => error.error_type = value.as_str().map(str::to_owned),
            "code" if complete => error.code = (!value.is_null()).then_some(value),
            "message" => {
                has_message = true;
                error.message = match value {
                    Value::String(s) => s,
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                error.message_truncated = !complete;
            }
            _ => {}
        }
    }
    if !has_message {
        return Err(format!("error summary without a message: {text:?}"));
    }
    Ok(error)
}

/// Parses a flat JSON object of scalar values; with `truncated`, a value cut short is returned
/// as incomplete and a cut-off key ends the object.
fn lenient_object(s: &str, truncated: bool) -> Result<Vec<(String, Value, bool)>, String> {
    let cut = |what: &str| -> Result<Vec<(String, Value, bool)>, String> {
        Err(format!("{what} in error summary {s:?}"))
    };
    let mut fields = Vec::new();
    let Some(mut rest) = s.trim_start().strip_prefix('{') else {
        return cut("expected `{`");
    };
    loop {
        rest = rest.trim_start();
        if rest.starts_with('}') {
            return Ok(fields);
        }
        if rest.is_empty() && truncated {
            return Ok(fields);
        }
        let (key, used, closed) = json_string(rest)?;
        if !closed {
            return if truncated {
                Ok(fields)
            } else {
                cut("unterminated key")
            };
        }
        rest = rest[used..].trim_start();
        let Some(r) = rest.strip_prefix(':') else {
            return if truncated && rest.is_empty() {
                Ok(fields)
            } else {
                cut("expected `:`")
            };
        };
        rest = r.trim_start();
        if rest.starts_with('"') {
            let (value, used, closed) = json_string(rest)?;
            if !closed {
                if !truncated {
                    return cut("unterminated value");
                }
                fields.push((key, Value::String(value), false));
                return Ok(fields);
            }
            fields.push((key, Value::String(value), true));
            rest = &rest[used..];
        } else {
            let end = rest.find([',', '}']).unwrap_or(rest.len());
            let token = rest[..end].trim();
            match serde_json::from_str::<Value>(token) {
                Ok(v) if !(truncated && end == rest.len()) => fields.push((key, v, true)),
                _ if truncated && end == rest.len() => return Ok(fields),
                _ => return cut("unsupported value"),
            }
            rest = &rest[end..];
        }
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r;
        } else if rest.starts_with('}') || (rest.is_empty() && truncated) {
            return Ok(fields);
        } else {
            return cut("expected `,` or `}`");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find<'a>(entries: &'a [Entry], file: &str) -> &'a Entry {
        entries
            .iter()
            .find(|e| e.file == file)
            .unwrap_or_else(|| panic!("no entry for {file}"))
    }

    #[test]
    fn json_strings_decode_escapes_and_truncation() {
        let (s, used, closed) = json_string(r#""a\"b\\c\nd\u00e9\ud83d\ude0a" rest"#).unwrap();
        assert_eq!((s.as_str(), used, closed), ("a\"b\\c\nd\u{e9}😊", 30, true));
        let (s, _, closed) = json_string(r#""cut \"here"#).unwrap();
        assert_eq!((s.as_str(), closed), ("cut \"here", false));
        let (t, rest) = quoted_or_none(r#""x | y… [12 chars]" | tool_calls=none"#).unwrap();
        let t = t.unwrap();
        assert_eq!((t.prefix.as_str(), t.total_chars), ("x | y", Some(12)));
        assert_eq!(rest, " | tool_calls=none");
        assert!(t.check("x | y1234567").is_ok());
        assert!(t.check("x | y123456").is_err());
        assert!(t.check("z | y1234567").is_err());
    }

    #[test]
    fn error_summaries() {
        let e = parse_error(
            200,
            r#"{"message": "done", "type": "invalid_request_error", "co… [418 chars]"#,
        )
        .unwrap();
        assert_eq!(e.message, "done");
        assert!(!e.message_truncated);
        assert_eq!(e.error_type.as_deref(), Some("invalid_request_error"));
        assert_eq!(e.code, None);
        let e = parse_error(
            429,
            r#"{"type": null, "code": 429, "message": "cut he… [99 chars]"#,
        )
        .unwrap();
        assert_eq!((e.message.as_str(), e.message_truncated), ("cut he", true));
        assert_eq!((e.error_type, e.code), (None, Some(Value::from(429))));
    }

    #[test]
    fn parses_the_whole_corpus() {
        let Some(corpus) = require_corpus() else {
            return;
        };
        let all = entries(&corpus);
        let sources = fs::read_to_string(corpus.join("SOURCES.md")).unwrap();
        assert_eq!(all.len(), sources.matches("\n### `").count());
        for folder in [
            "openai",
            "azure",
            "openai_compat",
            "deepseek",
            "groq",
            "mistral",
            "ollama",
            "openrouter",
            "xai",
            "anthropic",
            "gemini",
            "openai_responses",
            "cohere",
            "bedrock",
        ] {
            let some = entries_for(&corpus, folder);
            assert!(!some.is_empty(), "no entries for {folder}");
            for e in &some {
                assert!(corpus.join(&e.file).is_file(), "{} missing", e.file);
                assert!(e.status.is_some(), "{} has no status", e.file);
                assert!(
                    e.error.is_some()
                        || e.finish.is_some()
                        || e.finish_raw.is_some()
                        || e.text.is_some(),
                    "{} parsed to nothing",
                    e.file
                );
            }
        }

        let e = find(&all, "openai/chat_text.json");
        assert_eq!(e.status, Some(200));
        e.text.as_ref().unwrap().check("4").unwrap();
        assert_eq!(
            (e.finish_raw.as_deref(), e.finish.as_deref()),
            (Some("stop"), Some("stop"))
        );
        assert_eq!(e.usage["input"], 13);
        assert_eq!(e.usage["output"], 138);
        assert_eq!(e.usage["reasoning"], 128);
        assert!(e.request_sidecar.as_ref().unwrap().is_file());
        let h = headers(e);
        assert!(
            h.iter()
                .any(|(n, v)| n == "x-ratelimit-reset-requests" && v == "12ms")
        );
        assert!(h.iter().all(|(n, _)| *n == n.to_ascii_lowercase()));

        let e = find(&all, "anthropic/thinking.json");
        assert_eq!(e.reasoning.as_ref().unwrap().total_chars, Some(2117));
        assert_eq!(e.usage["thinking"], 456);
        let body: Value = serde_json::from_slice(&read(&corpus, &e.file)).unwrap();
        for block in body["content"].as_array().unwrap() {
            match block["type"].as_str() {
                Some("thinking") => e
                    .reasoning
                    .as_ref()
                    .unwrap()
                    .check(block["thinking"].as_str().unwrap())
                    .unwrap(),
                Some("text") => e
                    .text
                    .as_ref()
                    .unwrap()
                    .check(block["text"].as_str().unwrap())
                    .unwrap(),
                _ => {}
            }
        }

        let e = find(&all, "openai/chat_parallel_tool_calls.json");
        assert_eq!(e.tool_calls.len(), 2);
        assert_eq!(e.tool_calls[0].name, "weather");
        assert_eq!(
            e.tool_calls[0].id.as_deref(),
            Some("call_GOotzq3y3C45fdLNjm8SXXRo")
        );
        assert_eq!(
            e.tool_calls[0].arguments,
            serde_json::json!({"latitude": "52.5200", "longitude": "13.4050"})
        );
        assert_eq!(e.tool_calls[1].name, "best_language_to_learn");
        assert_eq!(e.tool_calls[1].arguments, serde_json::json!({}));
        assert_eq!(
            e.tool_calls[1].id.as_deref(),
            Some("call_6IvZGzhTPoSUAGUWnRx0po6X")
        );

        let e = find(&all, "openai/stream_text_include_usage.sse");
        assert_eq!(e.stream_events, Some(9));
        assert_eq!(e.text.as_ref().unwrap().prefix, "1\n2\n3");

        let e = find(&all, "openai/error_429_request_too_large_tpm.json");
        let err = e.error.as_ref().unwrap();
        assert_eq!(err.status, 429);
        assert_eq!(err.error_type.as_deref(), Some("tokens"));
        assert_eq!(err.code, Some(Value::from("rate_limit_exceeded")));
        assert!(err.message_truncated);
        let body: Value = serde_json::from_slice(&read(&corpus, &e.file)).unwrap();
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with(&err.message)
        );

        let e = find(&all, "groq/stream_midstream_error_event_http200.sse");
        assert_eq!(e.error.as_ref().unwrap().status, 200);
        assert_eq!(e.stream_events, Some(95));
        assert_eq!((e.finish_raw.as_ref(), e.finish.as_ref()), (None, None));
        assert!(e.usage.is_empty());

        let e = find(&all, "gemini/function_call.json");
        assert_eq!(e.tool_calls[0].id, None);
        assert_eq!(e.finish_raw.as_deref(), Some("STOP"));
        assert_eq!(e.finish.as_deref(), Some("tool_calls"));
        assert_eq!(e.usage["thoughts"], 106);

        let e = find(
            &all,
            "openai_compat/gemini_openai_compat_tool_call_extra_content.json",
        );
        assert_eq!(e.tool_calls[0].id.as_deref(), Some(""));

        let cohere = entries_for(&corpus, "cohere");
        assert!(cohere.iter().any(|e| e.tool_plan.is_some()));
        let deepseek = entries_for(&corpus, "deepseek");
        assert!(
            deepseek[0]
                .usage
                .contains_key("cached_input(deepseek prompt_cache_hit_tokens)")
        );
    }
}
