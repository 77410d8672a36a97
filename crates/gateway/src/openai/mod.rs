//! OpenAI's two wire protocols: Chat Completions (also Azure and every
//! OpenAI-compatible server) and the Responses API.

mod chat;
mod responses;
mod tools;

pub use chat::{OpenAiChat, Target};
pub use responses::OpenAiResponses;
