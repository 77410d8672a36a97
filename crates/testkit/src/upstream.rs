//! A scripted HTTP upstream for protocol tests: each test decides, per request,
//! what the "provider" answers (status, headers, body bytes in chunks, a cut
//! connection), and reads back exactly what the adapter sent.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A request as the upstream received it.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: Method,
    /// Path and query, e.g. `/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse`.
    pub uri: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// What the upstream answers.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Send the body in pieces of this many bytes (0: one piece), so frames and
    /// events arrive split at arbitrary points, as they do over a real network.
    pub chunk_size: usize,
    pub chunk_delay: Duration,
    /// Stop after this many bytes and drop the connection mid-body.
    pub cut_after: Option<usize>,
}

impl Reply {
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.into(),
            chunk_size: 0,
            chunk_delay: Duration::ZERO,
            cut_after: None,
        }
    }

    pub fn json(status: u16, body: &Value) -> Self {
        Self::new(status, "application/json", body.to_string())
    }

    pub fn sse(body: impl Into<Vec<u8>>) -> Self {
        Self::new(200, "text/event-stream", body)
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn in_chunks(mut self, size: usize, delay: Duration) -> Self {
        self.chunk_size = size;
        self.chunk_delay = delay;
        self
    }

    pub fn cut_after(mut self, bytes: usize) -> Self {
        self.cut_after = Some(bytes);
        self
    }
}

type Handler = dyn Fn(&Received) -> Reply + Send + Sync;

#[derive(Clone)]
struct Shared {
    handler: Arc<Handler>,
    received: Arc<Mutex<Vec<Received>>>,
    open: Arc<AtomicUsize>,
}

/// Counts a response body being sent; dropped when the body is done or the
/// client went away.
struct Open(Arc<AtomicUsize>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A running scripted upstream; stops when dropped.
pub struct FakeUpstream {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    open: Arc<AtomicUsize>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl FakeUpstream {
    pub async fn start(handler: impl Fn(&Received) -> Reply + Send + Sync + 'static) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake upstream");
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let open = Arc::new(AtomicUsize::new(0));
        let shared = Shared {
            handler: Arc::new(handler),
            received: received.clone(),
            open: open.clone(),
        };
        let app = Router::new().fallback(answer).with_state(shared);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        // Chunks go out at once (no Nagle delay), as a real provider's do.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
                .ok();
        });
        Self {
            addr,
            received,
            open,
            _shutdown: tx,
        }
    }

    /// Response bodies still being sent (a client that hangs up ends its one).
    pub fn open_connections(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The only request received (panics when there were none or several).
    pub fn only(&self) -> Received {
        let all = self.received();
        assert_eq!(
            all.len(),
            1,
            "expected exactly one request, got {}",
            all.len()
        );
        all.into_iter().next().unwrap()
    }
}

async fn answer(State(shared): State<Shared>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let received = Received {
        method: parts.method,
        uri: parts
            .uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        headers: parts.headers,
        body,
    };
    let reply = (shared.handler)(&received);
    shared.received.lock().unwrap().push(received);

    let mut builder =
        Response::builder().status(StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK));
    for (k, v) in &reply.headers {
        builder = builder.header(k, v);
    }
    let mut bytes = reply.body;
    let cut = reply.cut_after.is_some();
    if let Some(n) = reply.cut_after {
        bytes.truncate(n);
    }
    let size = if reply.chunk_size == 0 {
        bytes.len().max(1)
    } else {
        reply.chunk_size
    };
    let pieces: Vec<Bytes> = bytes.chunks(size).map(Bytes::copy_from_slice).collect();
    let delay = reply.chunk_delay;
    shared.open.fetch_add(1, Ordering::SeqCst);
    let guard = Open(shared.open.clone());
    let stream = futures::stream::unfold(
        (pieces.into_iter(), false, guard),
        move |(mut rest, done, guard)| async move {
            if done {
                return None;
            }
            match rest.next() {
                Some(piece) => {
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    Some((Ok::<_, std::io::Error>(piece), (rest, false, guard)))
                }
                // An error ends the body without its terminating chunk: the
                // client sees the connection drop mid-answer.
                None if cut => {
                    // Let what was sent reach the client before the drop.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Some((
                        Err(std::io::Error::other("connection cut by the test")),
                        (rest, true, guard),
                    ))
                }
                None => None,
            }
        },
    );
    builder.body(Body::from_stream(stream)).unwrap()
}
