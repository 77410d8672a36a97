//! Markdown to HTML that is safe to put in the page. Model output and user text
//! are untrusted: raw HTML, `javascript:` links, event handlers and the like are
//! removed by ammonia after pulldown-cmark renders. The same code runs on the
//! server (first render) and in the browser (while an answer streams).

use pulldown_cmark::{Options, Parser, html};

/// Renders `markdown` (CommonMark + tables, strikethrough, task lists) to
/// sanitized HTML.
pub fn render(markdown: &str) -> String {
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_FOOTNOTES;
    let mut raw = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut raw, Parser::new_ext(markdown, options));
    sanitize(&raw)
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
    use super::render;

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
