#!/usr/bin/env bash
# End-to-end check of the `tessera` command: help, a bad flag (one clear error, exit 1), and the demo, whose loss
# must fall and whose accuracy must rise over the run.
set -euo pipefail
tessera=$1

"$tessera" --help | grep -q "demo"
if "$tessera" demo --bogus 1 2>err.txt; then echo "a bad flag was accepted"; exit 1; fi
grep -q "demo: unrecognised option '--bogus'" err.txt || { echo "unexpected error text:"; cat err.txt; exit 1; }
if "$tessera" no-such-command 2>/dev/null; then echo "an unknown command was accepted"; exit 1; fi

"$tessera" demo --steps 150 | tee demo.txt
first_loss=$(grep '^step' demo.txt | head -n 1 | awk '{print $4}')
last_loss=$(grep '^step' demo.txt | tail -n 1 | awk '{print $4}')
first_acc=$(grep '^step' demo.txt | head -n 1 | awk '{print $6}')
last_acc=$(grep '^step' demo.txt | tail -n 1 | awk '{print $6}')
awk -v a="$first_loss" -v b="$last_loss" 'BEGIN { exit !(b < 0.5 * a) }' || { echo "loss did not fall: $first_loss -> $last_loss"; exit 1; }
awk -v a="$first_acc" -v b="$last_acc" 'BEGIN { exit !(b > a && b > 0.8) }' || { echo "accuracy did not rise: $first_acc -> $last_acc"; exit 1; }
echo "demo OK: loss $first_loss -> $last_loss, accuracy $first_acc -> $last_acc"
