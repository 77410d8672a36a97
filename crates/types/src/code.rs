//! The languages the code sandbox runs, by LibreChat's code-API language codes.
//! Here rather than in the sandbox so the browser knows which code blocks get a
//! Run button.

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
}
