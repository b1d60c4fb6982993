#!/usr/bin/env bash
# Loads every monitors file found in a git checkout of the Go original (ziad-hsn/cpra) with
# `cpra check`: on every branch, its YAML and JSON files and the fenced yaml/json blocks of
# its Markdown docs that hold `monitors:`, each also in the JSON that its own yaml_to_json
# converter would produce. Prints one line per sample: OK with the warning count, or FAILED
# with the errors; a sample that the Go original itself cannot parse (a doc fragment with
# `...` in it) is reported SKIPPED with the reason.
#   tools/go_samples.sh REPO_OR_FOLDER [path/to/cpra]   (a git checkout, or a plain folder of files)
# Exit status 1 when any sample fails. Needs /usr/bin/python3 with PyYAML (python3-yaml).
set -u
dir=${1:?usage: tools/go_samples.sh REPO_DIR [cpra]}
cpra=${2:-target/release/cpra}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! /usr/bin/python3 -c 'import yaml' 2>/dev/null; then
    echo "needs /usr/bin/python3 with PyYAML: apt-get install -y python3-yaml" >&2
    exit 2
fi
# Extraction: one file per sample under $tmp, named after branch, path and block number.
/usr/bin/python3 - "$dir" "$tmp" <<'PY'
import json, os, re, subprocess, sys, yaml
repo, out = sys.argv[1], sys.argv[2]
git = lambda *a: subprocess.run(["git", "-C", repo, *a], capture_output=True, text=True).stdout if os.path.isdir(os.path.join(repo, ".git")) or os.path.exists(os.path.join(repo, "HEAD")) else ""
refs = [r.strip() for r in git("for-each-ref", "--format=%(refname)", "refs/heads", "refs/remotes").split() if not r.endswith("/HEAD")]
seen = set()
n = 0
def emit(name, text, kind):
    global n
    if text in seen or not re.search(r'^\s*"?monitors"?\s*:', text, re.M):
        return
    seen.add(text)
    n += 1
    base = f"{out}/{n:03d}-" + re.sub(r"[^A-Za-z0-9.]+", "_", name)[-80:]
    open(f"{base}.{kind}", "w").write(text)
    if kind == "yaml":
        try:
            json.dump(yaml.safe_load(text), open(f"{base}.yaml.json", "w"))
        except Exception as e:
            open(f"{base}.skip", "w").write(f"not YAML the Go original could parse: {str(e).splitlines()[0]}")
import os
if not refs:  # a plain folder of files (say, samples saved from the code index)
    for root, _, files in os.walk(repo):
        for f in sorted(files):
            low = f.lower()
            if low.endswith((".yaml", ".yml", ".json")):
                emit(f, open(os.path.join(root, f), errors="replace").read(), "json" if low.endswith(".json") else "yaml")
for ref in refs:
    for path in git("ls-tree", "-r", "--name-only", ref).splitlines():
        low = path.lower()
        if not low.endswith((".yaml", ".yml", ".json", ".md")) or low.startswith(".github"):
            continue
        text = git("show", f"{ref}:{path}")
        label = ref.split("/")[-1] + "/" + path
        if low.endswith(".md"):
            for i, m in enumerate(re.finditer(r"```(ya?ml|json)\n(.*?)```", text, re.S)):
                emit(f"{label}#{i}", m.group(2), "json" if m.group(1) == "json" else "yaml")
        else:
            emit(label, text, "json" if low.endswith(".json") else "yaml")
print(f"{n} distinct samples", file=sys.stderr)
PY
failed=0
total=0
for f in "$tmp"/*.yaml "$tmp"/*.json; do
    [ -e "$f" ] || continue
    base=${f%.yaml.json}
    base=${base%.yaml}
    base=${base%.json}
    if [ -e "$base.skip" ]; then
        echo "SKIPPED $(basename "$f"): $(cat "$base.skip")"
        continue
    fi
    total=$((total + 1))
    out=$("$cpra" check "$f" 2>&1)
    if [ $? = 0 ]; then
        echo "OK      $(basename "$f") ($(grep -c '^warning: ' <<<"$out") warnings)"
    else
        echo "FAILED  $(basename "$f")"
        sed 's/^/        /' <<<"$out" | head -20
        failed=1
    fi
done
[ $total -gt 0 ] || { echo "no monitors samples in $dir"; exit 1; }
exit $failed
