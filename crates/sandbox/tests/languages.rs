//! Every language: hello world, reading an uploaded file, writing an output file.
//! Each program reads `input.txt` ("world"), prints "hello world" and writes the
//! upper-cased text to `out.txt`.

mod common;

use chorus_sandbox::{ExecRequest, Language, Limits};
use common::*;

async fn check(lang: Language, code: &str) {
    let (sandbox, _work) = sandbox(Limits::default()).await;
    let session = session_with(&sandbox, "input.txt", b"world\n").await;
    let out = sandbox
        .exec(
            "alice",
            ExecRequest {
                session_id: Some(session.clone()),
                ..req(lang, code)
            },
        )
        .await
        .unwrap();
    assert_eq!(out.stdout, "hello world\n", "{lang:?}: {out:#?}");
    assert_eq!(out.exit_code, Some(0), "{lang:?}: {out:#?}");
    let written: Vec<&str> = out.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(written, ["out.txt"], "{lang:?}");
    assert_eq!(read(&sandbox, &session, "out.txt"), b"WORLD", "{lang:?}");
    // The upload is still there, unchanged, for the next execution.
    assert_eq!(read(&sandbox, &session, "input.txt"), b"world\n");
}

#[tokio::test]
async fn python() {
    check(
        Language::Py,
        "data = open('input.txt').read().strip()\n\
         print(f'hello {data}')\n\
         open('out.txt', 'w').write(data.upper())\n",
    )
    .await;
}

#[tokio::test]
async fn javascript() {
    check(
        Language::Js,
        "const fs = require('fs');\n\
         const data = fs.readFileSync('input.txt', 'utf8').trim();\n\
         console.log(`hello ${data}`);\n\
         fs.writeFileSync('out.txt', data.toUpperCase());\n",
    )
    .await;
}

#[tokio::test]
async fn typescript() {
    check(
        Language::Ts,
        "import * as fs from 'fs';\n\
         const data: string = fs.readFileSync('input.txt', 'utf8').trim();\n\
         console.log(`hello ${data}`);\n\
         fs.writeFileSync('out.txt', data.toUpperCase());\n",
    )
    .await;
}

#[tokio::test]
async fn c() {
    check(
        Language::C,
        r#"#include <stdio.h>
#include <string.h>
#include <ctype.h>
int main(void) {
  char buf[256] = {0};
  FILE *f = fopen("input.txt", "r");
  if (!f) return 2;
  fgets(buf, sizeof buf, f);
  fclose(f);
  buf[strcspn(buf, "\n")] = 0;
  printf("hello %s\n", buf);
  FILE *o = fopen("out.txt", "w");
  for (char *p = buf; *p; p++) fputc(toupper((unsigned char)*p), o);
  fclose(o);
  return 0;
}
"#,
    )
    .await;
}

#[tokio::test]
async fn cpp() {
    check(
        Language::Cpp,
        r#"#include <algorithm>
#include <cctype>
#include <fstream>
#include <iostream>
#include <string>
int main() {
  std::ifstream in("input.txt");
  std::string s;
  std::getline(in, s);
  std::cout << "hello " << s << std::endl;
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
  std::ofstream("out.txt") << s;
}
"#,
    )
    .await;
}

#[tokio::test]
async fn java() {
    check(
        Language::Java,
        r#"import java.nio.file.*;
public class Main {
  public static void main(String[] args) throws Exception {
    String s = Files.readString(Path.of("input.txt")).trim();
    System.out.println("hello " + s);
    Files.writeString(Path.of("out.txt"), s.toUpperCase());
  }
}
"#,
    )
    .await;
}

#[tokio::test]
async fn php() {
    check(
        Language::Php,
        "<?php\n$s = trim(file_get_contents('input.txt'));\necho \"hello $s\\n\";\nfile_put_contents('out.txt', strtoupper($s));\n",
    )
    .await;
}

