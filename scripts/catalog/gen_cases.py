#!/usr/bin/env python3
"""Synthesises catalog test cases for events that have none yet, and lints AWS mappings
against the botocore service models.

For each catalogued event name without a case in tests/catalog_cases/<provider>/<file>.jsonl,
a record in the exact CloudTrail (or GCP LogEntry) format is built from the fields the mapping
reads: every `request.X` / `response.X` path is created with a sample value whose type follows
the botocore shape (strings, integers, booleans, tag lists or maps), so a path botocore does not
know is reported (`--lint`) instead of silently fixed. New lines get `"expect": null`; run
`TFDRIFT_BLESS=1 cargo test --test suite catalog_cases::` to fill them in, then review the diff.

Usage: gen_cases.py [--lint]"""
import hashlib
import json
import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"

# event source → botocore service names (first that has the operation wins)
BOTO = {
    "elasticloadbalancing": ["elbv2", "elb"], "monitoring": ["cloudwatch"],
    "es": ["opensearch", "es"], "elasticfilesystem": ["efs"], "states": ["stepfunctions"],
    "email": ["ses", "sesv2"], "route53resolver": ["route53resolver"],
    "apigateway": ["apigateway", "apigatewayv2"], "cloudfront": ["cloudfront"],
    "rbin": ["rbin"], "eks": ["eks"], "ecr": ["ecr"], "ecs": ["ecs"],
    "config": ["config"], "events": ["events"], "logs": ["logs"],
    "autoscaling": ["autoscaling"], "organizations": ["organizations"],
    "backup": ["backup"], "kinesis": ["kinesis"], "firehose": ["firehose"],
}
NO_LINT = {"ec2", "s3", "iam"}  # query/rest-xml shapes CloudTrail logs differently


def lc(s):
    return s[:1].lower() + s[1:]


_models = {}


def boto_op(source, name):
    svc = source.split(".")[0]
    try:
        import botocore.session
    except ImportError:
        return None, None
    sess = _models.setdefault("_s", botocore.session.get_session())
    if "_endpoints" not in _models:
        # endpoint prefix → service names (generated entries use the endpoint prefix).
        eps = {}
        for name in sess.get_available_services():
            try:
                meta = sess.get_service_model(name).metadata
            except Exception:
                continue
            for ep in (meta.get("endpointPrefix", ""), meta.get("signingName", "")):
                eps.setdefault(ep, []).append(name)
        _models["_endpoints"] = eps
    for cand in BOTO.get(svc, [svc]) + _models["_endpoints"].get(svc, []):
        try:
            model = _models.setdefault(cand, sess.get_service_model(cand))
        except Exception:
            continue
        if name in model.operation_names:
            return cand, model.operation_model(name)
    return None, None


def member(shape, key):
    if shape is not None and shape.type_name == "map":
        return shape.value, True
    if shape is None or shape.type_name != "structure":
        return None, False
    for k, v in shape.members.items():
        if lc(k) == key or k == key:
            return v, True
    return None, False


def sample(shape, leaf, conv, filt):
    if conv == "tags":
        if shape is not None and shape.type_name == "map":
            return {"Owner": "alice"}
        return [{"key": "Owner", "value": "alice"}]
    if conv == "tag_keys":
        return ["Owner"]
    if conv == "bool":
        return True
    if conv == "int":
        return 7
    if conv == "json":
        return json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
             "Action": "*", "Resource": "*"}]})
    m = re.search(r"contains:(\S+)", filt or "")
    if m:
        svc = {":db:": "rds", ":pg:": "rds", ":subgrp:": "rds", ":snapshot:": "rds",
               ":replicationgroup:": "elasticache"}.get(m.group(1), "svc")
        return f"arn:aws:{svc}:us-east-1:{ACCOUNT}{m.group(1)}example-{leaf.lower()}"
    if filt and "arn_name" in filt:
        return f"arn:aws:svc:us-east-1:{ACCOUNT}:thing/example-{leaf.lower()}"
    if filt and filt.startswith("strip_prefix:"):
        return filt.split(":", 1)[1] + f"example-{leaf.lower()}"
    t = shape.type_name if shape is not None else "string"
    if t in ("integer", "long"):
        return 7
    if t == "boolean":
        return True
    if t == "list":
        inner = shape.member
        if inner.type_name == "string":
            return [f"example-{leaf.lower()}"]
        return [{}]
    if t == "map":
        return {"example": "value"}
    if t == "structure":
        return {}
    if leaf.lower().endswith("arn"):
        return f"arn:aws:svc:us-east-1:{ACCOUNT}:thing/example-{leaf.lower()}"
    return f"example-{leaf.lower()}"


