#!/usr/bin/env python3
"""Prints botocore operations of a service with their input / output members, to write catalog
mappings from: `botoshape.py SERVICE [REGEX]`. Mutating operations only (read prefixes skipped)."""
import re
import sys

import botocore.session

READ = ("Get", "List", "Describe", "Head", "Lookup", "Search", "BatchGet", "Scan", "Query",
        "Select", "Check", "Validate", "Estimate", "Preview", "Simulate", "View", "Download",
        "Discover", "Poll", "Retrieve", "Read", "Filter", "Test")


def lc(s):
    return s[:1].lower() + s[1:]


def main():
    sess = botocore.session.get_session()
    model = sess.get_service_model(sys.argv[1])
    pat = re.compile(sys.argv[2]) if len(sys.argv) > 2 else None
    print("#", model.metadata.get("protocol"), model.metadata.get("endpointPrefix"))
    for op in model.operation_names:
        if any(op.startswith(p) and op[len(p):][:1].isupper() for p in READ):
            continue
        if pat and not pat.search(op):
            continue
        o = model.operation_model(op)
        ins = o.input_shape
        req = set(ins.required_members) if ins else set()
        im = [(lc(k) + ("*" if k in req else "")) for k in (ins.members if ins else {})]
        om = list(o.output_shape.members) if o.output_shape else []
        print(f"{op}: in={','.join(im)} out={','.join(om)}")


if __name__ == "__main__":
    main()
