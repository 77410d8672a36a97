//! Refuses state-changing requests that a browser sent on behalf of another site.
//! Together with the `SameSite=Lax` session cookie this makes the server
//! functions (plain form POSTs) safe from cross-site request forgery.

use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

pub async fn same_origin_writes(req: Request, next: Next) -> Response {
    // The OpenAI-compatible API authenticates with a bearer key, never a
    // cookie, so a forged cross-site request has no credentials to ride on.
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        || req.uri().path().starts_with("/v1/")
        || is_same_origin(req.headers())
    {
        next.run(req).await
    } else {
        (
            StatusCode::FORBIDDEN,
            "Cross-site requests are not accepted.",
        )
            .into_response()
    }
}

fn is_same_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        // `Origin: null` (sandboxed frames, some redirects) is never same-origin.
        let authority = origin.split_once("://").map(|(_, rest)| rest);
        return matches!((authority, host), (Some(a), Some(h)) if a.eq_ignore_ascii_case(h));
    }
    // No Origin: not a cross-site browser form (browsers send Origin on POST);
    // still honour Fetch Metadata when present.
    headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v != "cross-site")
}

#[cfg(test)]
mod tests {
    use super::is_same_origin;
    use axum::http::HeaderMap;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn same_origin_passes_and_other_sites_do_not() {
        assert!(is_same_origin(&headers(&[
            ("host", "127.0.0.1:3000"),
            ("origin", "http://127.0.0.1:3000")
        ])));
        assert!(!is_same_origin(&headers(&[
            ("host", "127.0.0.1:3000"),
            ("origin", "https://evil.test")
        ])));
        assert!(!is_same_origin(&headers(&[
            ("host", "127.0.0.1:3000"),
            ("origin", "null")
        ])));
        assert!(!is_same_origin(&headers(&[
            ("host", "a.test"),
            ("sec-fetch-site", "cross-site")
        ])));
        assert!(is_same_origin(&headers(&[("host", "a.test")])));
    }
}
