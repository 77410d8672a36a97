//! `execute_code`: the model runs code in the conversation's sandbox session,
//! with LibreChat's argument shape (`lang`, `code`, `args`) and language codes.

use crate::{ToolContext, ToolDef, ToolOutput};
use chorus_sandbox::{ExecOutcome, ExecRequest, Language, Sandbox};
use chorus_types::code::supported_codes;
use serde::Deserialize;
use serde_json::json;

pub const EXECUTE_CODE: &str = "execute_code";

/// The most of a run's output the model is shown (the rest is cut, and it is
/// told so): a megabyte of stdout would crowd out the conversation.
const MAX_CONTENT_CHARS: usize = 20_000;

pub(crate) fn definition() -> ToolDef {
    let codes: Vec<&str> = Language::ALL.iter().map(|l| l.code()).collect();
    ToolDef {
        name: EXECUTE_CODE.into(),
        description: format!(
            "Runs code in a sandbox and returns its stdout and stderr. Languages: {}. \
             There is no network access. The working directory is /mnt/data: files the \
             user uploaded are there, and files written there are kept for later runs \
             in this conversation and shown to the user (save plots and other results \
             there, e.g. /mnt/data/plot.png). Print what you want to see; nothing else \
             is returned.",
            supported_codes()
        ),
        parameters: json!({
            "type": "object",
            "properties": {
                "lang": {"type": "string", "enum": codes, "description": "The language's code."},
                "code": {"type": "string", "description": "The complete program to run."},
                "args": {"type": "array", "items": {"type": "string"}, "description": "Command-line arguments (optional)."}
            },
            "required": ["lang", "code"]
        }),
    }
}

#[derive(Deserialize)]
struct Args {
    lang: String,
    code: String,
    #[serde(default)]
    args: Vec<String>,
}

pub(crate) async fn call(sandbox: &Sandbox, ctx: &ToolContext, arguments: &str) -> ToolOutput {
    let args: Args = match serde_json::from_str(arguments) {
        Ok(a) => a,
        Err(e) => {
            return ToolOutput::error(format!(
                "The arguments are not valid: {e}. Send a JSON object with \"lang\" and \"code\"."
            ));
        }
    };
    let Some(lang) = Language::from_code(&args.lang) else {
        return ToolOutput::error(format!(
            "The language {:?} cannot run here; use one of: {}.",
            args.lang,
            supported_codes()
        ));
    };
    let request = ExecRequest {
        args: args.args,
        session_id: ctx.session.clone(),
        ..ExecRequest::new(lang, args.code)
    };
    match sandbox.exec(&ctx.user, request).await {
        Ok(outcome) => output(outcome),
        Err(e) => ToolOutput::error(format!("The code could not be run: {e}.")),
    }
}

/// What the model reads of a run: its streams, how it ended, the files it wrote.
fn output(outcome: ExecOutcome) -> ToolOutput {
    let mut content = String::new();
    if !outcome.stdout.is_empty() {
        content.push_str("stdout:\n");
        content.push_str(&outcome.stdout);
        if !content.ends_with('\n') {
            content.push('\n');
        }
    }
    if !outcome.stderr.is_empty() {
        content.push_str("stderr:\n");
        content.push_str(&outcome.stderr);
        if !content.ends_with('\n') {
            content.push('\n');
        }
    }
    let failed = outcome.timed_out || outcome.exit_code != Some(0);
    match outcome.exit_code {
        Some(0) => {}
        Some(code) => content.push_str(&format!("exit code: {code}\n")),
        // The sandbox's own words on why (time, memory) are already in stderr.
        None => content.push_str("the program was killed\n"),
    }
    if content.is_empty() {
        content.push_str("(no output)\n");
    }
    if !outcome.files.is_empty() {
        content.push_str("files written:\n");
        for f in &outcome.files {
            content.push_str(&format!("- /mnt/data/{} ({} bytes)\n", f.name, f.size));
        }
    }
    ToolOutput {
        content: cut(content),
        is_error: failed,
        files: outcome.files,
    }
}

fn cut(mut content: String) -> String {
    if let Some((at, _)) = content.char_indices().nth(MAX_CONTENT_CHARS) {
        content.truncate(at);
        content.push_str("\n[output cut: only the first 20000 characters are shown]\n");
    }
    content
}

#[cfg(test)]
mod tests {
    use super::*;
    use chorus_sandbox::FileEntry;

    fn outcome() -> ExecOutcome {
        ExecOutcome {
            session_id: "s".into(),
            stdout: String::new(),
            stderr: String::new(),
            exit_code: Some(0),
            signal: None,
            timed_out: false,
            oom_killed: false,
            pids_limited: false,
            output_truncated: false,
            session_full: false,
            files: Vec::new(),
            duration_ms: 5,
        }
    }

    #[test]
    fn the_model_reads_streams_exit_code_and_files() {
        let out = output(ExecOutcome {
            stdout: "hi".into(),
            stderr: "oops\n".into(),
            exit_code: Some(3),
            files: vec![FileEntry {
                id: "f".into(),
                name: "plot.png".into(),
                size: 12,
                modified: 0,
            }],
            ..outcome()
        });
        assert_eq!(
            out.content,
            "stdout:\nhi\nstderr:\noops\nexit code: 3\nfiles written:\n- /mnt/data/plot.png (12 bytes)\n"
        );
        assert!(out.is_error);
        assert_eq!(out.files.len(), 1);
    }

    #[test]
    fn a_silent_success_says_so_and_long_output_is_cut() {
        let out = output(outcome());
        assert_eq!(out.content, "(no output)\n");
        assert!(!out.is_error);
        let long = output(ExecOutcome {
            stdout: "é".repeat(30_000),
            ..outcome()
        });
        assert!(
            long.content
                .ends_with("only the first 20000 characters are shown]\n")
        );
        assert_eq!(
            long.content.chars().filter(|c| *c == 'é').count(),
            20_000 - 8
        );
    }
}
