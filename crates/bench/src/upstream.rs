//! A fake OpenAI Chat Completions upstream for load runs: every answer is a
//! stream of N content chunks (`t0 `, `t1 `, …) between a role chunk and the
//! finish + usage chunks, written as OpenAI writes them. The model name picks
//! the pace: `fast` waits `fast_interval` between chunks, `slow` waits
//! `slow_interval` (to hold many streams open at once).

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::Response;
use axum::routing::post;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

#[derive(Clone)]
pub struct Pace {
    pub chunks: usize,
    pub fast_interval: Duration,
    pub slow_interval: Duration,
}

pub struct Upstream {
    pub addr: SocketAddr,
    /// Streams being written right now.
    pub open: Arc<AtomicUsize>,
}

/// Decrements the open-stream count when the response body is dropped
/// (finished, or the client went away).
struct OpenGuard(Arc<AtomicUsize>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The chunks of one answer, built once and shared by every response.
struct Script {
    role: Bytes,
    content: Vec<Bytes>,
    tail: Bytes,
}

impl Script {
    fn new(chunks: usize) -> Self {
        let chunk = |delta: &str, finish: &str| {
            Bytes::from(format!(
                "data: {{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"bench\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"logprobs\":null,\"finish_reason\":{finish}}}]}}\n\n"
            ))
        };
        let content = (0..chunks)
            .map(|i| chunk(&format!("{{\"content\":\"t{i} \"}}"), "null"))
            .collect();
        let mut tail = chunk("{}", "\"stop\"").to_vec();
        tail.extend_from_slice(format!(
            "data: {{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"bench\",\"choices\":[],\"usage\":{{\"prompt_tokens\":10,\"completion_tokens\":{chunks},\"total_tokens\":{}}}}}\n\ndata: [DONE]\n\n",
            chunks + 10
        ).as_bytes());
        Self {
            role: chunk("{\"role\":\"assistant\",\"content\":\"\"}", "null"),
            content,
            tail: Bytes::from(tail),
        }
    }
}

pub async fn start(pace: Pace) -> anyhow::Result<Upstream> {
    let open = Arc::new(AtomicUsize::new(0));
    let script = Arc::new(Script::new(pace.chunks));
    let state = (pace, script, open.clone());
    let app = Router::new().route(
        "/v1/chat/completions",
        post(move |body: Bytes| {
            let (pace, script, open) = state.clone();
            async move { answer(&pace, script, open, &body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(Upstream { addr, open })
}

fn answer(pace: &Pace, script: Arc<Script>, open: Arc<AtomicUsize>, body: &[u8]) -> Response {
    let slow = body.windows(6).any(|w| w == b"\"slow\"");
    let interval = if slow {
        pace.slow_interval
    } else {
        pace.fast_interval
    };
    open.fetch_add(1, Ordering::Relaxed);
    let guard = OpenGuard(open);
    let stream = async_stream::stream! {
        let _guard = guard;
        yield Ok::<_, std::convert::Infallible>(script.role.clone());
        for (i, c) in script.content.iter().enumerate() {
            // The first token comes at once: what is measured is the gateway.
            if i > 0 {
                tokio::time::sleep(interval).await;
            }
            yield Ok(c.clone());
        }
        yield Ok(script.tail.clone());
    };
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .body(Body::from_stream(stream))
        .expect("static headers are valid")
}
