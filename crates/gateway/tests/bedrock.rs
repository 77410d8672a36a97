//! The Bedrock adapter against a local upstream that checks the SigV4 signature
//! (by signing the received request again with the same secret) and answers
//! ConverseStream in AWS's binary event-stream framing.

mod common;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use chorus_gateway::{Bedrock, FinishReason, GatewayError, Provider};
use chorus_testkit::upstream::{FakeUpstream, Received, Reply};
use common::*;
use serde_json::{Value, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const AKID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const REGION: &str = "us-east-1";
const MODEL: &str = "anthropic.claude-3-5-haiku-20241022-v1:0";

/// `20251124T101500Z` as a time.
fn amz_date(s: &str) -> SystemTime {
    let n = |a: usize, b: usize| s[a..b].parse::<i64>().unwrap();
    let (y, m, d) = (n(0, 4), n(4, 6), n(6, 8));
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    let secs = days * 86400 + n(9, 11) * 3600 + n(11, 13) * 60 + n(13, 15);
    UNIX_EPOCH + Duration::from_secs(secs as u64)
}

/// The Authorization header AWS would expect for this request.
fn expected_signature(req: &Received, secret: &str) -> Option<String> {
    let time = amz_date(req.header("x-amz-date")?);
    let identity = Credentials::new(AKID, secret, None, None, "test").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name("bedrock")
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let url = format!("http://{}{}", req.header("host")?, req.uri);
    let headers = [("content-type", req.header("content-type")?)];
    let signable = SignableRequest::new(
        "POST",
        url,
        headers.into_iter(),
        SignableBody::Bytes(&req.body),
    )
    .ok()?;
    let (instructions, _) = sign(signable, &params).ok()?.into_parts();
    instructions
        .headers()
        .find(|(k, _)| *k == "authorization")
        .map(|(_, v)| v.to_string())
}

fn aws_error(status: u16, kind: &str, message: &str) -> Reply {
    Reply::json(status, &json!({"message": message})).header(
        "x-amzn-ErrorType",
        &format!("{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"),
    )
}

fn frame(headers: Vec<Header>, payload: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_message_to(
        &Message::new_from_parts(headers, payload.to_string().into_bytes()),
        &mut out,
    )
    .unwrap();
    out
}

fn event(kind: &str, payload: Value) -> Vec<u8> {
    frame(
        vec![
            Header::new(":event-type", HeaderValue::String(kind.to_string().into())),
            Header::new(
                ":content-type",
                HeaderValue::String("application/json".into()),
            ),
            Header::new(":message-type", HeaderValue::String("event".into())),
        ],
        &payload,
    )
}

/// ConverseStream as documented: text, then a tool call in pieces, stop, metadata.
fn stream_body() -> Vec<u8> {
    [
        event("messageStart", json!({"role": "assistant", "p": "abcdefgh"})),
        event("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "Need the weather."}}})),
        event("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"text": "Checking "}})),
        event("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"text": "now."}})),
        event("contentBlockStop", json!({"contentBlockIndex": 0})),
        event("contentBlockStart", json!({"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "name": "get_weather"}}})),
        event("contentBlockDelta", json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": "{\"location\": "}}})),
        event("contentBlockDelta", json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": "\"Seattle\"}"}}})),
        event("contentBlockStop", json!({"contentBlockIndex": 1})),
        event("messageStop", json!({"stopReason": "tool_use"})),
        event("metadata", json!({"usage": {"inputTokens": 412, "outputTokens": 56, "totalTokens": 468, "cacheReadInputTokens": 100}, "metrics": {"latencyMs": 1203}})),
    ]
    .concat()
}

async fn upstream(body: fn() -> Vec<u8>) -> FakeUpstream {
    FakeUpstream::start(move |req| {
        let given = req.header("authorization").unwrap_or_default();
        if !given.starts_with(&format!("AWS4-HMAC-SHA256 Credential={AKID}/")) {
            return aws_error(403, "UnrecognizedClientException", "The security token included in the request is invalid.");
        }
        if expected_signature(req, SECRET).as_deref() != Some(given) {
            return aws_error(403, "InvalidSignatureException", "The request signature we calculated does not match the signature you provided.");
        }
        let encoded_model = url::form_urlencoded::byte_serialize(MODEL.as_bytes()).collect::<String>();
        let json = req.json();
        if json["messages"].as_array().is_none_or(|m| m.is_empty()) {
            return aws_error(400, "ValidationException", "A conversation must start with a user message.");
        }
        if req.uri == format!("/model/{encoded_model}/converse-stream") {
            Reply::new(200, "application/vnd.amazon.eventstream", body()).in_chunks(50, Duration::ZERO)
        } else if req.uri == format!("/model/{encoded_model}/converse") {
            Reply::json(200, &json!({
                "output": {"message": {"role": "assistant", "content": [{"text": "Hello from Bedrock."}]}},
                "stopReason": "end_turn",
                "usage": {"inputTokens": 8, "outputTokens": 4, "totalTokens": 12},
                "metrics": {"latencyMs": 300}
            }))
        } else {
            aws_error(400, "ValidationException", "The provided model identifier is invalid.")
        }
    })
    .await
}