def split_expr(e):
    """Paths referenced by an expression (template placeholders or the whole path)."""
    if "{" in e:
        return re.findall(r"\{([^}]*)\}", e)
    return [e]


def put(doc, segs, value, shape, lint, ctx, prefix_value=None):
    """Creates `segs` under doc (dict); `[*]` makes one-element lists."""
    cur = doc
    for i, seg in enumerate(segs):
        last = i == len(segs) - 1
        fan = seg.endswith("[*]")
        key = seg[:-3] if fan else seg
        if i + 1 < len(segs) and segs[i + 1].isdigit():
            # `list.0.x`: the index is a list position; build a one-element list
            segs = segs[:i] + [key + "[*]"] + segs[i + 2:]
            return put(doc if i == 0 else cur, segs[i:], value, shape, lint, ctx)
        if shape is not None:
            shape, ok = member(shape, key)
            if not ok and lint is not None:
                lint.append(f"{ctx}: '{'.'.join(segs[:i + 1])}' not in botocore shape")
            if fan and shape is not None and shape.type_name == "list":
                shape = shape.member
        if fan:
            lst = cur.setdefault(key, [{}])
            if last:
                if key not in cur or cur[key] == [{}]:
                    cur[key] = [value(shape)]
                return
            cur = lst[0]
        elif last:
            if key not in cur:
                cur[key] = value(shape)
            return
        else:
            nxt = cur.setdefault(key, {})
            if not isinstance(nxt, dict):
                return
            cur = nxt


def cases_covered(provider):
    covered = set()
    d = ROOT / "tests/catalog_cases" / provider
    for f in d.glob("*.jsonl"):
        for line in f.read_text().splitlines():
            if not line.strip():
                continue
            r = json.loads(line)["record"]
            if "detail" in r:
                r = r["detail"]
            if provider == "aws":
                name = re.sub(r"(\d{8}(v\d+)?|\d{4}_\d\d_\d\d)$", "", r.get("eventName", ""))
                covered.add((name, r.get("eventSource")))
            else:
                pp = r.get("protoPayload", {})
                m = re.sub(r"^(v\d\w*|beta|alpha)\.", "", pp.get("methodName", ""))
                covered.add((m, pp.get("serviceName")))
    return covered


# Resource names as the services log them, by method prefix (first match wins).
GCP_NAMES = [
    ("google.iam.admin.v1.CreateServiceAccount", "projects/example-project"),
    ("google.iam.admin.v1.SetIAMPolicy", "projects/-/serviceAccounts/sa@example-project.iam.gserviceaccount.com"),
    ("google.iam.admin.v1.", "projects/-/serviceAccounts/112233445566778899"),
    ("google.iam.admin.v1.CreateRole", "projects/example-project/roles/exampleRole"),
    ("google.pubsub.v1.Subscriber", "projects/example-project/subscriptions/example-sub"),
    ("google.pubsub.", "projects/example-project/topics/example-topic"),
    ("google.iam.v1.IAMPolicy", "projects/example-project/topics/example-topic"),
    ("google.container.v1.ClusterManager.Create", "projects/example-project/locations/us-central1/clusters/example-cluster"),
    ("google.container.", "projects/example-project/locations/us-central1/clusters/example-cluster/nodePools/example-pool"),
    ("google.cloud.run.v1.Services.SetIamPolicy", "projects/example-project/locations/us-central1/services/example-svc"),
    ("google.cloud.run.v1.", "namespaces/example-project/services/example-svc"),
    ("google.cloud.run.v2.", "projects/example-project/locations/us-central1/services/example-svc"),
    ("google.cloud.functions.", "projects/example-project/locations/us-central1/functions/example-fn"),
    ("google.cloud.secretmanager.", "projects/123456789012/secrets/example-secret"),
    ("google.devtools.artifactregistry.", "projects/example-project/locations/us-central1/repositories/example-repo"),
    ("google.logging.v2.ConfigServiceV2.CreateSink", "projects/example-project/sinks/example-sink"),
    ("google.logging.v2.ConfigServiceV2.DeleteSink", "folders/123456789/sinks/example-sink"),
    ("google.logging.v2.ConfigServiceV2.UpdateSink", "projects/example-project/sinks/example-sink"),
    ("google.logging.v2.ConfigServiceV2.", "projects/example-project/exclusions/example-exclusion"),
    ("google.logging.v2.MetricsServiceV2.Create", "projects/example-project/metrics"),
    ("google.logging.v2.MetricsServiceV2.", "projects/example-project/metrics/example-metric"),
    ("google.api.serviceusage.", "projects/example-project/services/pubsub.googleapis.com"),
    ("google.cloud.redis.", "projects/example-project/locations/us-central1/instances/example-redis"),
    ("google.spanner.admin.database.", "projects/example-project/instances/example-spanner/databases/example-db"),
    ("google.spanner.admin.instance.", "projects/example-project/instances/example-spanner"),
    ("google.cloud.dataproc.", "projects/example-project/regions/us-central1/clusters/example-cluster"),
    ("google.cloud.datafusion.", "projects/example-project/locations/us-central1/instances/example-fusion"),
    ("google.cloud.bigquery.v2.TableService", "projects/example-project/datasets/example_ds/tables/example_table"),
    ("tableservice.", "projects/example-project/datasets/example_ds/tables/example_table"),
    ("", "projects/example-project/datasets/example_ds"),
]
GCP_BY_SOURCE = {
    "cloudkms.googleapis.com": "projects/example-project/locations/us/keyRings/example-ring/cryptoKeys/example-key",
    "cloudresourcemanager.googleapis.com": "projects/example-project",
    "dns.googleapis.com": None,
    "cloudsql.googleapis.com": "projects/example-project/instances/example-sql",
}
ZONAL = {"instances", "disks", "instanceGroupManagers", "instanceGroups", "autoscalers",
         "networkEndpointGroups", "targetInstances"}
