//! The Gemini adapter against local upstreams speaking the Gemini API (API key)
//! and Vertex AI (service-account token exchange, then the same protocol), with
//! requests checked as Google documents them.

mod common;

use chorus_gateway::{
    Effort, FinishReason, GatewayError, Gemini, GeminiTarget, GoogleAuth, Provider, Reasoning,
    ServiceAccount, StreamEvent,
};
use chorus_testkit::upstream::{FakeUpstream, Received, Reply};
use common::*;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const KEY: &str = "AIza-test-key";

fn error(code: u16, status: &str, message: &str) -> Reply {
    Reply::json(
        code,
        &json!({"error": {"code": code, "message": message, "status": status}}),
    )
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// Google's checks on a GenerateContentRequest.
fn check_body(body: &Value) -> Result<(), Reply> {
    const TOP: [&str; 7] = [
        "contents",
        "systemInstruction",
        "tools",
        "toolConfig",
        "generationConfig",
        "safetySettings",
        "cachedContent",
    ];
    for key in body.as_object().into_iter().flat_map(|o| o.keys()) {
        if !TOP.contains(&key.as_str()) {
            return Err(error(
                400,
                "INVALID_ARGUMENT",
                &format!(
                    "Invalid JSON payload received. Unknown name \"{key}\": Cannot find field."
                ),
            ));
        }
    }
    let Some(contents) = body["contents"].as_array().filter(|c| !c.is_empty()) else {
        return Err(error(
            400,
            "INVALID_ARGUMENT",
            "* GenerateContentRequest.contents: contents is not specified",
        ));
    };
    for c in contents {
        if !matches!(c["role"].as_str(), Some("user" | "model")) {
            return Err(error(
                400,
                "INVALID_ARGUMENT",
                "Please use a valid role: user, model.",
            ));
        }
        for p in c["parts"].as_array().into_iter().flatten() {
            let kinds = [
                "text",
                "inlineData",
                "fileData",
                "functionCall",
                "functionResponse",
            ];
            if p.as_object()
                .map(|o| o.keys().filter(|k| kinds.contains(&k.as_str())).count())
                != Some(1)
            {
                return Err(error(
                    400,
                    "INVALID_ARGUMENT",
                    "* GenerateContentRequest.contents.parts: a part must hold exactly one kind of data",
                ));
            }
            if p.get("functionResponse")
                .is_some_and(|f| !f["response"].is_object())
            {
                return Err(error(
                    400,
                    "INVALID_ARGUMENT",
                    "functionResponse.response must be an object",
                ));
            }
        }
    }
    Ok(())
}

/// The model and method of `/…/models/{model}:{method}`.
fn target(uri: &str) -> (String, String) {
    let path = uri.split('?').next().unwrap();
    let last = path.rsplit('/').next().unwrap();
    let (model, method) = last.split_once(':').unwrap_or((last, ""));
    (model.to_string(), method.to_string())
}

fn answer(req: &Received, stream_fixture: &'static str) -> Reply {
    if let Err(reply) = check_body(&req.json()) {
        return reply;
    }
    let (model, method) = target(&req.uri);
    if model != "gemini-2.5-flash" {
        return error(
            404,
            "NOT_FOUND",
            &format!(
                "models/{model} is not found for API version v1beta, or is not supported for generateContent."
            ),
        );
    }
    match method.as_str() {
        "streamGenerateContent" if req.uri.ends_with("?alt=sse") => {
            Reply::sse(fixture(stream_fixture)).in_chunks(29, Duration::ZERO)
        }
        "generateContent" => Reply::json(
            200,
            &json!({
                "candidates": [{"content": {"parts": [{"text": "Paris is sunny."}], "role": "model"}, "finishReason": "STOP", "index": 0}],
                "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 4, "totalTokenCount": 13},
                "modelVersion": "gemini-2.5-flash"
            }),
        ),
        _ => error(400, "INVALID_ARGUMENT", "unsupported method"),
    }
}

async fn api_upstream(stream_fixture: &'static str) -> FakeUpstream {
    FakeUpstream::start(move |req| {
        if !req.uri.starts_with("/v1beta/models") {
            return error(404, "NOT_FOUND", "not found");
        }
        if req.header("x-goog-api-key") != Some(KEY) {
            return error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.");
        }
        if req.uri.starts_with("/v1beta/models?") {
            return Reply::json(200, &json!({"models": [
                {"name": "models/gemini-2.5-flash", "supportedGenerationMethods": ["generateContent", "countTokens"]},
                {"name": "models/text-embedding-004", "supportedGenerationMethods": ["embedContent"]}
            ]}));
        }
        answer(req, stream_fixture)
    })
    .await
}

fn api(up: &FakeUpstream, key: &str) -> Gemini {
    Gemini::new(
        reqwest::Client::new(),
        GeminiTarget::Api {
            base_url: up.url(),
            api_key: key.into(),
        },
    )
}

#[tokio::test]
async fn streams_thoughts_text_and_usage() {
    let up = api_upstream("gemini_text.sse").await;
    let mut request = simple("gemini-2.5-flash", "What is this?");
    request.reasoning = Some(Reasoning::Effort(Effort::Medium));
    let run = run(&api(&up, KEY), request).await;
    assert_eq!(run.error, None);
    assert_eq!(run.reasoning(), "Thinking about pixels");
    assert_eq!(run.text(), "The image shows one white pixel.");
    let answer = run.answer().await;
    let u = answer.usage.unwrap();
    assert_eq!(
        (
            u.input_tokens,
            u.output_tokens,
            u.reasoning_tokens,
            u.cached_tokens
        ),
        (12, 28, 20, 4)
    );
    assert_eq!(answer.finish, FinishReason::Stop);

    let sent = up.only();
    assert_eq!(
        sent.uri,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
    let body = sent.json();
    assert_eq!(
        body["systemInstruction"],
        json!({"parts": [{"text": "You are terse."}]})
    );
    assert_eq!(
        body["generationConfig"]["thinkingConfig"],
        json!({"thinkingBudget": 4096, "includeThoughts": true})
    );
}

#[tokio::test]
async fn sends_images_calls_and_results_and_reads_a_function_call() {
    let up = api_upstream("gemini_tool.sse").await;
    let run = run(&api(&up, KEY), full_conversation("gemini-2.5-flash")).await;
    assert_eq!(run.error, None);
    let answer = run.answer().await;
    assert_eq!(answer.tool_calls.len(), 1);
    assert_eq!(answer.tool_calls[0].name, "get_weather");
    assert_eq!(
        serde_json::from_str::<Value>(&answer.tool_calls[0].arguments).unwrap(),
        json!({"location": "Paris, France"})
    );
    assert_eq!(answer.finish, FinishReason::ToolCalls);
    assert!(matches!(
        run.events[0],
        StreamEvent::ToolCallStart { index: 0, .. }
    ));

    let body = up.only().json();
    assert_eq!(
        body["contents"][0]["parts"][1],
        json!({"inlineData": {"mimeType": "image/png", "data": PNG_1PX}})
    );
    assert_eq!(body["contents"][1]["role"], "model");
    assert_eq!(
        body["contents"][1]["parts"][1],
        json!({"functionCall": {"name": "get_weather", "args": {"location": "Paris, France"}}})
    );
    assert_eq!(
        body["contents"][2]["parts"][0],
        json!({"functionResponse": {"name": "get_weather", "response": {"result": "18°C, sunny"}}})
    );
    assert_eq!(
        body["tools"][0]["functionDeclarations"][0]["name"],
        "get_weather"
    );
    assert_eq!(
        body["generationConfig"],
        json!({"temperature": 0.3f32, "topP": 0.9f32, "maxOutputTokens": 300, "stopSequences": ["END"]})
    );
}

#[tokio::test]
async fn errors_keep_googles_message() {
    let up = api_upstream("gemini_text.sse").await;
    let run = run(&api(&up, "wrong"), simple("gemini-2.5-flash", "hi")).await;
    let err = run.error.unwrap();
    assert_eq!(
        err.to_string(),
        "the provider returned an error (HTTP 400): API key not valid. Please pass a valid API key. (INVALID_ARGUMENT)"
    );

    let run = common::run(&api(&up, KEY), simple("gemini-1.0-nope", "hi")).await;
    assert!(
        matches!(run.error, Some(GatewayError::Upstream { status: 404, .. })),
        "{:?}",
        run.error
    );

    let busy = FakeUpstream::start(|_| {
        error(
            429,
            "RESOURCE_EXHAUSTED",
            "Resource has been exhausted (e.g. check quota).",
        )
    })
    .await;
    let run = common::run(&api(&busy, KEY), simple("gemini-2.5-flash", "hi")).await;
    assert!(
        matches!(run.error, Some(GatewayError::RateLimited { .. })),
        "{:?}",
        run.error
    );
}

#[tokio::test]
async fn a_stream_without_a_finish_reason_was_cut() {
    let up = FakeUpstream::start(|_| {
        let all = String::from_utf8(fixture("gemini_text.sse")).unwrap();
        let first_two: String = all.split_inclusive("\r\n\r\n").take(2).collect();
        Reply::sse(first_two)
    })
    .await;
    let run = run(&api(&up, KEY), simple("gemini-2.5-flash", "hi")).await;
    assert_eq!(run.text(), "The image shows");
    assert!(matches!(run.error, Some(GatewayError::Malformed(_))));
}

#[tokio::test]
async fn lists_only_models_that_generate_content() {
    let up = api_upstream("gemini_text.sse").await;
    assert_eq!(
        api(&up, KEY).list_models().await.unwrap(),
        ["gemini-2.5-flash"]
    );
}

#[tokio::test]
async fn vertex_exchanges_a_signed_service_account_token_then_streams() {
    let public = std::fs::read(format!(
        "{}/tests/fixtures/vertex_test_pub.pem",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let up = FakeUpstream::start(move |req| {
        if req.uri == "/token" {
            // RFC 7523: a JWT signed with the account's key, for the token URI.
            let form: Vec<(String, String)> = url::form_urlencoded::parse(&req.body).into_owned().collect();
            let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
            if get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
                return Reply::json(400, &json!({"error": "unsupported_grant_type"}));
            }
            chorus_gateway::install_jwt_crypto();
            let key = jsonwebtoken::DecodingKey::from_rsa_pem(&public).unwrap();
            let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
            v.set_audience(&[format!("http://{}/token", req.header("host").unwrap())]);
            return match jsonwebtoken::decode::<Value>(&get("assertion"), &key, &v) {
                Ok(t) if t.claims["iss"] == "chorus@chorus-test.iam.gserviceaccount.com"
                    && t.claims["scope"] == "https://www.googleapis.com/auth/cloud-platform" =>
                {
                    Reply::json(200, &json!({"access_token": "ya29.test-token", "expires_in": 3599, "token_type": "Bearer"}))
                }
                other => Reply::json(400, &json!({"error": "invalid_grant", "error_description": format!("{other:?}")})),
            };
        }
        if req.header("authorization") != Some("Bearer ya29.test-token") {
            return error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.");
        }
        if !req.uri.starts_with("/v1/projects/chorus-test/locations/us-central1/publishers/google/models/") {
            return error(404, "NOT_FOUND", "not found");
        }
        answer(req, "gemini_text.sse")
    })
    .await;
    let template = std::fs::read_to_string(format!(
        "{}/tests/fixtures/vertex_service_account.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let account: ServiceAccount =
        serde_json::from_str(&template.replace("TOKEN_URI", &format!("{}/token", up.url())))
            .unwrap();
    let auth = Arc::new(GoogleAuth::new(account));
    let gemini = Gemini::new(
        reqwest::Client::new(),
        GeminiTarget::Vertex {
            base_url: format!("{}/v1/projects/chorus-test/locations/us-central1", up.url()),
            auth,
        },
    );
    for _ in 0..2 {
        let run = run(&gemini, simple("gemini-2.5-flash", "hi")).await;
        assert_eq!(run.error, None);
        assert_eq!(run.text(), "The image shows one white pixel.");
    }
    let token_requests = up.received().iter().filter(|r| r.uri == "/token").count();
    assert_eq!(
        token_requests, 1,
        "the access token is reused until it expires"
    );
}
