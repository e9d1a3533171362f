//! The [`Provider`] trait every provider, and the router, implements.

use std::sync::Arc;

use async_trait::async_trait;

use crate::{ChatRequest, ChatResponse, ChatStream, EmbedRequest, EmbedResponse, Error, Result};

/// Something that answers chat requests: a provider, or a router of providers.
///
/// Object safe: routers hold `Arc<dyn Provider>`, and users can plug in their own.
#[async_trait]
pub trait Provider: Send + Sync + std::fmt::Debug {
    /// The instance's name (e.g. `"openai"`, or what the builder set), shown in responses,
    /// errors and events.
    fn name(&self) -> &str;

    /// Sends `request` and waits for the whole answer.
    ///
    /// # Errors
    ///
    /// See [`ErrorKind`](crate::ErrorKind) for what each kind means.
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse>;

    /// Sends `request` and streams the answer.
    ///
    /// # Errors
    ///
    /// Errors before the stream starts; later ones come through the stream.
    async fn chat_stream(&self, request: &ChatRequest) -> Result<ChatStream>;

    /// Embeds texts. Defaults to an [`Unsupported`](crate::ErrorKind::Unsupported) error.
    ///
    /// # Errors
    ///
    /// As for [`chat`](Provider::chat).
    async fn embed(&self, request: &EmbedRequest) -> Result<EmbedResponse> {
        let _ = request;
        Err(
            Error::unsupported("this provider does not offer embeddings")
                .with_provider(self.name()),
        )
    }

    /// The label of the key the next request will use, for events. Defaults to none.
    fn key_label(&self) -> Option<String> {
        None
    }
}

#[async_trait]
impl<P: Provider + ?Sized> Provider for Arc<P> {
    fn name(&self) -> &str {
        (**self).name()
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse> {
        (**self).chat(request).await
    }

    async fn chat_stream(&self, request: &ChatRequest) -> Result<ChatStream> {
        (**self).chat_stream(request).await
    }

    async fn embed(&self, request: &EmbedRequest) -> Result<EmbedResponse> {
        (**self).embed(request).await
    }

    fn key_label(&self) -> Option<String> {
        (**self).key_label()
    }
}