GLOBAL = {"firewalls", "networks", "routes", "globalAddresses", "snapshots", "images",
          "instanceTemplates", "backendServices", "backendBuckets", "healthChecks",
          "httpHealthChecks", "httpsHealthChecks", "globalForwardingRules", "urlMaps",
          "targetHttpProxies", "targetHttpsProxies", "targetSslProxies", "targetTcpProxies",
          "sslCertificates", "sslPolicies", "securityPolicies", "externalVpnGateways",
          "globalNetworkEndpointGroups"}


def gcp_resource_name(ev, name, source=None):
    hint = ev.get("note") or ""
    m = re.search(r"example: (\S+)", hint)
    if m:
        return m.group(1)
    parts = name.split(".")
    if name.startswith("storage."):
        return "projects/_/buckets/example-bucket"
    if name.startswith("compute."):
        coll = parts[1]
        if coll == "projects":
            return "projects/example-project"
        one = f"example-{coll.lower()[:-1]}"
        if coll in ZONAL:
            return f"projects/example-project/zones/us-central1-a/{coll}/{one}"
        if coll in GLOBAL:
            return f"projects/example-project/global/{coll}/{one}"
        if coll.startswith("region"):
            coll = coll[6].lower() + coll[7:]
        return f"projects/example-project/regions/us-central1/{coll}/{one}"
    if name.startswith("dns."):
        return f"{parts[1]}/example-{parts[1].lower()[:-1]}"
    if source in GCP_BY_SOURCE:
        return GCP_BY_SOURCE[source]
    for prefix, rn in GCP_NAMES:
        if name.startswith(prefix):
            return rn
    return "projects/example-project/resources/example"


