//! The two Server-Sent Event streams of the web UI:
//!
//! - `GET /api/jobs/{id}/events`: a job's events, resumable. Each event carries
//!   `id: <seq>`; a client resumes with `Last-Event-ID` (sent by `EventSource`
//!   on reconnect) or `?from=<seq>` and gets exactly what follows.
//! - `GET /api/events`: what changes in the signed-in user's conversations, for
//!   every tab and device they have open.

use crate::ServerState;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chorus_auth::AuthSession;
use chorus_streams::{Notice, Watched};
use chorus_types::JobId;
use futures::StreamExt;
use serde::Deserialize;
use std::convert::Infallible;
use std::time::Duration;

#[derive(Deserialize)]
pub struct Resume {
    from: Option<u64>,
}

pub async fn job_events(
    auth: AuthSession,
    State(state): State<ServerState>,
    Path(id): Path<String>,
    Query(resume): Query<Resume>,
    headers: HeaderMap,
) -> Response {
    let Some(user) = auth.user else {
        return (StatusCode::UNAUTHORIZED, "Sign in first.").into_response();
    };
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let after = last_event_id.or(resume.from).unwrap_or(0);
    // A stranger's job and a missing one get the same answer.
    let Some(events) = state.app.engine.watch(&user.id, &JobId(id), after).await else {
        return (StatusCode::NOT_FOUND, "No such job.").into_response();
    };
    let events = events.map(|w| {
        Ok::<_, Infallible>(match w {
            Watched::Event(e) => {
                let data = serde_json::to_string(&e.event).expect("job events serialize");
                Event::default().id(e.seq.to_string()).data(data)
            }
            // No id: the client's position in the log stays where it was.
            Watched::Interrupted(reason) => Event::default().event("interrupted").data(reason),
        })
    });
    unbuffered(events)
}

/// The user's change notices. Each is `data: <UserEvent JSON>`; after a gap (a
/// slow tab, a reconnect) the client gets `event: missed` and reloads its lists.
pub async fn user_events(auth: AuthSession, State(state): State<ServerState>) -> Response {
    let Some(user) = auth.user else {
        return (StatusCode::UNAUTHORIZED, "Sign in first.").into_response();
    };
    let notices = state.app.engine.notices(&user.id).map(|n| {
        Ok::<_, Infallible>(match n {
            Notice::Event(e) => {
                Event::default().data(serde_json::to_string(&e).expect("user events serialize"))
            }
            Notice::Missed => Event::default().event("missed").data(""),
        })
    });
    unbuffered(notices)
}

/// An SSE response with keep-alives that reverse proxies (nginx) pass on as it
/// is written instead of buffering.
fn unbuffered(
    events: impl futures::Stream<Item = Result<Event, Infallible>> + Send + 'static,
) -> Response {
    let mut resp = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response();
    resp.headers_mut()
        .insert("x-accel-buffering", "no".parse().unwrap());
    resp
}
