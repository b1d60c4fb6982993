//! Issue 14's fuzz target, run in CI: mutated configuration files (bytes changed, lines dropped
//! or repeated, document markers and NULs inserted, truncation) never panic the loader, load in
//! bounded time, and either load whole or are refused: when a file loads, the number of
//! monitors equals what an independent parser (yaml-rust2's document loader; serde_json for
//! JSON) counts in its `monitors` list.

use std::time::{Duration, Instant};

use cpra::config::{Format, LoadOptions, load_bytes};
use proptest::prelude::*;

fn yaml_base() -> String {
    let mut y = String::from(
        "x-pc: &pc {type: tcp, interval: 10s, timeout: 1s}\nalerting: {storm_threshold: 5}\nmonitors:\n",
    );
    for i in 0..24 {
        match i % 4 {
            0 => y.push_str(&format!(
                "  - name: web-{i}\n    pulse_check:\n      type: http\n      interval: 30s\n      timeout: 5s\n      config:\n        url: \"http://10.0.0.{i}:8080/health\"\n        headers: {{X-A: b}}\n    codes:\n      red: {{notify: log, config: {{file: a.log}}}}\n"
            )),
            1 => y.push_str(&format!(
                "  - name: tcp-{i}\n    pulse_check:\n      <<: *pc\n      config: {{host: 10.1.0.{i}, port: 5432}}\n    intervention: {{action: exec, target: {{command: [/bin/true]}}}}\n"
            )),
            2 => y.push_str(&format!(
                "  - {{name: dns-{i}, pulse_check: {{type: dns, interval: 1m, timeout: 2s, config: {{server: '10.0.0.53:53', query: example.com, record_type: A}}}}}}\n"
            )),
            _ => y.push_str(&format!(
                "  - name: \"quoted {i}\"\n    enabled: false\n    pulse_check: {{type: icmp, interval: 5s, timeout: 1s, config: {{host: 10.2.0.{i}, count: 2}}}}\n"
            )),
        }
    }
    y
}

fn json_base() -> String {
    let items: Vec<String> = (0..24)
        .map(|i| format!("{{\"name\": \"m{i}\", \"pulse_check\": {{\"type\": \"tcp\", \"interval\": \"10s\", \"timeout\": \"1s\", \"config\": {{\"host\": \"10.0.0.{i}\", \"port\": 80}}}}, \"codes\": {{\"red\": {{\"notify\": \"log\", \"config\": {{\"file\": \"a.log\"}}}}}}}}"))
        .collect();
    format!("{{\"monitors\": [\n{}\n]}}\n", items.join(",\n"))
}

#[derive(Debug, Clone)]
enum Mutation {
    Byte(usize, u8),
    DropLine(usize),
    RepeatLine(usize),
    Insert(usize, &'static str),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    const BYTES: &[u8] = b":- \n{}[],&*#'\"\0x1~<|>!%@`\t\\";
    const INSERTS: &[&str] = &[
        "---\n",
        "...\n",
        "\0",
        "<<: *pc\n",
        "  - ~\n",
        "monitors: []\n",
        "\u{feff}",
    ];
    prop_oneof![
        (any::<usize>(), prop::sample::select(BYTES)).prop_map(|(a, b)| Mutation::Byte(a, b)),
        any::<usize>().prop_map(Mutation::DropLine),
        any::<usize>().prop_map(Mutation::RepeatLine),
        (any::<usize>(), prop::sample::select(INSERTS)).prop_map(|(a, s)| Mutation::Insert(a, s)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(text: &str, muts: &[Mutation]) -> Vec<u8> {
    let mut b = text.as_bytes().to_vec();
    for m in muts {
        if b.is_empty() {
            break;
        }
        let lines: Vec<(usize, usize)> = {
            let mut v = Vec::new();
            let mut start = 0;
            for (i, c) in b.iter().enumerate() {
                if *c == b'\n' {
                    v.push((start, i + 1));
                    start = i + 1;
                }
            }
            if start < b.len() {
                v.push((start, b.len()));
            }
            v
        };
        match m {
            Mutation::Byte(at, x) => {
                let n = b.len();
                b[at % n] = *x;
            }
            Mutation::DropLine(at) => {
                let (s, e) = lines[at % lines.len()];
                b.drain(s..e);
            }
            Mutation::RepeatLine(at) => {
                let (s, e) = lines[at % lines.len()];
                let line = b[s..e].to_vec();
                b.splice(e..e, line);
            }
            Mutation::Insert(at, s) => {
                let (start, _) = lines[at % lines.len()];
                b.splice(start..start, s.bytes());
            }
            Mutation::Truncate(at) => b.truncate(at % b.len()),
        }
    }
    b
}

/// Nothing but whitespace (after a byte-order mark).
fn blank(bytes: &[u8]) -> bool {
    let b = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
    b.iter().all(u8::is_ascii_whitespace)
}

/// Loads `bytes`, in bounded time; `Some(monitors)` when it loaded.
fn cpra_load(bytes: &[u8], format: Format) -> Option<usize> {
    let t0 = Instant::now();
    let r = load_bytes(bytes, format, &LoadOptions::default(), &mut |_| ());
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "load took {:?}",
        t0.elapsed()
    );
    r.ok().map(|r| r.monitors)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 5000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_yaml_loads_whole_or_is_refused(muts in prop::collection::vec(mutation(), 1..4)) {
        let bytes = apply(&yaml_base(), &muts);
        if blank(&bytes) {
            // Documented: an empty file is no monitors (the Go original's reading).
            prop_assert_eq!(cpra_load(&bytes, Format::Yaml), Some(0));
        } else if let Some(n) = cpra_load(&bytes, Format::Yaml) {
            let text = std::str::from_utf8(&bytes).expect("cpra loaded invalid UTF-8");
            let docs = yaml_rust2::YamlLoader::load_from_str(text)
                .unwrap_or_else(|e| panic!("cpra loaded what yaml-rust2 refuses: {e}"));
            prop_assert_eq!(docs.len(), 1, "one document");
            let count = docs[0]["monitors"].as_vec().map_or(0, |v| v.len());
            prop_assert_eq!(n, count, "monitors loaded vs in the file");
        }
    }

    #[test]
    fn mutated_json_loads_whole_or_is_refused(muts in prop::collection::vec(mutation(), 1..4)) {
        let bytes = apply(&json_base(), &muts);
        if blank(&bytes) {
            prop_assert_eq!(cpra_load(&bytes, Format::Json), Some(0));
        } else if let Some(n) = cpra_load(&bytes, Format::Json) {
            // cpra ignores a leading byte-order mark, as the docs say; serde_json does not.
            let plain = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(&bytes);
            let v: serde_json::Value = serde_json::from_slice(plain)
                .unwrap_or_else(|e| panic!("cpra loaded what serde_json refuses: {e}"));
            let count = v["monitors"].as_array().map_or(0, |a| a.len());
            prop_assert_eq!(n, count, "monitors loaded vs in the file");
        }
    }
}

#[test]
fn the_bases_load_whole() {
    assert_eq!(cpra_load(yaml_base().as_bytes(), Format::Yaml), Some(24));
    assert_eq!(cpra_load(json_base().as_bytes(), Format::Json), Some(24));
}