fn provider(up: &FakeUpstream, secret: &str) -> Bedrock {
    Bedrock::new(
        reqwest::Client::new(),
        Some(&up.url()),
        REGION,
        AKID,
        secret,
        None,
    )
}

#[tokio::test]
async fn signed_converse_stream_yields_text_reasoning_tool_call_and_usage() {
    let up = upstream(stream_body).await;
    let run = run(&provider(&up, SECRET), full_conversation(MODEL)).await;
    assert_eq!(run.error, None);
    assert_eq!(run.text(), "Checking now.");
    assert_eq!(run.reasoning(), "Need the weather.");
    let answer = run.answer().await;
    assert_eq!(answer.tool_calls[0].id, "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q");
    assert_eq!(
        serde_json::from_str::<Value>(&answer.tool_calls[0].arguments).unwrap(),
        json!({"location": "Seattle"})
    );
    assert_eq!(answer.finish, FinishReason::ToolCalls);
    let u = answer.usage.unwrap();
    assert_eq!(
        (u.input_tokens, u.cached_tokens, u.output_tokens),
        (512, 100, 56)
    );

    let body = up.only().json();
    assert_eq!(body["system"], json!([{"text": "You are a weather bot."}]));
    assert_eq!(
        body["messages"][0]["content"][1],
        json!({"image": {"format": "png", "source": {"bytes": PNG_1PX}}})
    );
    assert_eq!(
        body["messages"][1]["content"][1],
        json!({"toolUse": {"toolUseId": "call_1", "name": "get_weather", "input": {"location": "Paris, France"}}})
    );
    assert_eq!(
        body["messages"][2]["content"][0],
        json!({"toolResult": {"toolUseId": "call_1", "content": [{"text": "18°C, sunny"}], "status": "success"}})
    );
    assert_eq!(
        body["inferenceConfig"],
        json!({"maxTokens": 300, "temperature": 0.3f32, "topP": 0.9f32, "stopSequences": ["END"]})
    );
    assert_eq!(
        body["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"]["required"],
        json!(["location"])
    );
}

#[tokio::test]
async fn a_wrong_secret_fails_the_signature_check() {
    let up = upstream(stream_body).await;
    let run = run(&provider(&up, "not-the-secret"), simple(MODEL, "hi")).await;
    match run.error {
        Some(GatewayError::Unauthorized {
            status: 403,
            message,
        }) => {
            assert_eq!(
                message,
                "The request signature we calculated does not match the signature you provided. (InvalidSignatureException)"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_exception_frame_mid_stream_is_typed() {
    fn body() -> Vec<u8> {
        [
            event("messageStart", json!({"role": "assistant"})),
            event(
                "contentBlockDelta",
                json!({"contentBlockIndex": 0, "delta": {"text": "Half"}}),
            ),
            frame(
                vec![
                    Header::new(
                        ":exception-type",
                        HeaderValue::String("throttlingException".into()),
                    ),
                    Header::new(
                        ":content-type",
                        HeaderValue::String("application/json".into()),
                    ),
                    Header::new(":message-type", HeaderValue::String("exception".into())),
                ],
                &json!({"message": "Too many requests, please wait before trying again."}),
            ),
        ]
        .concat()
    }
    let up = upstream(body).await;
    let run = run(&provider(&up, SECRET), simple(MODEL, "hi")).await;
    assert_eq!(run.text(), "Half");
    assert!(
        matches!(run.error, Some(GatewayError::RateLimited { .. })),
        "{:?}",
        run.error
    );
}

#[tokio::test]
async fn a_frame_cut_in_half_or_a_stream_without_stop_is_an_error() {
    fn half() -> Vec<u8> {
        let mut b = stream_body();
        b.truncate(b.len() - 20);
        b
    }
    let up = upstream(half).await;
    let run = run(&provider(&up, SECRET), simple(MODEL, "hi")).await;
    assert_eq!(run.text(), "Checking now.");
    assert!(
        matches!(run.error, Some(GatewayError::Malformed(_))),
        "{:?}",
        run.error
    );

    let up = upstream(Vec::new).await;
    let run = common::run(&provider(&up, SECRET), simple(MODEL, "hi")).await;
    assert!(run.events.is_empty());
    assert!(matches!(run.error, Some(GatewayError::Malformed(_))));
}

#[tokio::test]
async fn non_streamed_converse() {
    let up = upstream(stream_body).await;
    let answer = provider(&up, SECRET)
        .complete(simple(MODEL, "hi"))
        .await
        .unwrap();
    assert_eq!(answer.text, "Hello from Bedrock.");
    assert_eq!(answer.finish, FinishReason::Stop);
    assert_eq!(answer.usage.unwrap().output_tokens, 4);
}
