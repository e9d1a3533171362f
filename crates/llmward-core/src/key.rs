//! API keys and where they come from.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, OnceLock, RwLock};

use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::{Error, Result};

/// A provider API key: held in memory that is wiped on drop, never printed.
///
/// `ApiKey` has no `Display` and no `Serialize`; its `Debug` shows only the optional
/// [label](ApiKey::with_label). The HTTP header a provider sends is built once per key and
/// marked sensitive, so HTTP tracing in the layers below never prints it.
///
/// ```
/// use llmward_core::ApiKey;
///
/// let key = ApiKey::new("sk-test-123".to_string())?.with_label("openai-prod-2026-11");
/// assert_eq!(format!("{key:?}"), r#"ApiKey { label: Some("openai-prod-2026-11"), .. }"#);
/// # Ok::<(), llmward_core::Error>(())
/// ```
pub struct ApiKey {
    secret: SecretString,
    label: Option<String>,
    bearer: OnceLock<HeaderValue>,
    plain: OnceLock<HeaderValue>,
}

impl ApiKey {
    /// Wraps `key`, refusing an empty key and any byte that cannot be sent in an HTTP header
    /// (control characters, whitespace, non-ASCII).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when the key is empty or holds such a
    /// byte. The error never shows the key.
    pub fn new(key: String) -> Result<Self> {
        let key = Zeroizing::new(key);
        validate(&key)?;
        Ok(Self {
            secret: SecretString::from(key.as_str()),
            label: None,
            bearer: OnceLock::new(),
            plain: OnceLock::new(),
        })
    }

    /// Reads the key from the environment variable `var`, and only from it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) naming the variable when it is unset,
    /// empty, not UTF-8, or holds a byte that cannot be in a header.
    pub fn from_env(var: &str) -> Result<Self> {
        // A key typed where its variable's name belongs is never echoed.
        let shown = crate::redact::shown_var_name(var);
        match std::env::var(var) {
            Ok(value) if value.is_empty() => Err(Error::config(format!(
                "environment variable {shown} is empty: set it to the API key"
            ))),
            Ok(value) => Self::new(value).map_err(|e| {
                Error::config(format!(
                    "environment variable {shown}: {}",
                    e.message().unwrap_or("invalid key")
                ))
            }),
            Err(std::env::VarError::NotPresent) => Err(Error::config(format!(
                "environment variable {shown} is not set: set it to the API key"
            ))),
            Err(std::env::VarError::NotUnicode(_)) => Err(Error::config(format!(
                "environment variable {shown} is not valid UTF-8"
            ))),
        }
    }