def build(provider, source, ev, name, lint):
    targets = [ev] + ev.get("alternatives", [])
    t0 = targets[0]
    svc_boto, op = (None, None)
    if provider == "aws":
        svc_boto, op = boto_op(source, name)
        if op is None and lint is not None and source.split(".")[0] not in NO_LINT:
            lint.append(f"{source} {name}: no botocore operation")
    in_shape = op.input_shape if op is not None and source.split(".")[0] not in NO_LINT else None
    out_shape = op.output_shape if op is not None and source.split(".")[0] not in NO_LINT else None
    request, response, extra = {}, {}, {}
    resource_name = gcp_resource_name(ev, name, source) if provider == "gcp" else None
    foreach = ev.get("foreach")
    prefixes = list((t0.get("type_by_prefix") or {}).keys())

    def add(expr, conv=None, is_id=False):
        if expr.startswith("'"):
            return  # a literal id
        for p in split_expr(expr):
            filt = None
            if "|" in p:
                p, filt = [x.strip() for x in p.split("|", 1)]
            segs = p.split(".")
            root = segs[0]
            if root == "item" and foreach:
                fsegs = foreach.split(".")
                segs = fsegs + segs[1:]
                root = fsegs[0]
            if root in ("resource_name", "event"):
                continue
            doc, shape = {"request": (request, in_shape), "response": (response, out_shape),
                          "extra": (extra, None)}[root]
            leaf = segs[-1].replace("[*]", "")

            def value(sh, leaf=leaf, filt=filt):
                v = sample(sh, leaf, conv, filt)
                if is_id and prefixes and isinstance(v, str):
                    return prefixes[0] + "0abc1234def567890"
                if root == "extra" and leaf == "bindingDeltas":
                    return {"action": "ADD", "role": "roles/viewer", "member": "user:bob@example.com"}
                return v
            put(doc, segs[1:], value, shape, lint, f"{source} {name} {root}")

    if foreach and "bindingDeltas" in foreach:
        add(foreach)
        cur = extra
        for seg in foreach.split(".")[1:-1]:
            cur = cur[seg]
        cur["bindingDeltas"] = [
            {"action": "ADD", "role": "roles/viewer", "member": "user:bob@example.com"}]
    for t in targets[:1]:
        ids = t.get("id")
        for e in ([ids] if isinstance(ids, str) else (ids or [])[:1]):
            add(e, is_id=True)
        for v in (t.get("match") or {}).values():
            add(v)
        for a in t.get("attributes", []):
            fr = a.get("from")
            for e in ([fr] if isinstance(fr, str) else (fr or [])[:1]):
                add(e, conv=a.get("convert"))
    kf = t0.get("kind_from")
    if kf and kf["from"].startswith("item.") and foreach and not foreach.startswith("extra"):
        first = next(iter(kf["map"]))
        add(kf["from"])
        fsegs = foreach.split(".")
        cur = {"request": request, "response": response}[fsegs[0]]
        for seg in fsegs[1:]:
            cur = cur[seg.replace("[*]", "")]
        cur[0][kf["from"].split(".", 1)[1]] = first
    if foreach and not foreach.startswith("extra"):
        add(foreach.replace("[*]", "[*]"))
    h = hashlib.sha256(f"{provider}{source}{name}".encode()).hexdigest()
    if provider == "aws":
        return {
            "eventVersion": "1.09",
            "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLEALICE",
                             "arn": f"arn:aws:iam::{ACCOUNT}:user/alice",
                             "accountId": ACCOUNT, "userName": "alice"},
            "eventTime": "2024-05-01T12:00:00Z", "eventSource": source, "eventName": name,
            "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.10",
            "userAgent": "aws-cli/2.15.0", "requestParameters": request or None,
            "responseElements": response or None,
            "requestID": f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}",
            "eventID": f"{h[32:40]}-{h[40:44]}-{h[44:48]}-{h[48:52]}-{h[52:64]}",
            "readOnly": False, "eventType": "AwsApiCall", "managementEvent": True,
            "recipientAccountId": ACCOUNT, "eventCategory": "Management",
        }
    pp = {"@type": "type.googleapis.com/google.cloud.audit.AuditLog",
          "status": {}, "authenticationInfo": {"principalEmail": "alice@example.com"},
          "requestMetadata": {"callerIp": "203.0.113.10", "callerSuppliedUserAgent": "gcloud/470.0.0"},
          "serviceName": source, "methodName": name, "resourceName": resource_name}
    if request:
        pp["request"] = request
    if response:
        pp["response"] = response
    pp.update(extra)
    return {"protoPayload": pp, "insertId": h[:12], "resource": {"type": "audited_resource",
            "labels": {"project_id": "example-project"}}, "timestamp": "2024-05-01T12:00:00Z",
            "severity": "NOTICE",
            "logName": "projects/example-project/logs/cloudaudit.googleapis.com%2Factivity"}


def main():
    lint_only = "--lint" in sys.argv
    lint = []
    for provider in ("aws", "gcp"):
        covered = cases_covered(provider)
        for f in sorted((ROOT / "assets/catalog" / provider).rglob("*.yaml")):
            doc = yaml.safe_load(f.read_text())
            new = []
            for ev in doc.get("events", []):
                names = ev["name"] if isinstance(ev["name"], list) else [ev["name"]]
                source = ev.get("source") or doc.get("source")
                for name in names:
                    rec = build(provider, source, ev, name, lint)
                    if (name, source) in covered or lint_only:
                        continue
                    new.append(json.dumps({"record": rec, "expect": None}))
                    covered.add((name, source))
            if new:
                sub = f.parent.name if f.parent.name != provider else ""
                stem = f"{sub}-{f.stem}" if sub else f.stem
                out = ROOT / "tests/catalog_cases" / provider / (stem + ".jsonl")
                with out.open("a") as fh:
                    fh.write("\n".join(new) + "\n")
                print(f"{out.relative_to(ROOT)}: +{len(new)}")
    for l in lint:
        print("LINT", l)


if __name__ == "__main__":
    main()
