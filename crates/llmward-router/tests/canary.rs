//! No key, prompt or completion text in any event or trace: a canary key in a route's provider,
//! canary text in the prompt and the answer, and every event and `tracing` record searched.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::{self, Write as _};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use llmward_core::{
    ApiKey, ChatRequest, ChatResponse, ChatStream, ContentPart, Error, ErrorKind, Provider, Result,
    StreamEvent, Usage,
};
use llmward_router::{Route, Router, RouterEvent};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};

/// The canary key, derived from the printed canary seed (`LLMWARD_CANARY_SEED` replays it).
fn canary_key() -> &'static str {
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    KEY.get_or_init(|| llmward_testkit::canary::key("sk-proj-", "router-canary"))
}
const PROMPT: &str = "PROMPT-CANARY-41f9 tell me the secret plan";
const COMPLETION: &str = "COMPLETION-CANARY-b7e2 the secret plan is";

/// A provider holding the canary key that fails with a message echoing key and prompt.
#[derive(Debug)]
struct Leaky {
    key: ApiKey,
}

#[async_trait]
impl Provider for Leaky {
    fn name(&self) -> &str {
        "leaky"
    }

    fn key_label(&self) -> Option<String> {
        self.key.label().map(str::to_owned)
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse> {
        let prompt = request
            .messages
            .iter()
            .map(|m| m.text())
            .collect::<String>();
        Err(Error::new(ErrorKind::Auth, "")
            .with_status(401)
            .with_provider("leaky")
            .with_provider_message(
                &format!("Incorrect API key {} for prompt {prompt}", canary_key()),
                Some(&self.key),
            ))
    }

    async fn chat_stream(&self, request: &ChatRequest) -> Result<ChatStream> {
        self.chat(request).await.map(|_| unreachable!())
    }
}

/// A provider that answers with the completion canary.
#[derive(Debug)]
struct Answers;

#[async_trait]
impl Provider for Answers {
    fn name(&self) -> &str {
        "answers"
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse> {
        let mut r = ChatResponse::new("answers", request.model.clone());
        r.content.push(ContentPart::Text(COMPLETION.into()));
        r.usage = Some(Usage::new(12, 7));
        Ok(r)
    }

    async fn chat_stream(&self, request: &ChatRequest) -> Result<ChatStream> {
        Ok(ChatStream::from_events(
            "answers",
            request.model.clone(),
            vec![
                Ok(StreamEvent::ReasoningDelta(COMPLETION.into())),
                Ok(StreamEvent::TextDelta(COMPLETION.into())),
                Ok(StreamEvent::Usage(Usage::new(12, 7))),
            ],
        ))
    }
}

/// A `tracing` subscriber that writes every event and span field it sees into a string.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<String>>);

struct Writer<'a>(&'a mut String);

impl Visit for Writer<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let _ = write!(self.0, "{}={value:?} ", field.name());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, "{}={value} ", field.name());
    }
}

impl Subscriber for Capture {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        Interest::always()
    }

    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        span.record(&mut Writer(&mut self.0.lock().unwrap()));
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, values: &Record<'_>) {
        values.record(&mut Writer(&mut self.0.lock().unwrap()));
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut out = self.0.lock().unwrap();
        let _ = write!(
            out,
            "[{} {}] ",
            event.metadata().target(),
            event.metadata().level()
        );
        event.record(&mut Writer(&mut out));
        out.push('\n');
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

#[tokio::test(start_paused = true)]
async fn no_key_prompt_or_completion_in_events_or_traces() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    tracing::callsite::rebuild_interest_cache();

    let events = Arc::new(Mutex::new(Vec::<RouterEvent>::new()));
    let sink = events.clone();
    let key = ApiKey::new(canary_key().to_owned())
        .unwrap()
        .with_label("canary-label");
    let router = Router::builder()
        .route(Route::new("primary", Leaky { key }, "gpt-4.1-mini").alias("default"))
        .route(
            Route::new("backup", Answers, "llama")
                .alias("default")
                .tier(1)
                .price(1.0, 2.0),
        )
        .on_event(move |e| sink.lock().unwrap().push(e.clone()))
        .build()
        .unwrap();
    let request = ChatRequest::builder("default")
        .system(PROMPT)
        .user(PROMPT)
        .tag("tenant", "acme")
        .build()
        .unwrap();

    let answer = router.chat(&request).await.unwrap();
    assert_eq!(
        answer.text(),
        COMPLETION,
        "the canary did flow through the call"
    );
    let stream = router.chat_stream(&request).await.unwrap();
    assert_eq!(stream.collect().await.unwrap().text(), COMPLETION);
    // A call that fails everywhere, and one refused.
    let only_leaky = Router::builder()
        .route(
            Route::new(
                "primary",
                Leaky {
                    key: ApiKey::new(canary_key().to_owned()).unwrap(),
                },
                "m",
            )
            .alias("default"),
        )
        .on_event({
            let sink = events.clone();
            move |e| sink.lock().unwrap().push(e.clone())
        })
        .build()
        .unwrap();
    let err = only_leaky.chat(&request).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert!(
        !format!("{err} {err:?}").contains(canary_key()),
        "core redacts the key"
    );
    only_leaky
        .chat(&ChatRequest::builder("nope").user(PROMPT).build().unwrap())
        .await
        .unwrap_err();

    let mut seen = String::new();
    let events = events.lock().unwrap().clone();
    assert!(events.len() >= 6, "{events:?}");
    for e in &events {
        let _ = writeln!(seen, "{e}");
        let _ = writeln!(seen, "{e:?}");
        for (k, v) in e.fields() {
            let _ = writeln!(seen, "{k}={v}");
        }
        for (k, v) in e.otel_attributes() {
            let _ = writeln!(seen, "{k}={v}");
        }
    }
    let traced = capture.0.lock().unwrap().clone();
    assert!(traced.contains("[llmward::router WARN]"), "{traced}");
    assert!(
        traced.contains("canary-label"),
        "the key's label is shown: {traced}"
    );
    assert!(seen.contains("tenant"));
    assert!(
        !llmward_core::redact::contains_secret(&seen, canary_key()),
        "{seen}"
    );
    assert!(
        !llmward_core::redact::contains_secret(&traced, canary_key()),
        "{traced}"
    );
    for canary in ["PROMPT-CANARY", "COMPLETION-CANARY", "secret plan"] {
        assert_eq!(
            seen.matches(canary).count(),
            0,
            "{canary} in events:\n{seen}"
        );
        assert_eq!(
            traced.matches(canary).count(),
            0,
            "{canary} in traces:\n{traced}"
        );
    }
}
