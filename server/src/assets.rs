//! The site (wasm, js, css, public/) embedded in the binary. A release build
//! carries the files produced by `cargo leptos build --release` (frontend first,
//! then the server, with `.br`/`.gz` siblings); a debug build reads them from
//! `target/site` at run time.

use crate::ServerState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

#[derive(rust_embed::RustEmbed)]
#[folder = "../target/site"]
#[allow_missing = true]
struct Site;

/// Serves an embedded file, else renders the app's not-found page.
pub async fn static_or_not_found(State(state): State<ServerState>, req: Request) -> Response {
    let path = req.uri().path().trim_start_matches('/').to_string();
    if !path.is_empty()
        && let Some(resp) = serve(&path, req.headers())
    {
        return resp;
    }
    let options = state.leptos.clone();
    let handler = leptos_axum::render_app_to_stream(move || app::shell(options.clone()));
    let mut resp = handler(req).await.into_response();
    *resp.status_mut() = StatusCode::NOT_FOUND;
    resp
}

fn serve(path: &str, headers: &HeaderMap) -> Option<Response> {
    let file = Site::get(path)?;
    let etag = format!("\"{}\"", hex(&file.metadata.sha256_hash()[..16]));
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(etag.as_str())
    {
        return Some(StatusCode::NOT_MODIFIED.into_response());
    }
    let accepts = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // Prefer a precompressed sibling the client accepts.
    let (body, encoding) = [("br", ".br"), ("gzip", ".gz")]
        .into_iter()
        .filter(|(name, _)| accepts.contains(name))
        .find_map(|(name, ext)| Site::get(&format!("{path}{ext}")).map(|f| (f.data, Some(name))))
        .unwrap_or((file.data, None));
    let mime = file.metadata.mimetype();
    let mut resp = Response::new(Body::from(body.into_owned()));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(mime).unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(header::ETAG, HeaderValue::from_str(&etag).unwrap());
    // File names are not content-hashed, so revalidate (cheap: 304 by ETag).
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Some(enc) = encoding {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(enc));
    }
    Some(resp)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
