#!/bin/sh
# Seeds fuzz/corpus/TARGET from the examples, the test programs and the
# tests/check cases (docs/testing.md). Run from the repository root or fuzz/.
set -eu
cd "$(dirname "$0")"
root=..
for target in parser checker build_all; do
    mkdir -p "corpus/$target"
    find "$root/examples" "$root/tests" "$root/stdlib" -name '*.npl' | while read -r f; do
        cp "$f" "corpus/$target/$(echo "$f" | sed 's|^\.\./||; s|/|_|g')"
    done
done
# The language server: each program opened, hovered, completed, formatted.
mkdir -p corpus/lsp
i=0
find "$root/examples" "$root/tests/check" -name 'input.npl' -o -path "$root/examples/*" -name '*.npl' | while read -r f; do
    i=$((i + 1))
    python3 - "$f" "corpus/lsp/seed-$i" <<'PY'
import json, sys
text = open(sys.argv[1], encoding="utf-8", errors="replace").read()
uri = "file:///fuzz/main.npl"
msgs = [
    {"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {"uri": uri, "languageId": "npl", "version": 1, "text": text}}},
    {"jsonrpc": "2.0", "id": 1, "method": "textDocument/hover", "params": {"textDocument": {"uri": uri}, "position": {"line": 1, "character": 7}}},
    {"jsonrpc": "2.0", "id": 2, "method": "textDocument/completion", "params": {"textDocument": {"uri": uri}, "position": {"line": 2, "character": 3}}},
    {"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 4}}, "text": "allow "}]}},
    {"jsonrpc": "2.0", "id": 3, "method": "textDocument/formatting", "params": {"textDocument": {"uri": uri}, "options": {"tabSize": 2, "insertSpaces": True}}},
    {"jsonrpc": "2.0", "id": 4, "method": "textDocument/semanticTokens/full", "params": {"textDocument": {"uri": uri}}},
    {"jsonrpc": "2.0", "id": 5, "method": "textDocument/rename", "params": {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 6}, "newName": "renamed"}},
    {"jsonrpc": "2.0", "id": 6, "method": "textDocument/documentSymbol", "params": {"textDocument": {"uri": uri}}},
]
out = b""
for m in msgs:
    body = json.dumps(m).encode()
    out += b"Content-Length: %d\r\n\r\n" % len(body) + body
open(sys.argv[2], "wb").write(out)
PY
done
echo "seeded: $(ls corpus/parser | wc -l) programs, $(ls corpus/lsp | wc -l) LSP sessions"
