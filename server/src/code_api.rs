//! The code interpreter's HTTP API, in the shape LibreChat's code API has, so
//! LibreChat can point `LIBRECHAT_CODE_BASEURL` at `https://<chorus>/v1`:
//!
//! - `POST /v1/exec` `{lang, code, args?, session_id?, files?}` →
//!   `{stdout, stderr, session_id, files: [{id, name}], run: {…}}`
//! - `POST /v1/upload` (multipart `file`, optional `entity_id`) →
//!   `{message: "success", session_id, files: [{fileId, filename}]}`
//! - `GET /v1/files/{session}` → `[{name: "<session>/<id>", id, session_id, size,
//!   lastModified, metadata: {"original-filename"}}]`
//! - `GET /v1/download/{session}/{file}`, `DELETE /v1/files/{session}/{file}`
//! - `GET /v1/health`
//!
//! Authenticated like the rest of `/v1`: a user's API key, as `X-API-Key` (what
//! LibreChat sends) or `Authorization: Bearer`. Sessions belong to the key's
//! user; anyone else's session id is a 404.
//!
//! `GET /api/code/files/{session}/{file}` serves the same files to the signed-in
//! browser user (the Run button's output).

use crate::ServerState;
use crate::openai_api::{ApiError, ApiUser};
use axum::Json;
use axum::body::Body;
use axum::extract::{Multipart, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chorus_auth::AuthSession;
use chorus_engine::{Engine, EngineError};
use chorus_sandbox::{ExecRequest, FileRef};
use chorus_types::UserId;
use serde::Deserialize;
use serde_json::{Value, json};

fn engine_error(e: EngineError) -> ApiError {
    match e {
        EngineError::NotFound => ApiError::new(StatusCode::NOT_FOUND, "Session or file not found."),
        EngineError::Invalid(m) => ApiError::invalid(m, None),
        EngineError::Unavailable(m) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, m),
        EngineError::Store(m) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, m),
        EngineError::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, m),
    }
}

#[derive(Deserialize)]
pub struct ExecBody {
    lang: String,
    code: String,
    #[serde(default)]
    args: Option<Vec<String>>,
    #[serde(default)]
    session_id: Option<String>,
    #[serde(default)]
    files: Option<Vec<FileRef>>,
}

pub async fn exec(
    ApiUser(user): ApiUser,
    State(state): State<ServerState>,
    body: axum::body::Bytes,
) -> Response {
    let body: ExecBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return ApiError::invalid(
                format!("The body must be JSON {{\"lang\", \"code\", \"args\"?, \"session_id\"?, \"files\"?}}: {e}"),
                None,
            )
            .into_response();
        }
    };
    let lang = match Engine::parse_language(&body.lang) {
        Ok(l) => l,
        Err(e) => return engine_error(e).into_response(),
    };
    let request = ExecRequest {
        lang,
        code: body.code,
        args: body.args.unwrap_or_default(),
        session_id: body.session_id.filter(|s| !s.is_empty()),
        files: body.files.unwrap_or_default(),
    };
    match state.app.engine.exec_code(&user, request).await {
        Ok(out) => {
            let files: Vec<Value> = out
                .files
                .iter()
                .map(|f| json!({"id": f.id, "name": f.name}))
                .collect();
            Json(json!({
                "session_id": out.session_id,
                "stdout": out.stdout,
                "stderr": out.stderr,
                "files": files,
                "language": lang.code(),
                "run": {
                    "stdout": out.stdout,
                    "stderr": out.stderr,
                    "code": out.exit_code,
                    "signal": out.signal.map(chorus_sandbox::signal_name),
                    "output": format!("{}{}", out.stdout, out.stderr),
                    "timed_out": out.timed_out,
                    "oom_killed": out.oom_killed,
                    "output_truncated": out.output_truncated,
                    "duration_ms": out.duration_ms,
                },
            }))
            .into_response()
        }
        Err(e) => engine_error(e).into_response(),
    }
}

