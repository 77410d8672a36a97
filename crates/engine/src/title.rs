//! Conversation titles: a quick one from the first message at once, and the
//! model's own when the endpoint has `titleConvo: true`.

use chorus_gateway::{ChatMessage, ChatRequest, Provider};
use std::sync::Arc;

const MAX_TITLE_CHARS: usize = 60;

/// The first line of `text`, cut at a word boundary.
pub fn fallback(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("New chat");
    clip_words(line, 40)
}

fn clip_words(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out = String::new();
    for word in s.split_whitespace() {
        if out.chars().count() + word.chars().count() + 1 > max {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    if out.is_empty() {
        out = s.chars().take(max).collect();
    }
    format!("{out}…")
}

/// Asks `model` for a short title for a conversation that starts with `first`.
pub async fn generate(provider: Arc<dyn Provider>, model: String, first: String) -> Option<String> {
    let request = ChatRequest {
        model,
        system: Some(
            "Write a concise title of at most six words for the conversation below. \
             Reply with the title only, without quotes or punctuation at the end."
                .into(),
        ),
        messages: vec![ChatMessage::user(format!(
            "User: {}",
            clip_words(&first, 1000)
        ))],
        temperature: Some(0.2),
        max_tokens: Some(24),
        ..Default::default()
    };
    match provider.complete(request).await {
        Ok(answer) => clean(&answer.text),
        Err(e) => {
            tracing::warn!(error = %e, "title generation failed; keeping the first-message title");
            None
        }
    }
}

fn clean(raw: &str) -> Option<String> {
    let line = raw.lines().map(str::trim).find(|l| !l.is_empty())?;
    let line = line.strip_prefix("Title:").unwrap_or(line).trim();
    let line = line
        .trim_matches(|c: char| c == '"' || c == '\'' || c == '*' || c == '.')
        .trim();
    (!line.is_empty()).then(|| clip_words(line, MAX_TITLE_CHARS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_uses_the_first_line_cut_at_a_word() {
        assert_eq!(fallback("\n  Hello there\nsecond"), "Hello there");
        assert_eq!(
            fallback("Please explain how the borrow checker handles two-phase borrows"),
            "Please explain how the borrow checker…"
        );
    }

    #[test]
    fn model_titles_are_cleaned() {
        assert_eq!(
            clean("\"Rust Borrowing Basics.\"\n"),
            Some("Rust Borrowing Basics".into())
        );
        assert_eq!(clean("Title: **Paris trip**"), Some("Paris trip".into()));
        assert_eq!(clean("  \n "), None);
    }
}
