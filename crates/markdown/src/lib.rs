//! Markdown to HTML that is safe to put in the page. Model output and user text
//! are untrusted: raw HTML, `javascript:` links, event handlers and the like are
//! removed by ammonia after pulldown-cmark renders. The same code runs on the
//! server (first render) and in the browser (while an answer streams).

use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, html};

fn options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_FOOTNOTES
}

/// Renders `markdown` (CommonMark + tables, strikethrough, task lists) to
/// sanitized HTML.
pub fn render(markdown: &str) -> String {
    let mut raw = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut raw, Parser::new_ext(markdown, options()));
    sanitize(&raw)
}

/// A rendered piece of a message: sanitized HTML, or a top-level code block the
/// page shows as its own component (with a Run button where the language runs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Block {
    Html(String),
    Code { lang: String, code: String },
}

/// Like [`render`], with each top-level code block split out. Code blocks inside
/// lists or quotes stay in the HTML: cutting there would break the markup.
pub fn render_blocks(markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut pending: Vec<Event> = Vec::new();
    let mut depth = 0usize;
    let mut code: Option<(String, String)> = None;
    for event in Parser::new_ext(markdown, options()) {
        if let Some((_, text)) = &mut code {
            match event {
                Event::Text(t) => text.push_str(&t),
                Event::End(_) => {
                    let (lang, code) = code.take().expect("in a code block");
                    blocks.push(Block::Code { lang, code });
                }
                _ => {}
            }
            continue;
        }
        match &event {
            Event::Start(Tag::CodeBlock(kind)) if depth == 0 => {
                flush(&mut pending, &mut blocks);
                let lang = match kind {
                    CodeBlockKind::Fenced(info) => info.split_whitespace().next().unwrap_or(""),
                    CodeBlockKind::Indented => "",
                };
                code = Some((lang.to_string(), String::new()));
                continue;
            }
            Event::Start(_) => depth += 1,
            Event::End(_) => depth = depth.saturating_sub(1),
            _ => {}
        }
        pending.push(event);
    }
    flush(&mut pending, &mut blocks);
    blocks
}

fn flush(pending: &mut Vec<Event>, blocks: &mut Vec<Block>) {
    if pending.is_empty() {
        return;
    }
    let mut raw = String::new();
    html::push_html(&mut raw, pending.drain(..));
    blocks.push(Block::Html(sanitize(&raw)));
}

fn sanitize(html: &str) -> String {
    ammonia::Builder::default()
        // Keep `language-xyz` on code blocks for highlighting, and task boxes.
        .add_tag_attributes("code", &["class"])
        .add_tags(&["input"])
        .add_tag_attributes("input", &["type", "checked", "disabled"])
        .link_rel(Some("noopener noreferrer nofollow"))
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .clean(html)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::{Block, render, render_blocks};

    #[test]
    fn top_level_code_blocks_are_split_out_and_the_rest_stays_sanitized() {
        let blocks = render_blocks(
            "Run this:\n\n```python title\nprint(1 < 2)\n```\n\n- a list\n\n  ```sh\n  ls\n  ```\n\n<script>x</script>done",
        );
        assert_eq!(blocks.len(), 3, "{blocks:?}");
        assert_eq!(blocks[0], Block::Html("<p>Run this:</p>\n".into()));
        assert_eq!(
            blocks[1],
            Block::Code {
                lang: "python".into(),
                code: "print(1 < 2)\n".into()
            }
        );
        let Block::Html(rest) = &blocks[2] else {
            panic!("{blocks:?}")
        };
        assert!(
            rest.contains("<code class=\"language-sh\">ls"),
            "nested code stays: {rest}"
        );
        assert!(!rest.contains("<script"), "{rest}");
    }

    #[test]
    fn renders_code_blocks_lists_and_emphasis() {
        let html = render("Hi **there**\n\n```python\nprint(1 < 2)\n```\n\n- a\n- b\n");
        assert!(html.contains("<strong>there</strong>"), "{html}");
        assert!(
            html.contains("<pre><code class=\"language-python\">print(1 &lt; 2)\n</code></pre>"),
            "{html}"
        );
        assert!(html.contains("<li>a</li>"), "{html}");
    }

    #[test]
    fn strips_scripts_handlers_and_javascript_links() {
        let html = render(
            "<script>alert(1)</script><img src=x onerror=alert(2)> [x](<javascript:alert(3)>) \
             <a href=\"javascript:alert(4)\">y</a> <iframe src=\"https://evil.test\"></iframe> \
             [z](data:text/html,hi) <a href=\"https://ok.test\" onclick=\"evil()\">ok</a>",
        );
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<iframe"), "{html}");
        assert!(!html.contains("onerror"), "{html}");
        assert!(!html.contains("onclick"), "{html}");
        for attr in ["href=\"javascript", "src=\"javascript", "href=\"data:"] {
            assert!(!html.contains(attr), "{attr} in {html}");
        }
        assert!(html.contains("href=\"https://ok.test\""), "{html}");
        assert!(
            html.contains("rel=\"noopener noreferrer nofollow\""),
            "{html}"
        );
    }

    #[test]
    fn unfinished_markdown_while_streaming_is_still_safe() {
        let html = render("```js\nlet x = '<b>");
        assert!(html.contains("&lt;b&gt;"), "{html}");
    }
}