pub async fn upload(
    ApiUser(user): ApiUser,
    State(state): State<ServerState>,
    mut form: Multipart,
) -> Response {
    let sandbox = match state.app.engine.sandbox() {
        Ok(s) => s,
        Err(e) => return engine_error(e).into_response(),
    };
    let mut session: Option<String> = None;
    let mut files = Vec::new();
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                return ApiError::invalid(format!("Bad multipart body: {e}"), None).into_response();
            }
        };
        let Some(filename) = field.file_name().map(str::to_string) else {
            // entity_id and other plain fields: LibreChat's bookkeeping, not ours.
            continue;
        };
        let bytes = match field.bytes().await {
            Ok(b) => b,
            Err(e) => {
                return ApiError::invalid(format!("Reading {filename}: {e}"), None).into_response();
            }
        };
        let sid = match &session {
            Some(s) => s.clone(),
            None => match sandbox.sessions().create(&user.0) {
                Ok(s) => session.insert(s).clone(),
                Err(e) => return engine_error(e.into()).into_response(),
            },
        };
        match sandbox
            .sessions()
            .put(&user.0, &sid, &filename, bytes)
            .await
        {
            Ok(entry) => {
                files.push(json!({"fileId": entry.id, "filename": entry.name, "status": "success"}))
            }
            Err(e) => return engine_error(e.into()).into_response(),
        }
    }
    let Some(session) = session else {
        return ApiError::invalid(
            "Send at least one file in a multipart field named \"file\".",
            Some("file".into()),
        )
        .into_response();
    };
    let count = files.len();
    Json(json!({"message": "success", "session_id": session, "files": files, "succeeded": count, "failed": 0}))
        .into_response()
}

pub async fn list_files(
    ApiUser(user): ApiUser,
    State(state): State<ServerState>,
    Path(session): Path<String>,
) -> Response {
    let listed = state
        .app
        .engine
        .sandbox()
        .and_then(|s| Ok(s.sessions().list(&user.0, &session)?));
    match listed {
        Ok(entries) => {
            let files: Vec<Value> = entries
                .iter()
                .map(|f| {
                    json!({
                        "name": format!("{session}/{}", f.id),
                        "id": f.id,
                        "session_id": session,
                        "size": f.size,
                        "lastModified": f.modified,
                        "contentType": content_type(&f.name),
                        "metadata": {"original-filename": f.name, "content-type": content_type(&f.name)},
                    })
                })
                .collect();
            Json(files).into_response()
        }
        Err(e) => engine_error(e).into_response(),
    }
}

pub async fn delete_file(
    ApiUser(user): ApiUser,
    State(state): State<ServerState>,
    Path((session, file)): Path<(String, String)>,
) -> Response {
    let deleted = state
        .app
        .engine
        .sandbox()
        .and_then(|s| Ok(s.sessions().delete_file(&user.0, &session, &file)?));
    match deleted {
        Ok(()) => Json(json!({"message": "success"})).into_response(),
        Err(e) => engine_error(e).into_response(),
    }
}

pub async fn download(
    ApiUser(user): ApiUser,
    State(state): State<ServerState>,
    Path((session, file)): Path<(String, String)>,
) -> Response {
    serve_file(&state.app.engine, &user, &session, &file).await
}

/// The Files panel's upload (a plain form post, so it works before the page is
/// interactive): the files go to the conversation's `/mnt/data`, then back to
/// the conversation with the panel open.
pub async fn browser_upload(
    auth: AuthSession,
    State(state): State<ServerState>,
    Path(conversation): Path<String>,
    mut form: Multipart,
) -> Response {
    let Some(user) = auth.user else {
        return (StatusCode::UNAUTHORIZED, "Sign in first.").into_response();
    };
    let conversation_id = chorus_types::ConversationId(conversation.clone());
    loop {
        let (name, bytes) = match next_file(&mut form).await {
            Ok(Some(file)) => file,
            Ok(None) => break,
            Err(resp) => return resp,
        };
        if let Err(e) = state
            .app
            .engine
            .add_code_file(&user.id, &conversation_id, &name, bytes)
            .await
        {
            return engine_error(e).into_response();
        }
    }
    axum::response::Redirect::to(&format!("/c/{conversation}?files=open")).into_response()
}

