//! The languages the sandbox runs, by LibreChat's code-API language codes, and the
//! command line that compiles (where needed) and runs a program in the container.
//!
//! The program is mounted read-only at `/sandbox/<file>`; compilers write to `/tmp`
//! (a size-limited tmpfs), so `/mnt/data` only ever holds the user's own files.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Py,
    Js,
    Ts,
    C,
    Cpp,
    Java,
    Php,
    Rs,
    Go,
    F90,
    Bash,
}

impl Language {
    pub const ALL: [Language; 11] = [
        Language::Py,
        Language::Js,
        Language::Ts,
        Language::C,
        Language::Cpp,
        Language::Java,
        Language::Php,
        Language::Rs,
        Language::Go,
        Language::F90,
        Language::Bash,
    ];

    /// Accepts LibreChat's codes and the names people (and models, and markdown
    /// code fences) commonly use for them.
    pub fn from_code(code: &str) -> Option<Language> {
        Some(match code.trim().to_ascii_lowercase().as_str() {
            "py" | "python" | "python3" => Language::Py,
            "js" | "javascript" | "node" | "nodejs" => Language::Js,
            "ts" | "typescript" => Language::Ts,
            "c" => Language::C,
            "cpp" | "c++" | "cxx" | "cc" => Language::Cpp,
            "java" => Language::Java,
            "php" => Language::Php,
            "rs" | "rust" => Language::Rs,
            "go" | "golang" => Language::Go,
            "f90" | "fortran" => Language::F90,
            "bash" | "sh" | "shell" => Language::Bash,
            _ => return None,
        })
    }

    /// LibreChat's code for the language.
    pub fn code(self) -> &'static str {
        match self {
            Language::Py => "py",
            Language::Js => "js",
            Language::Ts => "ts",
            Language::C => "c",
            Language::Cpp => "cpp",
            Language::Java => "java",
            Language::Php => "php",
            Language::Rs => "rs",
            Language::Go => "go",
            Language::F90 => "f90",
            Language::Bash => "bash",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Language::Py => "Python",
            Language::Js => "JavaScript",
            Language::Ts => "TypeScript",
            Language::C => "C",
            Language::Cpp => "C++",
            Language::Java => "Java",
            Language::Php => "PHP",
            Language::Rs => "Rust",
            Language::Go => "Go",
            Language::F90 => "Fortran",
            Language::Bash => "Bash",
        }
    }

    /// The program's file name under `/sandbox`.
    pub fn file_name(self) -> &'static str {
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
    pub fn command(self, args: &[String]) -> Vec<String> {
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

pub fn supported_codes() -> String {
    Language::ALL.map(Language::code).join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_and_names_are_accepted() {
        for lang in Language::ALL {
            assert_eq!(Language::from_code(lang.code()), Some(lang));
        }
        assert_eq!(Language::from_code("Python"), Some(Language::Py));
        assert_eq!(Language::from_code("c++"), Some(Language::Cpp));
        assert_eq!(Language::from_code("r"), None);
    }

    #[test]
    fn arguments_follow_the_script_unquoted() {
        let argv = Language::Py.command(&["a b".into(), "$HOME".into()]);
        assert_eq!(&argv[..2], ["/bin/sh", "-c"]);
        assert_eq!(&argv[3..], ["chorus", "a b", "$HOME"]);
    }
}
