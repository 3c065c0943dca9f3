#!/bin/sh
# Fail (exit 1) when `reconciler plan` would hold a token under the policy; print why.
# Where no credentials are set (no PRIVATE_KEY, no --private-key-file, no --paper) it says so
# and exits 0: `reconciler policy-check` is the check that needs no key.
# Arguments go to `reconciler plan` (e.g. --desired desired --state state/ci.db).
set -eu
case " $* " in
  *" --private-key-file"*|*" --paper "*) ;;
  *) if [ -z "${PRIVATE_KEY:-}" ]; then
       echo "plan-verdicts: no credentials here (PRIVATE_KEY); skipped"
       exit 0
     fi ;;
esac
report=$(mktemp)
trap 'rm -f "$report"' EXIT
status=0
reconciler plan --json "$@" > "$report" || status=$?
if [ "$status" -ne 0 ]; then
  cat "$report"
  echo "plan-verdicts: reconciler plan failed (exit $status)"
  exit 1
fi
python3 - "$report" <<'PY'
import json
import sys

with open(sys.argv[1], encoding="utf-8") as f:
    report = json.load(f)
verdicts = (report.get("policy") or {}).get("verdicts") or []
held = [v for v in verdicts if v.get("effect") == "held"]
for v in verdicts:
    print(f"{v['rule']} ({v['enforcement']}, {v['effect']}): {v['message']}")
print(f"plan-verdicts: {len(held)} verdict(s) would hold tokens" if held
      else "plan-verdicts: no verdict would hold a token")
sys.exit(1 if held else 0)
PY
