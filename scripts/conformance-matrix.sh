#!/usr/bin/env bash
# Regenerates docs/CONFORMANCE.md from the results of the conformance suite.
#
#   bash scripts/conformance-matrix.sh            # run the suite, write docs/CONFORMANCE.md
#   bash scripts/conformance-matrix.sh LOG        # render from a saved `cargo test` output
#
# The matrix is never edited by hand: every cell is a test of `tests/tests/conformance/`
# whose name encodes the cell (see the module docs there), and its state here is that test's
# result. Ignored tests show their reason ("pending: …", "bug: …"); they never count as passed.
set -euo pipefail
cd "$(dirname "$0")/.."

log=$(mktemp)
trap 'rm -f "$log"' EXIT
if [[ $# -ge 1 ]]; then
    cp "$1" "$log"
else
    # A failing test must not stop the matrix from being written: it shows as FAIL.
    cargo test -p zmq-tests --test conformance -- --test-threads=2 >"$log" 2>&1 || true
fi

python3 - "$log" docs/CONFORMANCE.md <<'PY'
import re, sys, collections

log_path, out_path = sys.argv[1], sys.argv[2]
results = {}
for line in open(log_path, encoding="utf-8", errors="replace"):
    m = re.match(r"^test (\S+) \.\.\. (ok|FAILED|ignored)(?:, (.*))?$", line.rstrip("\n"))
    if m:
        name, state, reason = m.groups()
        results[name] = (state, reason or "")
if not results:
    sys.exit("no test results found in the cargo output: did the suite compile?")

# Ignored tests are told apart by how their reason starts: (prefix, summary kind, cell label).
IGNORED = [
    ("pending", "pending", "pending"),
    ("bug", "ignored (bug)", "**bug** (ignored)"),
    ("libzmq bug", "ignored (libzmq bug)", "libzmq bug (ignored)"),
]

def classify(r):
    """(summary kind, cell label) of one test result."""
    state, reason = r
    if state == "ok":
        return "passed", "pass"
    if state == "FAILED":
        return "failed", "**FAIL**"
    for prefix, kind_, label in IGNORED:
        if reason.startswith(prefix):
            return kind_, label
    return "ignored", "ignored"

def show(r):
    return classify(r)[1]

def kind(r):
    return classify(r)[0]

counts = collections.Counter(kind(r) for r in results.values())
out = []
w = out.append
w("# Conformance with libzmq 4.3.4")
w("")
w("**Generated file — do not edit.** Regenerate with `bash scripts/conformance-matrix.sh` "
  "(runs `cargo test -p zmq-tests --test conformance` and renders its results). Every cell "
  "below is one test in `tests/tests/conformance/`, named after the cell.")
w("")
w("States: `pass` = the test passed; `**FAIL**` = it failed; `**bug** (ignored)` = a known "
  "difference from libzmq, test marked `#[ignore = \"bug: …\"]` (reason listed below); "
  "`libzmq bug (ignored)` = libzmq itself fails that exchange, also against libzmq (reason "
  "and proof listed below); `pending` = cannot run yet (reason listed below). Only `pass` is "
  "a claim of conformance.")
w("")
w("## Summary")
w("")
w("| state | tests |")
w("|---|---|")
for k in ["passed", "failed", "ignored (bug)", "ignored (libzmq bug)", "pending", "ignored"]:
    if counts[k]:
        w(f"| {k} | {counts[k]} |")
w(f"| **total** | {sum(counts.values())} |")
w("")

# --- the RFC 37 pair matrix -------------------------------------------------------------
matrix = collections.defaultdict(dict)  # (mech) -> {(pair, ours, binder, transport): result}
pairs, labels = [], collections.defaultdict(list)
for name, r in results.items():
    p = name.split("::")
    if p[0] != "matrix" or len(p) != 6:
        continue
    _, pair, ours, binder, transport, mech = p
    if pair not in pairs:
        pairs.append(pair)
    if ours not in labels[pair]:
        labels[pair].append(ours)
    matrix[mech][(pair, ours, binder, transport)] = r

order = ["pair_pair", "req_rep", "req_router", "dealer_rep", "dealer_router", "dealer_dealer",
         "router_router", "pub_sub", "pub_xsub", "xpub_sub", "xpub_xsub", "push_pull"]
pairs.sort(key=lambda x: order.index(x) if x in order else len(order))
mech_title = {
    "null": "NULL",
    "plain_ok": "PLAIN, right credentials",
    "plain_wrong_password": "PLAIN, wrong password (handshake refused, nothing delivered)",
}
if matrix:
    w("## RFC 37 pairs: our socket × libzmq 4.3.4 (ZMTP 3.1 peer)")
    w("")
    w("Dimensions: pair × which end is ours (the other end is libzmq) × which end binds × "
      "transport × mechanism. Test name: "
      "`matrix::<pair>::ours_<type>::<binds|connects>::<tcp|ipc>::<mechanism>`, where "
      "`binds`/`connects` is what *our* socket does. Each cell sends messages both ways where "
      "the pattern allows, including a multipart message with empty frames; PUB/XPUB cells "
      "check filtering and that a cancel takes effect; XPUB cells check the subscription and "
      "cancel messages; ROUTER cells check routing ids (explicit on both ends for "
      "ROUTER–ROUTER).")
    w("")
    for mech in ["null", "plain_ok", "plain_wrong_password"] + sorted(
            m for m in matrix if m not in mech_title):
        cells = matrix.get(mech)
        if not cells:
            continue
        w(f"### {mech_title.get(mech, mech)}")
        w("")
        w("| pair | ours | ours binds, tcp | ours binds, ipc | ours connects, tcp | "
          "ours connects, ipc |")
        w("|---|---|---|---|---|---|")
        for pair in pairs:
            for ours in labels[pair]:
                row = [pair.replace("_", "–", 1).upper().replace("–", "–"),
                       ours.removeprefix("ours_").upper()]
                for binder in ["binds", "connects"]:
                    for t in ["tcp", "ipc"]:
                        r = cells.get((pair, ours, binder, t))
                        row.append(show(r) if r else "—")
                w("| " + " | ".join(row) + " |")
        w("")

# --- everything else, by module ---------------------------------------------------------
titles = {
    "cases": "Cases that break real programs (ours × libzmq 4.3.4)",
    "old_peers": "Old peers: hand-written ZMTP 2.0 (RFC 15) / 1.0 (RFC 13) byte peers × our sockets (ZMTP 3.0 peers: `cases::zmtp30_*`)",
    "spec": "libzmq's test_spec_* behaviours, over tcp and ipc (peers ours or libzmq)",
    "stream": "STREAM × libzmq 4.3.4 STREAM (raw bytes, no ZMTP; differences below)",
}
others = collections.defaultdict(list)
for name, r in sorted(results.items()):
    p = name.split("::")
    if p[0] == "matrix":
        continue
    others[p[0]].append(("::".join(p[1:]) or p[0], r))
for mod in ["old_peers", "cases", "spec", "stream"] + sorted(m for m in others if m not in titles):
    rows = others.get(mod)
    if not rows:
        continue
    w(f"## {titles.get(mod, mod)}")
    w("")
    w(f"Test names are `{mod}::<name below>`.")
    w("")
    w("| test | state |")
    w("|---|---|")
    for n, r in rows:
        w(f"| `{n}` | {show(r)} |")
    w("")

reasons = sorted({(r[1], n) for n, r in results.items() if r[0] == "ignored" and r[1]})
if reasons:
    w("## Why tests are not run")
    w("")
    by = collections.defaultdict(list)
    for reason, n in reasons:
        by[reason].append(n)
    for reason, names in sorted(by.items()):
        w(f"- {reason} — {len(names)} test(s)" + (
            ": " + ", ".join(f"`{x}`" for x in names) if len(names) <= 6 else ""))
    w("")

failed = sorted(n for n, r in results.items() if r[0] == "FAILED")
if failed:
    w("## Failing")
    w("")
    for n in failed:
        w(f"- `{n}`")
    w("")

# Hand-written sections below this marker are kept as they are.
MARKER = "<!-- Hand-written below this line: scripts/conformance-matrix.sh keeps it. -->"
try:
    previous = open(out_path, encoding="utf-8").read()
except FileNotFoundError:
    previous = ""
if MARKER in previous:
    out.append(MARKER + previous.split(MARKER, 1)[1].rstrip("\n"))
    out.append("")

open(out_path, "w", encoding="utf-8").write("\n".join(out))
print(f"wrote {out_path}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
PY
