#!/usr/bin/env python3
"""Extracts Terraform's own drift report from a `terraform plan -refresh-only`.

usage: refresh_drift.py REFRESH_ONLY_JSONL SHOW_JSON > refresh-only-drift.json

REFRESH_ONLY_JSONL is the machine-readable stream of `terraform plan -refresh-only -json`; its
`resource_drift` messages say which resources drifted and how (update / delete). SHOW_JSON is
`terraform show -json` of the same saved plan; its `resource_drift` entries carry the before and
after objects, from which the changed top-level attributes are computed.

Output: a JSON list, sorted by address, of
  {"address", "action", "attributes_changed": [...], "changes": {attr: {"before", "after"}}}
For a deleted resource, attributes_changed is empty and changes is omitted.
"""

from __future__ import annotations

import json
import sys


def main() -> None:
    stream_path, show_path = sys.argv[1], sys.argv[2]

    actions: dict[str, str] = {}
    with open(stream_path) as f:
        for line in f:
            msg = json.loads(line)
            if msg.get("type") == "resource_drift":
                ch = msg["change"]
                actions[ch["resource"]["addr"]] = ch["action"]

    with open(show_path) as f:
        plan = json.load(f)
    detail = {d["address"]: d["change"] for d in plan.get("resource_drift", [])}

    out = []
    for addr in sorted(set(actions) | set(detail)):
        ch = detail.get(addr, {})
        action = actions.get(addr) or "/".join(ch.get("actions", []))
        before, after = ch.get("before"), ch.get("after")
        entry: dict = {"address": addr, "action": action}
        if isinstance(before, dict) and isinstance(after, dict):
            changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
            entry["attributes_changed"] = changed
            entry["changes"] = {k: {"before": before.get(k), "after": after.get(k)} for k in changed}
        else:
            entry["attributes_changed"] = []
        out.append(entry)

    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
