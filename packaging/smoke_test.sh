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
grep -q "^Analysed:.*features" "$work/demo.txt" || fail "the demo wardrobe was not analysed"
[ -d "$work/home/.local/share/Stylist/demo" ] || fail "the demo is not in the platform's data folder"

step "--demo suggest --json"
stylist --demo suggest --json -k 40 --max-per-item 40 > "$work/before.json"
count=$(json 'print(len(d))' < "$work/before.json")
[ "$count" -ge 10 ] || fail "suggest gave $count outfits"
json 'print("%d outfits, best score %.3f" % (len(d), d[0]["score"]))' < "$work/before.json"

step "the window under Xvfb"
# Xvfb picks a free display itself and writes its number once it accepts clients.
Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp 3> "$work/display" > "$work/xvfb.log" 2>&1 &
xvfb_pid=$!
for _ in $(seq 300); do
    [ -s "$work/display" ] && break
    kill -0 "$xvfb_pid" 2>/dev/null || { cat "$work/xvfb.log" >&2; fail "Xvfb did not start"; }
    sleep 0.1
done
[ -s "$work/display" ] || fail "Xvfb gave no display"
display=":$(head -1 "$work/display")"
xwininfo -display "$display" -root > /dev/null || fail "no X server on $display"
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
[ -f "$work/home/.config/Stylist/window.ini" ] || fail "window state not saved"
echo "window found, closed cleanly (exit 0)"
kill "$xvfb_pid" 2>/dev/null || true
xvfb_pid=""

step "personal training from the bundle"
# A taste the general model cannot know: thirty outfits with one bottom liked, fifteen with
# another disliked. After five verdicts the bundle starts its own background trainer (itself,
# not a Python); `train --wait` then trains once more on all of them.
stylist --demo items --json > "$work/items.json"
json '
import random
by = {c: sorted(i["id"] for i in d if i["category"] == c) for c in ("top", "bottom", "shoes")}
pairs = [(t, s) for t in by["top"] for s in by["shoes"]]
random.Random(0).shuffle(pairs)
for t, s in pairs[:30]:
    print("like", t, by["bottom"][0], s)
for t, s in pairs[30:45]:
    print("dislike", t, by["bottom"][1], s)' < "$work/items.json" > "$work/verdicts.txt"
while read -r verdict ids; do
    # shellcheck disable=SC2086
    stylist --demo "$verdict" $ids > /dev/null
done < "$work/verdicts.txt"
trained=""
for _ in $(seq 300); do  # the background training holds the lock: wait for our turn
    out=$(stylist --demo train --wait)
    if grep -q "Training started" <<< "$out"; then
        echo "$out" | tail -1
        trained=yes
        break
    fi
    sleep 1
done
[ -n "$trained" ] || fail "no training could start"
stylist --demo model list
stylist --demo model list --json > "$work/models.json"
json '
last = d[-1]["metrics"]
assert last["likes"] + last["dislikes"] == 45 and last["loss_end"] < last["loss_start"], last
active = [v for v in d if v["active"]]
assert active, "no personal version in use"
print("version %d in use (trained in the bundle on %d likes, %d dislikes)"
      % (active[-1]["id"], active[-1]["metrics"]["likes"], active[-1]["metrics"]["dislikes"]))
' < "$work/models.json" || fail "no personal version trained and in use"
stylist --demo suggest --json -k 40 --max-per-item 40 > "$work/after.json"
stylist --demo model use general > /dev/null
stylist --demo suggest --json -k 40 --max-per-item 40 > "$work/general.json"
cmp -s "$work/general.json" "$work/after.json" && fail "the personal version does not rank"
echo "the personal version ranks (its suggestions differ from the general model's)"
echo "smoke test passed"
