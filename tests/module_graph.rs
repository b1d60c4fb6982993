//! The module graph runs one way (docs/architecture.md, "Module graph"): a module may use the
//! ones below it and never one above, so a stage never reaches downstream for a type. This test
//! reads every source file and fails on a `crate::<module>` reference the table does not allow
//! (in code or docs alike: a doc link downstream is a dependency too).

use std::collections::BTreeMap;
use std::path::Path;

/// What each top-level module may use (besides itself).
const ALLOWED: &[(&str, &[&str])] = &[
    ("vocab", &[]),
    ("limits", &[]),
    ("log", &[]),
    ("mem", &[]),
    ("config", &["vocab", "limits", "log"]),
    ("store", &["config", "vocab", "limits", "log"]),
    ("schedule", &["vocab", "limits", "log"]),
    ("probe", &["config", "store", "vocab", "limits", "log"]),
    ("lifecycle", &["vocab", "limits", "log"]),
    ("snapshot", &["vocab", "limits", "log"]),
    ("stats", &["config", "lifecycle", "vocab", "limits", "log"]),
    (
        "effects",
        &["config", "store", "lifecycle", "vocab", "limits", "log"],
    ),
    (
        "api",
        &[
            "config",
            "store",
            "lifecycle",
            "stats",
            "effects",
            "vocab",
            "limits",
            "log",
        ],
    ),
    (
        "engine",
        &[
            "config",
            "store",
            "schedule",
            "probe",
            "lifecycle",
            "snapshot",
            "stats",
            "effects",
            "api",
            "vocab",
            "limits",
            "log",
            "mem",
        ],
    ),
    (
        "cli",
        &[
            "config",
            "store",
            "schedule",
            "probe",
            "lifecycle",
            "snapshot",
            "stats",
            "effects",
            "api",
            "engine",
            "vocab",
            "limits",
            "log",
            "mem",
        ],
    ),
    // The load tools' model of a fleet: no production module may use it.
    ("fleet", &["vocab", "limits", "log"]),
];

fn module_of(root: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(root).ok()?;
    let first = rel
        .components()
        .next()?
        .as_os_str()
        .to_string_lossy()
        .to_string();
    Some(first.trim_end_matches(".rs").to_string())
}

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn every_module_uses_only_what_is_below_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut files = Vec::new();
    sources(&root, &mut files);
    let mut wrong = Vec::new();
    let mut seen_modules = std::collections::BTreeSet::new();
    for f in &files {
        let Some(m) = module_of(&root, f) else {
            continue;
        };
        if m == "lib" || m == "bin" {
            continue; // The crate root declares the modules; binaries are on top.
        }
        seen_modules.insert(m.clone());
        let Some(ok) = allowed.get(m.as_str()) else {
            wrong.push(format!("{}: module {m:?} is not in the table", f.display()));
            continue;
        };
        let text = std::fs::read_to_string(f).unwrap();
        for (n, line) in text.lines().enumerate() {
            let mut rest = line;
            while let Some(at) = rest.find("crate::") {
                let after = &rest[at + "crate::".len()..];
                let name: String = after
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if name != m && allowed.contains_key(name.as_str()) && !ok.contains(&name.as_str())
                {
                    wrong.push(format!("{}:{}: {m} uses {name}", f.display(), n + 1));
                }
                rest = after;
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "the module graph runs backwards:\n{}",
        wrong.join("\n")
    );
    for m in allowed.keys() {
        assert!(
            seen_modules.contains(*m),
            "module {m} in the table but not in src/"
        );
    }
}

/// The table itself is one-way: no two modules may use each other.
#[test]
fn the_table_has_no_cycle() {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    fn reaches(allowed: &BTreeMap<&str, &[&str]>, from: &str, to: &str, depth: usize) -> bool {
        depth < 32
            && allowed.get(from).is_some_and(|d| {
                d.iter()
                    .any(|n| *n == to || reaches(allowed, n, to, depth + 1))
            })
    }
    for m in allowed.keys() {
        assert!(!reaches(&allowed, m, m, 0), "{m} reaches itself");
    }
}
