//! Model providers behind one interface.
//!
//! A [`Provider`] turns a [`ChatRequest`] into a stream of [`StreamEvent`]s or a
//! typed [`GatewayError`]. One adapter per wire protocol; today OpenAI's chat
//! completions (which every custom endpoint in `chorus.yaml` speaks). [`Gateway`]
//! holds the configured endpoints and their model lists.

mod error;
mod gateway;
mod openai;
mod request;

pub use error::GatewayError;
pub use gateway::Gateway;
pub use openai::OpenAiChat;
pub use request::*;

use futures::future::BoxFuture;
use futures::stream::BoxStream;

/// One wire protocol. Dropping the returned stream closes the upstream request,
/// which is how a stopped generation stops costing tokens.
pub trait Provider: Send + Sync {
    /// Streams one answer. The stream ends after a `Finish` event or an error.
    fn stream(&self, request: ChatRequest)
    -> BoxStream<'static, Result<StreamEvent, GatewayError>>;

    /// One whole answer, without streaming (used for titles).
    fn complete(&self, request: ChatRequest) -> BoxFuture<'static, Result<String, GatewayError>>;

    /// The models the upstream offers.
    fn list_models(&self) -> BoxFuture<'static, Result<Vec<String>, GatewayError>>;
}