#[tokio::test]
async fn rust() {
    check(
        Language::Rs,
        r#"use std::fs;
fn main() {
    let s = fs::read_to_string("input.txt").unwrap();
    let s = s.trim();
    println!("hello {}", s);
    fs::write("out.txt", s.to_uppercase()).unwrap();
}
"#,
    )
    .await;
}

#[tokio::test]
async fn go() {
    check(
        Language::Go,
        r#"package main

import (
	"fmt"
	"os"
	"strings"
)

func main() {
	b, err := os.ReadFile("input.txt")
	if err != nil {
		panic(err)
	}
	s := strings.TrimSpace(string(b))
	fmt.Println("hello " + s)
	if err := os.WriteFile("out.txt", []byte(strings.ToUpper(s)), 0644); err != nil {
		panic(err)
	}
}
"#,
    )
    .await;
}

#[tokio::test]
async fn fortran() {
    check(
        Language::F90,
        r#"program main
  implicit none
  character(len=100) :: s
  integer :: i
  open(unit=10, file='input.txt', status='old')
  read(10, '(A)') s
  close(10)
  print '(A)', 'hello ' // trim(s)
  do i = 1, len_trim(s)
    if (s(i:i) >= 'a' .and. s(i:i) <= 'z') s(i:i) = achar(iachar(s(i:i)) - 32)
  end do
  open(unit=11, file='out.txt', status='replace', access='stream', form='unformatted')
  write(11) trim(s)
  close(11)
end program main
"#,
    )
    .await;
}

#[tokio::test]
async fn bash() {
    check(
        Language::Bash,
        "s=$(cat input.txt)\necho \"hello $s\"\nprintf '%s' \"${s^^}\" > out.txt\n",
    )
    .await;
}

#[tokio::test]
async fn python_data_stack_draws_a_chart() {
    let (sandbox, _work) = sandbox(Limits::default()).await;
    let out = run(
        &sandbox,
        Language::Py,
        "import numpy as np, pandas as pd, matplotlib.pyplot as plt\n\
         df = pd.DataFrame({'x': np.arange(5), 'y': np.arange(5) ** 2})\n\
         print(int(df['y'].sum()))\n\
         df.plot(x='x', y='y'); plt.savefig('chart.png')\n",
    )
    .await;
    assert_eq!(out.stdout, "30\n", "{out:#?}");
    assert_eq!(out.files.len(), 1, "{out:#?}");
    assert_eq!(out.files[0].name, "chart.png");
    let png = read(&sandbox, &out.session_id, "chart.png");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
}

#[tokio::test]
async fn arguments_reach_the_program_and_errors_come_back() {
    let (sandbox, _work) = sandbox(Limits::default()).await;
    let out = sandbox
        .exec(
            "alice",
            ExecRequest {
                args: vec!["a b".into(), "$HOME".into()],
                ..req(Language::Py, "import sys; print(sys.argv[1:])")
            },
        )
        .await
        .unwrap();
    assert_eq!(out.stdout, "['a b', '$HOME']\n");

    let out = run(
        &sandbox,
        Language::C,
        "int main(void) { return undefined_thing; }",
    )
    .await;
    assert_ne!(out.exit_code, Some(0));
    assert!(out.stderr.contains("undefined_thing"), "{out:#?}");

    let out = run(&sandbox, Language::Py, "raise SystemExit(3)").await;
    assert_eq!(out.exit_code, Some(3));
}

#[tokio::test]
async fn a_session_keeps_its_files_across_executions() {
    let (sandbox, _work) = sandbox(Limits::default()).await;
    let first = run(&sandbox, Language::Bash, "echo 1 > counter").await;
    let second = sandbox
        .exec(
            "alice",
            ExecRequest {
                session_id: Some(first.session_id.clone()),
                ..req(
                    Language::Bash,
                    "echo $(( $(cat counter) + 1 )) > counter; cat counter; rm -f gone",
                )
            },
        )
        .await
        .unwrap();
    assert_eq!(second.stdout, "2\n");
    assert_eq!(second.session_id, first.session_id);
    // The file keeps its id when it changes.
    assert_eq!(second.files[0].id, first.files[0].id);
}
