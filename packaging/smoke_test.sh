#!/usr/bin/env bash
# The bundle runs on a machine without Python or the source tree (`make package-test`).
#
# Copies dist/Stylist/ (or the folder given) to an empty folder and runs it there with a clean
# environment (`env -i`, a temporary HOME): --version says "bundle"; `demo` then
# `--demo suggest --json` give outfits; the window opens under Xvfb (xwininfo finds it) and
# closes cleanly on SIGTERM; thumbs start a personal training from the bundle, and the version
# it makes is the one that ranks. Needs Xvfb and xwininfo (apt: xvfb x11-utils) and python3 to
# read the JSON the bundle prints (the bundle itself uses none).
set -euo pipefail

source_dir=$(cd "${1:-dist/Stylist}" && pwd)
work=$(mktemp -d)
xvfb_pid=""
app_pid=""
cleanup() {
    [ -n "$app_pid" ] && kill "$app_pid" 2>/dev/null || true
    [ -n "$xvfb_pid" ] && kill "$xvfb_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "smoke test FAILED: $*" >&2; exit 1; }
step() { echo "== $*"; }

cp -a "$source_dir" "$work/Stylist"
mkdir "$work/home" "$work/run"
cd "$work/run"  # an empty folder: nothing of the source tree is near
app="$work/Stylist/Stylist"
# A clean environment: no PYTHONPATH, no virtualenv, a HOME of its own.
stylist() { env -i HOME="$work/home" PATH=/usr/bin:/bin LANG=C.UTF-8 "$app" "$@"; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); $1"; }

step "--version"
version=$(stylist --version)
echo "$version"
[[ "$version" == stylist\ *\(bundle* ]] || fail "--version does not say it is the bundle: $version"

step "demo"
stylist demo | tee "$work/demo.txt"
grep -q "Analysed: features" "$work/demo.txt" || fail "the demo wardrobe was not analysed"
[ -d "$work/home/.local/share/Stylist/demo" ] || fail "the demo is not in the platform's data folder"

step "--demo suggest --json"
stylist --demo suggest --json -k 40 --max-per-item 40 > "$work/before.json"
count=$(json 'print(len(d))' < "$work/before.json")
[ "$count" -ge 10 ] || fail "suggest gave $count outfits"
json 'print(f"{len(d)} outfits, best score {d[0][\"score\"]:.3f}")' < "$work/before.json"

step "the window under Xvfb"
display=":$((90 + RANDOM % 50))"
Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp > "$work/xvfb.log" 2>&1 &
xvfb_pid=$!
for _ in $(seq 100); do xwininfo -display "$display" -root > /dev/null 2>&1 && break; sleep 0.1; done
env -i HOME="$work/home" PATH=/usr/bin:/bin LANG=C.UTF-8 DISPLAY="$display" \
    "$app" --demo > "$work/gui.out" 2> "$work/gui.err" &
app_pid=$!
found=""
for _ in $(seq 600); do  # up to a minute on a busy machine
    if xwininfo -display "$display" -root -tree 2>/dev/null | grep -q '"Stylist'; then
        found=yes
        break
    fi
    kill -0 "$app_pid" 2>/dev/null || break
    sleep 0.1
done
[ -n "$found" ] || { cat "$work/gui.err" >&2; fail "no Stylist window appeared"; }
xwininfo -display "$display" -root -tree | grep '"Stylist' | head -3
kill -TERM "$app_pid"
status=0
wait "$app_pid" || status=$?
app_pid=""
[ "$status" -eq 0 ] || { cat "$work/gui.err" >&2; fail "the window exited with status $status"; }
if grep -q Traceback "$work/gui.err"; then cat "$work/gui.err" >&2; fail "a traceback"; fi
[ -f "$work/home/.local/share/Stylist/demo/config/window.ini" ] || fail "window state not saved"
echo "window found, closed cleanly (exit 0)"
kill "$xvfb_pid" 2>/dev/null || true
xvfb_pid=""

step "personal training from the bundle"
# Thumbs up for two in three of the suggestions, down for the rest; after a few the bundle
# starts its own background trainer (itself, not a Python).
json '
for i, o in enumerate(d[:30]):
    ids = [o["one_piece"], o["shoes"]] if o["one_piece"] else [o["top"], o["bottom"], o["shoes"]]
    print("dislike" if i % 3 == 2 else "like", *ids)' < "$work/before.json" > "$work/verdicts.txt"
while read -r verdict ids; do
    # shellcheck disable=SC2086
    stylist --demo "$verdict" $ids > /dev/null
done < "$work/verdicts.txt"
trained=""
for _ in $(seq 300); do  # a background training may hold the lock: wait for our turn
    out=$(stylist --demo train --wait)
    if grep -q "Training started" <<< "$out"; then
        echo "$out" | tail -2
        trained=yes
        break
    fi
    sleep 1
done
[ -n "$trained" ] || fail "no training could start"
stylist --demo model list --json > "$work/models.json"
json '
active = [v for v in d if v["active"]]
assert active, "no version in use"
m = active[-1]["metrics"]
assert m["through_verdict"] == 30, m
assert m["loss_end"] < m["loss_start"], m
print(f"version {active[-1][\"id\"]} in use: {m[\"likes\"]} likes, {m[\"dislikes\"]} dislikes, "
      f"loss {m[\"loss_start\"]} -> {m[\"loss_end\"]}")' < "$work/models.json" || fail "no trained version"
stylist --demo suggest --json -k 40 --max-per-item 40 > "$work/after.json"
stylist --demo model use general > /dev/null
stylist --demo suggest --json -k 40 --max-per-item 40 > "$work/general.json"
cmp -s "$work/before.json" "$work/general.json" || fail "the general model ranks differently now"
cmp -s "$work/before.json" "$work/after.json" && fail "the personal version does not rank"
echo "the personal version ranks (its suggestions differ from the general model's)"
echo "smoke test passed"
