#!/usr/bin/env python3
"""Extracts Terraform's own drift report from a `terraform plan -refresh-only`, per attribute path.

usage: refresh_drift.py REFRESH_ONLY_JSONL SHOW_JSON > drift.json

REFRESH_ONLY_JSONL is the machine-readable stream of `terraform plan -refresh-only -json`; its
`resource_drift` messages say which resources drifted and how (update / delete). SHOW_JSON is
`terraform show -json` of the same saved plan; its `resource_drift` entries carry the before and
after objects.

Output: a JSON list, sorted by address, of
  {"address", "type", "action", "changes": {path: {"before", "after"}}, "before", "after"}
where `changes` has one entry per changed attribute path, dotted, with list indexes:
  - objects (including maps such as `tags`) are compared key by key (`tags.Owner`), a null map
    as an empty one,
  - lists of equal length element by element (`versioning_configuration.0.status`),
  - lists whose length changed (a rule added to a security group's `ingress` set) as one change
    at the list's path, since their elements cannot be aligned by position,
  - JSON text (policies) as one leaf at its attribute (`policy`).
`before`/`after` are the whole objects, so a consumer can read any prefix of a path. A deleted
resource has action "delete" and no changes.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def diff_paths(before: Any, after: Any, path: str, out: dict[str, dict[str, Any]]) -> None:
    if before == after:
        return
    # A map that was null on one side and has keys on the other (tags null -> {Owner: x}) is
    # compared key by key; null vs {} stays one change (a representation difference).
    if before is None and isinstance(after, dict) and after:
        before = {}
    if after is None and isinstance(before, dict) and before:
        after = {}
    if isinstance(before, dict) and isinstance(after, dict):
        for k in sorted(set(before) | set(after)):
            diff_paths(before.get(k), after.get(k), f"{path}.{k}" if path else k, out)
        return
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after) and path:
        for i, (b, a) in enumerate(zip(before, after)):
            diff_paths(b, a, f"{path}.{i}", out)
        return
    out[path] = {"before": before, "after": after}


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
    detail = {d["address"]: d for d in plan.get("resource_drift", [])}

    out = []
    for addr in sorted(set(actions) | set(detail)):
        d = detail.get(addr, {})
        ch = d.get("change", {})
        action = actions.get(addr) or "/".join(ch.get("actions", []))
        before, after = ch.get("before"), ch.get("after")
        entry: dict[str, Any] = {"address": addr, "type": d.get("type"), "action": action}
        changes: dict[str, dict[str, Any]] = {}
        if isinstance(before, dict) and isinstance(after, dict):
            diff_paths(before, after, "", changes)
        entry["changes"] = changes
        entry["before"] = before
        entry["after"] = after
        out.append(entry)

    json.dump(out, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