    /// Reads the key from the file at `path`, trimming one trailing newline.
    ///
    /// On Unix the file must not be readable or writable by group or others (mode `600` or
    /// stricter), as for SSH keys.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when the file cannot be read, is open
    /// to others (the message says how to fix it), is empty, or the key is invalid.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        // A key typed where its file's path belongs is never echoed.
        let shown = crate::redact::shown_path(path);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let meta = std::fs::metadata(path)
                .map_err(|e| Error::config(format!("cannot read key file {shown}: {e}")))?;
            let mode = meta.permissions().mode();
            if mode & 0o077 != 0 {
                return Err(Error::config(format!(
                    "key file {shown} is accessible by group or others (mode {:o}): \
                     run `chmod 600 {shown}`",
                    mode & 0o777
                )));
            }
        }
        let bytes = Zeroizing::new(
            std::fs::read(path)
                .map_err(|e| Error::config(format!("cannot read key file {shown}: {e}")))?,
        );
        let mut text: &[u8] = &bytes;
        if let Some(rest) = text.strip_suffix(b"\n") {
            text = rest.strip_suffix(b"\r").unwrap_or(rest);
        }
        if text.is_empty() {
            return Err(Error::config(format!("key file {shown} is empty")));
        }
        let text = std::str::from_utf8(text)
            .map_err(|_| Error::config(format!("key file {shown} is not valid UTF-8")))?;
        Self::new(text.to_owned()).map_err(|e| {
            Error::config(format!(
                "key file {shown}: {}",
                e.message().unwrap_or("invalid key")
            ))
        })
    }

    /// Attaches a label (e.g. `"openai-prod-2026-11"`) that events show instead of the key,
    /// so rotation can be followed. Defaults to none.
    #[must_use]
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// The caller-chosen label, if any.
    pub fn label(&self) -> Option<&str> {
        self.label.as_deref()
    }

    /// The key itself. Crate-private so that only the transport and the redactor see it.
    pub(crate) fn expose(&self) -> &str {
        self.secret.expose_secret()
    }

    /// The header value for `scheme`, built once and marked sensitive.
    ///
    /// # Errors
    ///
    /// Never in practice (the key was validated), but a key that cannot be a header is an
    /// error rather than a panic.
    pub fn header_value(&self, scheme: AuthScheme) -> Result<HeaderValue> {
        let (cell, prefix) = match scheme {
            AuthScheme::Bearer => (&self.bearer, "Bearer "),
            AuthScheme::Plain => (&self.plain, ""),
        };
        if let Some(value) = cell.get() {
            return Ok(value.clone());
        }
        let text = Zeroizing::new(format!("{prefix}{}", self.expose()));
        let mut value = HeaderValue::from_str(&text)
            .map_err(|_| Error::config("API key cannot be sent as an HTTP header"))?;
        value.set_sensitive(true);
        Ok(cell.get_or_init(|| value).clone())
    }
}

fn validate(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::config("API key is empty"));
    }
    if let Some(pos) = key.bytes().position(|b| !(0x21..=0x7e).contains(&b)) {
        return Err(Error::config(format!(
            "API key contains a whitespace, control or non-ASCII character at byte {pos}"
        )));
    }
    Ok(())
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

/// How a key is written into its header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthScheme {
    /// `Bearer <key>` (OpenAI, most compatible servers, Vertex tokens).
    Bearer,
    /// The key alone (Anthropic `x-api-key`, Gemini `x-goog-api-key`, Azure `api-key`).
    Plain,
}

/// Where a provider gets its key, asked on every request so keys can rotate at run time.
///
/// A static key ([`StaticKey`]), a key the program swaps ([`RotatingKey`]), or any closure
/// `Fn() -> Result<Arc<ApiKey>>` (see [`KeyFn`]).
pub trait KeySource: Send + Sync + fmt::Debug {
    /// The key to use for the next request.
    ///
    /// # Errors
    ///
    /// When no key can be produced; the request is then not sent.
    fn current(&self) -> Result<Arc<ApiKey>>;
}

/// A key that never changes.
#[derive(Debug, Clone)]
pub struct StaticKey(Arc<ApiKey>);

impl StaticKey {
    /// Wraps `key`.
    pub fn new(key: ApiKey) -> Self {
        Self(Arc::new(key))
    }
}

impl KeySource for StaticKey {
    fn current(&self) -> Result<Arc<ApiKey>> {
        Ok(self.0.clone())
    }
}

/// A key the program replaces at run time with [`RotatingKey::rotate`]; clones share it.
///
/// ```
/// use llmward_core::{ApiKey, KeySource, RotatingKey};
///
/// let source = RotatingKey::new(ApiKey::new("sk-old".into())?.with_label("v1"));
/// source.rotate(ApiKey::new("sk-new".into())?.with_label("v2"));
/// assert_eq!(source.current()?.label(), Some("v2"));
/// # Ok::<(), llmward_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct RotatingKey(Arc<RwLock<Arc<ApiKey>>>);