/// The composer's Attach: files for the message being written, kept until it
/// is sent. Answers the attached files as JSON.
pub async fn attach(
    auth: AuthSession,
    State(state): State<ServerState>,
    mut form: Multipart,
) -> Response {
    let Some(user) = auth.user else {
        return (StatusCode::UNAUTHORIZED, "Sign in first.").into_response();
    };
    let mut attached = Vec::new();
    loop {
        let (name, bytes) = match next_file(&mut form).await {
            Ok(Some(file)) => file,
            Ok(None) => break,
            Err(resp) => return resp,
        };
        match state.app.engine.attach_file(&user.id, &name, bytes).await {
            Ok(file) => attached.push(file),
            Err(e) => return engine_error(e).into_response(),
        }
    }
    Json(attached).into_response()
}

/// `POST /api/agents/{id}/files` (multipart, session cookie): files the
/// agent's code can read in every chat with it (its editors add them).
pub async fn agent_files(
    auth: AuthSession,
    State(state): State<ServerState>,
    Path(agent): Path<String>,
    mut form: Multipart,
) -> Response {
    let Some(user) = auth.user else {
        return (StatusCode::UNAUTHORIZED, "Sign in first.").into_response();
    };
    let mut added = Vec::new();
    loop {
        let (name, bytes) = match next_file(&mut form).await {
            Ok(Some(file)) => file,
            Ok(None) => break,
            Err(resp) => return resp,
        };
        match state
            .app
            .engine
            .add_agent_file(&user.id, &agent, &name, bytes)
            .await
        {
            Ok(file) => added.push(file),
            Err(e) => return engine_error(e).into_response(),
        }
    }
    Json(added).into_response()
}

/// The next file of a browser's multipart form (fields that are not files,
/// or are empty file inputs, are skipped).
async fn next_file(form: &mut Multipart) -> Result<Option<(String, axum::body::Bytes)>, Response> {
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => return Ok(None),
            Err(e) => {
                return Err((
                    StatusCode::BAD_REQUEST,
                    format!("The upload was cut off: {e}"),
                )
                    .into_response());
            }
        };
        let Some(name) = field
            .file_name()
            .map(str::to_string)
            .filter(|n| !n.is_empty())
        else {
            continue;
        };
        return match field.bytes().await {
            Ok(bytes) => Ok(Some((name, bytes))),
            Err(e) => {
                Err((StatusCode::BAD_REQUEST, format!("Reading {name}: {e}")).into_response())
            }
        };
    }
}

/// The browser's download of a Run button's output file.
pub async fn browser_download(
    auth: AuthSession,
    State(state): State<ServerState>,
    Path((session, file)): Path<(String, String)>,
) -> Response {
    let Some(user) = auth.user else {
        return (StatusCode::UNAUTHORIZED, "Sign in first.").into_response();
    };
    serve_file(&state.app.engine, &user.id, &session, &file).await
}

async fn serve_file(engine: &Engine, user: &UserId, session: &str, file: &str) -> Response {
    let found = engine
        .sandbox()
        .and_then(|s| Ok(s.sessions().file(&user.0, session, file)?));
    let (entry, path) = match found {
        Ok(f) => f,
        Err(e) => return engine_error(e).into_response(),
    };
    let bytes = match tokio::fs::read(&path).await {
        Ok(b) => b,
        Err(_) => return engine_error(EngineError::NotFound).into_response(),
    };
    let base = entry
        .name
        .rsplit('/')
        .next()
        .unwrap_or(&entry.name)
        .replace(['"', '\\'], "_");
    let disposition = if chorus_engine::is_image(&entry.name) {
        "inline"
    } else {
        "attachment"
    };
    Response::builder()
        .header(header::CONTENT_TYPE, content_type(&entry.name))
        .header(
            header::CONTENT_DISPOSITION,
            format!("{disposition}; filename=\"{base}\""),
        )
        // Files come from user code: never let the browser run them as a page here.
        .header("content-security-policy", "sandbox")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .body(Body::from(bytes))
        .unwrap()
}

fn content_type(name: &str) -> String {
    mime_guess::from_path(name)
        .first_or_octet_stream()
        .essence_str()
        .to_string()
}

pub async fn health(State(state): State<ServerState>) -> Response {
    match state.app.engine.sandbox() {
        Ok(sandbox) => {
            let h = sandbox.health();
            let status = if h.available {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            (
                status,
                Json(json!({
                    "status": if h.available { "ok" } else { "unavailable" },
                    "reason": h.reason,
                    "languages": h.languages,
                })),
            )
                .into_response()
        }
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "reason": e.to_string()})),
        )
            .into_response(),
    }
}
