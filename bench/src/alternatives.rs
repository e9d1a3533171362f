//! The Rust alternatives a user would pick instead of llmward, pointed at the same upstream and
//! handed the same reqwest client (llmward's TLS path: ring, preconfigured rustls).

use std::future::poll_fn;
use std::pin::Pin;
use std::time::Instant;

use futures_core::Stream;

use crate::clients::{MODEL, Res, SYSTEM, StreamTiming, USER};

async fn next<S: Stream + ?Sized>(s: &mut Pin<Box<S>>) -> Option<S::Item> {
    poll_fn(|cx| s.as_mut().poll_next(cx)).await
}

fn timing(start: Instant, first: Option<std::time::Duration>) -> StreamTiming {
    let last = start.elapsed();
    StreamTiming {
        first_token: first.unwrap_or(last),
        last_chunk: last,
    }
}

// ---- async-openai ----

use async_openai::config::OpenAIConfig;
use async_openai::types::chat::{
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestUserMessage, ChatCompletionStreamOptions, CreateChatCompletionRequest,
    CreateChatCompletionRequestArgs,
};

pub struct AsyncOpenAi {
    client: async_openai::Client<OpenAIConfig>,
}

impl AsyncOpenAi {
    pub fn new(base: &str, http: reqwest::Client) -> AsyncOpenAi {
        // Keyless on loopback, like llmward's compatible provider; async-openai still sends a
        // Bearer header, whose value does not matter here.
        let config = OpenAIConfig::new().with_api_base(base).with_api_key("none");
        AsyncOpenAi {
            client: async_openai::Client::build(http, config),
        }
    }

    fn request(stream: bool) -> Res<CreateChatCompletionRequest> {
        let messages: Vec<ChatCompletionRequestMessage> = vec![
            ChatCompletionRequestSystemMessage::from(SYSTEM).into(),
            ChatCompletionRequestUserMessage::from(USER).into(),
        ];
        let mut args = CreateChatCompletionRequestArgs::default();
        args.model(MODEL).messages(messages);
        if stream {
            args.stream(true)
                .stream_options(ChatCompletionStreamOptions {
                    include_usage: Some(true),
                    ..Default::default()
                });
        }
        args.build().map_err(|e| format!("async-openai: {e}"))
    }

    pub async fn chat(&self) -> Res<String> {
        let response = self
            .client
            .chat()
            .create(Self::request(false)?)
            .await
            .map_err(|e| format!("async-openai: {e}"))?;
        response
            .choices
            .into_iter()
            .next()
            .and_then(|c| c.message.content)
            .ok_or_else(|| "async-openai: no text".to_owned())
    }

    pub async fn stream(&self, start: Instant) -> Res<(String, StreamTiming)> {
        let mut s = self
            .client
            .chat()
            .create_stream(Self::request(true)?)
            .await
            .map_err(|e| format!("async-openai: {e}"))?;
        let mut text = String::new();
        let mut first = None;
        while let Some(chunk) = next(&mut s).await {
            let chunk = chunk.map_err(|e| format!("async-openai: {e}"))?;
            for choice in chunk.choices {
                if let Some(piece) = choice.delta.content {
                    if !piece.is_empty() {
                        first.get_or_insert_with(|| start.elapsed());
                    }
                    text.push_str(&piece);
                }
            }
        }
        Ok((text, timing(start, first)))
    }

    pub async fn open_stream(&self) -> Res<Box<dyn Send>> {
        let mut s = self
            .client
            .chat()
            .create_stream(Self::request(true)?)
            .await
            .map_err(|e| format!("async-openai: {e}"))?;
        loop {
            let chunk = next(&mut s)
                .await
                .ok_or("async-openai: stream ended early")?
                .map_err(|e| format!("async-openai: {e}"))?;
            if chunk
                .choices
                .iter()
                .any(|c| c.delta.content.as_deref().is_some_and(|t| !t.is_empty()))
            {
                return Ok(Box::new(s));
            }
        }
    }
}

// ---- genai ----

use genai::adapter::AdapterKind;
use genai::chat::{ChatMessage, ChatOptions, ChatRequest as GenaiRequest, ChatStreamEvent};
use genai::resolver::{AuthData, Endpoint};
use genai::{ModelIden, ServiceTarget};

pub struct Genai {
    client: genai::Client,
    target: ServiceTarget,
    stream_options: ChatOptions,
}

impl Genai {
    pub fn new(base: &str, http: reqwest::Client) -> Res<Genai> {
        let client = genai::Client::builder()
            .with_reqwest(http)
            .build()
            .map_err(|e| format!("genai: {e}"))?;
        let target = ServiceTarget {
            endpoint: Endpoint::from_owned(format!("{base}/")),
            auth: AuthData::from_single("none"),
            model: ModelIden::new(AdapterKind::OpenAI, MODEL),
        };
        Ok(Genai {
            client,
            target,
            // Asks for usage in streams, as llmward and the floor do.
            stream_options: ChatOptions::default().with_capture_usage(true),
        })
    }

    fn request() -> GenaiRequest {
        GenaiRequest::from_system(SYSTEM).append_message(ChatMessage::user(USER))
    }

    pub async fn chat(&self) -> Res<String> {
        let response = self
            .client
            .exec_chat(self.target.clone(), Self::request(), None)
            .await
            .map_err(|e| format!("genai: {e}"))?;
        response
            .into_first_text()
            .ok_or_else(|| "genai: no text".to_owned())
    }

    async fn start_stream(&self) -> Res<genai::chat::ChatStream> {
        Ok(self
            .client
            .exec_chat_stream(
                self.target.clone(),
                Self::request(),
                Some(&self.stream_options),
            )
            .await
            .map_err(|e| format!("genai: {e}"))?
            .stream)
    }

    pub async fn stream(&self, start: Instant) -> Res<(String, StreamTiming)> {
        let mut s = Box::pin(self.start_stream().await?);
        let mut text = String::new();
        let mut first = None;
        while let Some(event) = next(&mut s).await {
            if let ChatStreamEvent::Chunk(chunk) = event.map_err(|e| format!("genai: {e}"))? {
                if !chunk.content.is_empty() {
                    first.get_or_insert_with(|| start.elapsed());
                }
                text.push_str(&chunk.content);
            }
        }
        Ok((text, timing(start, first)))
    }

    pub async fn open_stream(&self) -> Res<Box<dyn Send>> {
        let mut s = Box::pin(self.start_stream().await?);
        loop {
            let event = next(&mut s)
                .await
                .ok_or("genai: stream ended early")?
                .map_err(|e| format!("genai: {e}"))?;
            if let ChatStreamEvent::Chunk(chunk) = event
                && !chunk.content.is_empty()
            {
                return Ok(Box::new(s));
            }
        }
    }
}
