"""Drives Chorus's OpenAI-compatible API with the official `openai` Python SDK.

Run by server/tests/openai_sdk.rs with OPENAI_BASE_URL and OPENAI_API_KEY set;
prints one JSON object with what the SDK saw, which the Rust test checks.
"""

import json
import os

import openai

client = openai.OpenAI(max_retries=0)
out = {}

out["models"] = [m.id for m in client.models.list()]

done = client.chat.completions.create(
    model="Mock/mock-small",
    messages=[
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hello from python"},
    ],
)
out["complete"] = {
    "content": done.choices[0].message.content,
    "finish_reason": done.choices[0].finish_reason,
    "prompt_tokens": done.usage.prompt_tokens,
    "completion_tokens": done.usage.completion_tokens,
}

pieces, finish, usage = [], None, None
stream = client.chat.completions.create(
    model="Mock/mock-small",
    messages=[{"role": "user", "content": "stream to python"}],
    stream=True,
    stream_options={"include_usage": True},
)
for chunk in stream:
    if chunk.usage is not None:
        usage = chunk.usage.completion_tokens
    for choice in chunk.choices:
        if choice.delta.content:
            pieces.append(choice.delta.content)
        if choice.finish_reason:
            finish = choice.finish_reason
out["stream"] = {
    "content": "".join(pieces),
    "chunks": len(pieces),
    "finish_reason": finish,
    "completion_tokens": usage,
}

try:
    client.chat.completions.create(
        model="Nope/unknown", messages=[{"role": "user", "content": "hi"}]
    )
    out["unknown_model"] = "no error"
except openai.NotFoundError as e:
    out["unknown_model"] = {"status": e.status_code, "code": e.code}

try:
    openai.OpenAI(api_key="chorus-wrong", max_retries=0).models.list()
    out["bad_key"] = "no error"
except openai.AuthenticationError as e:
    out["bad_key"] = {"status": e.status_code}

print(json.dumps(out))