impl RotatingKey {
    /// Starts with `key`.
    pub fn new(key: ApiKey) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(key))))
    }

    /// Replaces the key; requests that start afterwards use the new one.
    pub fn rotate(&self, key: ApiKey) {
        let key = Arc::new(key);
        match self.0.write() {
            Ok(mut guard) => *guard = key,
            Err(poisoned) => *poisoned.into_inner() = key,
        }
    }
}

impl KeySource for RotatingKey {
    fn current(&self) -> Result<Arc<ApiKey>> {
        Ok(match self.0.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        })
    }
}

/// A [`KeySource`] backed by a closure (e.g. reading a secret manager's cache).
pub struct KeyFn<F>(pub F);

impl<F> fmt::Debug for KeyFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyFn(..)")
    }
}

impl<F> KeySource for KeyFn<F>
where
    F: Fn() -> Result<Arc<ApiKey>> + Send + Sync,
{
    fn current(&self) -> Result<Arc<ApiKey>> {
        (self.0)()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANARY: &str = "sk-canary-9f8e7d6c5b4a39281706";

    /// Regression: a key typed where its variable's name or its file's path belongs was put
    /// whole into the "not set" / "cannot read" message.
    #[test]
    fn a_key_given_as_a_name_or_path_is_never_echoed() {
        let key = "sk-proj-Q7vLm2Xc9RtB4wKeZ8nP";
        let err = ApiKey::from_env(key).unwrap_err();
        assert!(
            !crate::redact::contains_secret(&format!("{err} {err:?}"), key),
            "{err}"
        );
        assert!(err.to_string().contains("looks like an API key"), "{err}");
        let err = ApiKey::from_file(key).unwrap_err();
        assert!(
            !crate::redact::contains_secret(&format!("{err} {err:?}"), key),
            "{err}"
        );
        let err = ApiKey::from_env("LLMWARD_TEST_SURELY_UNSET_NAME").unwrap_err();
        assert!(
            err.to_string().contains("LLMWARD_TEST_SURELY_UNSET_NAME"),
            "{err}"
        );
    }

    #[test]
    fn debug_never_shows_the_key() {
        let key = ApiKey::new(CANARY.into()).unwrap().with_label("prod");
        let shown = format!("{key:?} {key:#?}");
        assert!(!shown.contains("canary"), "{shown}");
        let header = key.header_value(AuthScheme::Bearer).unwrap();
        assert!(header.is_sensitive());
        assert!(!format!("{header:?}").contains("canary"));
    }

    #[test]
    fn rejects_empty_and_control_characters() {
        for bad in ["", "sk-abc\n", "sk abc", "sk-\u{7f}", "sk-é", "\tsk"] {
            let err = ApiKey::new(bad.into()).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::Config, "{bad:?}");
            assert!(!err.to_string().contains("sk-"), "{err}");
        }
    }

    #[test]
    fn from_env_names_the_variable() {
        let err = ApiKey::from_env("LLMWARD_TEST_SURELY_UNSET_VAR").unwrap_err();
        assert!(err.to_string().contains("LLMWARD_TEST_SURELY_UNSET_VAR"));
    }

    #[cfg(unix)]
    #[test]
    fn from_file_trims_one_newline_and_checks_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("llmward-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("key");
        std::fs::write(&path, format!("{CANARY}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = ApiKey::from_file(&path).unwrap_err();
        assert!(err.to_string().contains("chmod 600"), "{err}");
        assert!(!err.to_string().contains("canary"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let key = ApiKey::from_file(&path).unwrap();
        assert_eq!(key.expose(), CANARY);
        std::fs::write(&path, format!("{CANARY}\n\n")).unwrap();
        let err = ApiKey::from_file(&path).unwrap_err();
        assert!(!err.to_string().contains("canary"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rotation_is_seen_by_clones() {
        let a = RotatingKey::new(ApiKey::new("sk-one".into()).unwrap());
        let b = a.clone();
        a.rotate(ApiKey::new("sk-two".into()).unwrap());
        assert_eq!(b.current().unwrap().expose(), "sk-two");
    }
}
