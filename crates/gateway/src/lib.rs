//! Model providers behind one interface.
//!
//! A [`Provider`] turns a [`ChatRequest`] into a stream of [`StreamEvent`]s or a
//! typed [`GatewayError`]. One adapter per wire protocol; [`Gateway`] holds the
//! configured endpoints, their model lists and retry policy.

mod answer;
mod anthropic;
mod bedrock;
mod error;
mod gateway;
mod gemini;
mod http;
mod local;
mod openai;
mod request;
mod retry;
pub mod tokens;
mod vertex;

pub use answer::{Answer, ToolCalls};
pub use anthropic::{ANTHROPIC_VERSION, Anthropic, AnthropicTarget};
pub use bedrock::Bedrock;
pub use error::GatewayError;
pub use gateway::{Gateway, UserCredentials};
pub use gemini::{Gemini, GeminiTarget};
pub use http::{Connection, IDLE_TIMEOUT};
pub use local::{LocalModel, LocalSettings};
pub use openai::{OpenAiChat, OpenAiResponses, Target};
pub use request::*;
pub use retry::{RetryPolicy, Retrying};
pub use vertex::{GoogleAuth, ServiceAccount, install_jwt_crypto};

use futures::FutureExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;

/// One wire protocol. Dropping the returned stream closes the upstream request,
/// which is how a stopped generation stops costing tokens.
pub trait Provider: Send + Sync {
    /// Streams one answer. The stream ends after a `Finish` event or an error.
    fn stream(&self, request: ChatRequest)
    -> BoxStream<'static, Result<StreamEvent, GatewayError>>;

    /// One whole answer. Adapters whose protocol has a non-streamed call use it;
    /// the default reads the stream to its end.
    fn complete(&self, request: ChatRequest) -> BoxFuture<'static, Result<Answer, GatewayError>> {
        Answer::collect(self.stream(request)).boxed()
    }

    /// The models the upstream offers (empty when the protocol cannot list them).
    fn list_models(&self) -> BoxFuture<'static, Result<Vec<String>, GatewayError>> {
        futures::future::ready(Ok(Vec::new())).boxed()
    }

    /// Why it cannot answer right now, when that is known without asking
    /// (a local model whose file is missing), so the UI can say so up front.
    fn unavailable(&self) -> Option<String> {
        None
    }
}
