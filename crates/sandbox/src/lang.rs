//! How each language runs in the container: the program's file name and the
//! command line that compiles (where needed) and runs it.
//!
//! The program is mounted read-only at `/sandbox/<file>`; compilers write to `/tmp`
//! (a size-limited tmpfs), so `/mnt/data` only ever holds the user's own files.

pub use chorus_types::code::Language;

pub trait Run {
    fn file_name(self) -> &'static str;
    fn command(self, args: &[String]) -> Vec<String>;
}

impl Run for Language {
    /// The program's file name under `/sandbox`.
    fn file_name(self) -> &'static str {
        match self {
            Language::Py => "main.py",
            Language::Js => "main.js",
            Language::Ts => "main.ts",
            Language::C => "main.c",
            Language::Cpp => "main.cpp",
            // The single-file source launcher accepts any class name in any file name.
            Language::Java => "Main.java",
            Language::Php => "main.php",
            Language::Rs => "main.rs",
            Language::Go => "main.go",
            Language::F90 => "main.f90",
            Language::Bash => "main.sh",
        }
    }

    /// The container's process: `sh -c <script> chorus <args…>` so that the user's
    /// arguments reach the program as `"$@"` without any quoting of ours.
    fn command(self, args: &[String]) -> Vec<String> {
        let src = format!("/sandbox/{}", self.file_name());
        let script = match self {
            Language::Py => format!("exec /opt/python/bin/python3 {src} \"$@\""),
            Language::Js => format!("exec node {src} \"$@\""),
            // tsc type-checks without @types/node, so its diagnostics are noise for
            // most scripts; it still emits JavaScript, which is what runs. Its
            // messages are shown only when it produced nothing.
            Language::Ts => format!(
                "tsc --outDir /tmp/ts --target es2020 --module commonjs --skipLibCheck {src} >/tmp/tsc.log 2>&1; \
                 [ -f /tmp/ts/main.js ] || {{ cat /tmp/tsc.log >&2; exit 1; }}; exec node /tmp/ts/main.js \"$@\""
            ),
            Language::C => format!("gcc -O1 -o /tmp/main {src} -lm && exec /tmp/main \"$@\""),
            Language::Cpp => format!("g++ -O1 -o /tmp/main {src} && exec /tmp/main \"$@\""),
            Language::Java => format!(
                "exec java -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xmx256m -Xss1m {src} \"$@\""
            ),
            Language::Php => format!("exec php {src} \"$@\""),
            Language::Rs => {
                format!("rustc --edition 2021 -o /tmp/main {src} && exec /tmp/main \"$@\"")
            }
            Language::Go => format!("go build -o /tmp/main {src} && exec /tmp/main \"$@\""),
            Language::F90 => format!("gfortran -o /tmp/main {src} && exec /tmp/main \"$@\""),
            Language::Bash => format!("exec bash {src} \"$@\""),
        };
        let mut argv = vec!["/bin/sh".into(), "-c".into(), script, "chorus".into()];
        argv.extend(args.iter().cloned());
        argv
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_follow_the_script_unquoted() {
        let argv = Language::Py.command(&["a b".into(), "$HOME".into()]);
        assert_eq!(&argv[..2], ["/bin/sh", "-c"]);
        assert_eq!(&argv[3..], ["chorus", "a b", "$HOME"]);
    }
}
