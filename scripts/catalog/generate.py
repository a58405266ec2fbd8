#!/usr/bin/env python3
"""Generates CANDIDATE AWS catalog entries from the sources of truth, never guesses.

Inputs
  * botocore's service models (`pip install botocore`): every operation is a CloudTrail
    eventName, with its input and output shapes;
  * the AWS provider's schema (`terraform providers schema -json` with the mirrored provider,
    see tests/tf_support/cli.tfrc): every resource type and its top-level attributes;
  * the hand-written catalog (assets/catalog/aws/*.yaml): names it maps, or calls operational,
    are never generated again (hand-written wins).

Rules (each candidate satisfies all of them)
  1. Service: the Terraform type's prefix (`aws_<prefix>_…`) is a botocore service name or a
     PREFIX alias below; the event source is `<signingName>.amazonaws.com` (the endpoint
     prefix when there is no signing name).
  2. Operation: `<Verb><Noun>` where Noun is the rest of the type in CamelCase, compared
     case-insensitively (`aws_guardduty_ipset` ↔ `CreateIPSet`), Verb in VERBS (create /
     delete / update kinds). Exactly one Terraform type may claim an (event source,
     operation) — across services that share a source, too (DocumentDB, Neptune and RDS log as
     rds.amazonaws.com) — else the operation is AMBIGUOUS (listed with its candidate types,
     not shipped).
  3. Id: one identifying member (an output's ARN beats its id of the same object when the
     type has `arn`), in this order — for creates the output's `<Noun>Arn` / `<Noun>Id` (also
     one level down, `<Noun>.<Noun>Id`), then the input's required `<Noun>Name` /
     `<Noun>Identifier` / `<Noun>Id` / `<Noun>Arn`, then a bare `Name` / `Identifier` / `Id` /
     `Arn` (deletes and updates read the input first, the output only when it has nothing).
     An `Arn` is used only when the type has an `arn` attribute, a bare `Name` only when it has
     `name` (the state index resolves id, arn and name). No member, or two members of equal rank: REJECTED / AMBIGUOUS.
  4. Attributes (updates only): optional input members whose snake_case name is a top-level
     scalar attribute of the type (string, number, bool), converted by the schema's type; sensitive
     attributes and documents (policies, templates, bodies: compared as text they would show
     formatting as drift) are left out.
  5. Protocol: `rest-xml` (S3, Route 53, CloudFront) and `ec2` services log requests in shapes
     botocore does not describe (wrapped `…Request` objects, XML names): REJECTED here, hand-written instead;
     `query` services (IAM, RDS, SNS …) log lower-camel member names like JSON ones; API
     Gateway wraps its requests (`createRestApiInput`): REJECTED.
  6. Tag operations (`TagResource` …) and read verbs are never generated.

Outputs (scripts/catalog/out/, not shipped): `candidates/<service>.yaml` in the catalog format,
`ambiguous.tsv` (operation, candidate types), `rejects.tsv` (type or operation, reason),
`summary.txt`. A reviewed batch is copied into assets/catalog/aws/generated/ by hand (or with
`--ship SERVICE …` after review); gen_cases.py then writes its cases.

Usage: generate.py SCHEMA_JSON [--ship SERVICE ...]"""
import collections
import json
import pathlib
import re
import sys

import botocore.session
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "scripts/catalog/out"

VERBS = {
    "Create": "create", "Delete": "delete", "Update": "update", "Modify": "update",
    "Put": "update", "Remove": "delete", "Register": "create", "Deregister": "delete",
}
# Terraform prefix → botocore service, where they differ.
PREFIX = {
    "cloudwatch": "cloudwatch", "lb": "elbv2", "alb": "elbv2", "elb": "elb",
    "sfn": "stepfunctions", "cognito": "cognito-idp", "opensearch": "opensearch",
    "elasticsearch": "es", "efs": "efs", "vpc": "ec2", "networkfirewall": "network-firewall",
    "appautoscaling": "application-autoscaling", "sesv2": "sesv2", "ses": "ses",
    "codestarconnections": "codestar-connections", "servicequotas": "service-quotas",
    "ssoadmin": "sso-admin", "identitystore": "identitystore", "cloudcontrolapi": "cloudcontrol",
    "msk": "kafka", "mskconnect": "kafkaconnect", "kinesis_analytics": "kinesisanalytics",
    "kinesisanalyticsv2": "kinesisanalyticsv2", "apigatewayv2": "apigatewayv2",
    "resourcegroups": "resource-groups", "rum": "rum", "scheduler": "scheduler",
    "vpclattice": "vpc-lattice", "verifiedpermissions": "verifiedpermissions",
    "networkmanager": "networkmanager", "memorydb": "memorydb", "dax": "dax",
    "rolesanywhere": "rolesanywhere", "securityhub": "securityhub", "guardduty": "guardduty",
    "lakeformation": "lakeformation", "servicecatalog": "servicecatalog",
    "servicediscovery": "servicediscovery", "route53domains": "route53domains",
    "cloudsearch": "cloudsearch", "cur": "cur", "dlm": "dlm", "ecrpublic": "ecr-public",
    "prometheus": "amp", "grafana": "grafana", "imagebuilder": "imagebuilder",
    "lex": "lex-models", "lexv2models": "lexv2-models", "location": "location",
    "mwaa": "mwaa", "oam": "oam", "osis": "osis", "pipes": "pipes", "qldb": "qldb",
    "redshiftserverless": "redshift-serverless", "resourceexplorer2": "resource-explorer-2",
    "s3control": "s3control", "s3outposts": "s3outposts", "sagemaker": "sagemaker",
    "securitylake": "securitylake", "shield": "shield", "signer": "signer",
    "ssmcontacts": "ssm-contacts", "ssmincidents": "ssm-incidents", "swf": "swf",
    "timestreamwrite": "timestream-write", "transfer": "transfer", "waf": "waf",
    "wafregional": "waf-regional", "wafv2": "wafv2", "workspaces": "workspaces", "xray": "xray",
    "db": "rds", "rds": "rds", "docdb": "docdb", "neptune": "neptune",
    "iot": "iot", "mq": "mq", "emr": "emr", "emrcontainers": "emr-containers",
    "emrserverless": "emr-serverless", "fsx": "fsx", "datasync": "datasync",
    "devicefarm": "devicefarm", "detective": "detective", "inspector2": "inspector2",
    "macie2": "macie2", "fms": "fms", "accessanalyzer": "accessanalyzer",
    "appconfig": "appconfig", "appflow": "appflow", "apprunner": "apprunner",
    "appstream": "appstream", "appsync": "appsync", "athena": "athena", "batch": "batch",
    "budgets": "budgets", "ce": "ce", "chime": "chime", "cloud9": "cloud9",
    "cloudhsm_v2": "cloudhsmv2", "codeartifact": "codeartifact", "codebuild": "codebuild",
    "codecommit": "codecommit", "codedeploy": "codedeploy", "codepipeline": "codepipeline",
    "connect": "connect", "datapipeline": "datapipeline", "dms": "dms", "ds": "ds",
    "directory": "ds", "dynamodb": "dynamodb", "elasticache": "elasticache",
    "elastic_beanstalk": "elasticbeanstalk", "elastictranscoder": "elastictranscoder",
    "evidently": "evidently", "finspace": "finspace", "gamelift": "gamelift",
    "glacier": "glacier", "globalaccelerator": "globalaccelerator", "glue": "glue",
    "iam": "iam", "ivs": "ivs", "kendra": "kendra", "keyspaces": "keyspaces",
    "kinesis": "kinesis", "kms": "kms", "lambda": "lambda", "lightsail": "lightsail",
    "medialive": "medialive", "mediapackage": "mediapackage", "mediastore": "mediastore",
    "opsworks": "opsworks", "organizations": "organizations", "pinpoint": "pinpoint",
    "quicksight": "quicksight", "ram": "ram", "redshift": "redshift", "route53": "route53",
    "s3": "s3", "sns": "sns", "sqs": "sqs", "ssm": "ssm", "storagegateway": "storagegateway",
    "synthetics": "synthetics", "transcribe": "transcribe", "vpn": "ec2", "ec2": "ec2",
    "backup": "backup", "bedrock": "bedrock", "cloudfront": "cloudfront",
    "cloudtrail": "cloudtrail", "config": "config", "ecr": "ecr", "ecs": "ecs", "eks": "eks",
    "acm": "acm", "acmpca": "acm-pca", "amplify": "amplify", "api_gateway": "apigateway",
    "autoscaling": "autoscaling", "chatbot": "chatbot", "comprehend": "comprehend",
    "controltower": "controltower", "customerprofiles": "customer-profiles",
    "dataexchange": "dataexchange", "devopsguru": "devops-guru", "ebs": "ec2",
    "ecs_": "ecs", "elasticsearch_": "es", "internetmonitor": "internetmonitor",
    "kinesisvideo": "kinesisvideo", "licensemanager": "license-manager",
    "m2": "m2", "medialive_": "medialive", "opensearchserverless": "opensearchserverless",
    "paymentcryptography": "payment-cryptography", "rbin": "rbin",
    "route53resolver": "route53resolver", "schemas": "schemas", "secretsmanager": "secretsmanager",
    "serverlessapplicationrepository": "serverlessrepo", "sesv2_": "sesv2",
    "simpledb": "sdb", "ssoadmin_": "sso-admin", "vpc_ipam": "ec2", "worklink": "worklink",
}
# Protocols whose CloudTrail request shapes botocore does not describe faithfully.
SHAPELESS = {"ec2", "rest-xml"}
# Services whose CloudTrail records wrap the request (`createRestApiInput`): hand-written only.
WRAPPED = {"apigateway"}
ID_SUFFIXES = ["Name", "Identifier", "Id", "Arn"]
TAG_OPS = {"TagResource", "UntagResource", "TagResources", "UntagResources", "AddTagsToResource",
           "RemoveTagsFromResource", "CreateTags", "DeleteTags", "AddTags", "RemoveTags"}


def lc(s):
    return s[:1].lower() + s[1:]


def snake(s):
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", s)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s).lower()


def camel_key(s):
    return s.replace("_", "").lower()


def hand_written():
    """(event source, name) pairs the hand-written catalog maps or calls operational."""
    names = set()
    for f in sorted((ROOT / "assets/catalog/aws").glob("*.yaml")):
        doc = yaml.safe_load(f.read_text())
        src = doc.get("source")
        for n in doc.get("operational", []):
            names.add((src, n))
        for ev in doc.get("events", []):
            ns = ev["name"] if isinstance(ev["name"], list) else [ev["name"]]
            for n in ns:
                names.add((ev.get("source", src), n))
    return names


def event_source(model):
    """CloudTrail's eventSource: the signing name (`lex`, `memorydb`, `sagemaker`), which
    CloudTrail uses where the endpoint prefix differs (`models-v2-lex`, `api.sagemaker`)."""
    name = model.metadata.get("signingName") or model.metadata.get("endpointPrefix", "")
    return f"{name}.amazonaws.com"


def scalar_attrs(block):
    out = {}
    for name, a in block.get("attributes", {}).items():
        t = a.get("type")
        if t in ("string", "number", "bool") and not a.get("computed", False) or (
            t in ("string", "number", "bool") and a.get("optional")
        ):
            out[name] = t
    return out


def find_id(op, noun, attrs, kind):
    """The id expression for an operation, or (None, reason). Creates read the new object's id
    from the output first; deletes and updates from the input (their outputs are often empty)."""
    nkey = noun.lower()
    out = op.output_shape if kind == "create" else None
    cands = []
    if out is not None:
        for m, shape in out.members.items():
            if m.lower() in (nkey + "arn", nkey + "id") and shape.type_name == "string":
                cands.append((0, f"response.{lc(m)}", m))
            if m.lower() == nkey and shape.type_name == "structure":
                for m2, s2 in shape.members.items():
                    if m2.lower() in (nkey + "arn", nkey + "id") and s2.type_name == "string":
                        cands.append((1, f"response.{lc(m)}.{lc(m2)}", m2))
    ins = op.input_shape
    if ins is not None:
        req = set(ins.required_members)
        # `<Noun>Name` / `<Noun>Id` … first; a bare `Name` / `Id` only when none (a bare `Name`
        # next to `DataSourceId` is the new display name, not the identifier).
        for rank, suffix in enumerate(ID_SUFFIXES):
            for m, shape in ins.members.items():
                if shape.type_name != "string" or m not in req:
                    continue
                if m.lower() == nkey + suffix.lower():
                    cands.append((2 + rank, f"request.{lc(m)}", m))
                elif m.lower() == suffix.lower():
                    cands.append((2 + len(ID_SUFFIXES) + rank, f"request.{lc(m)}", m))
    usable = []
    for rank, expr, member in cands:
        if member.lower().endswith("arn") and "arn" not in attrs:
            continue
        if member.lower().endswith("name") and "name" not in attrs and not member.lower().startswith(nkey):
            continue
        usable.append((rank, expr))
    if not usable:
        return None, "no identifying member"
    usable.sort()
    best = sorted({e for r, e in usable if r == usable[0][0]})
    # The ARN and the id of one object in one output name the same resource: the state index
    # resolves ARNs, so the ARN wins (Terraform ids are often composite: `instance:queue`).
    if len(best) == 2 and "arn" in attrs:
        arns = [e for e in best if e.lower().endswith("arn")]
        if len(arns) == 1:
            best = arns
    if len(best) > 1:
        return None, "several identifying members: " + ", ".join(sorted(set(best)))
    return best[0], None


def find_id_output(op, noun, attrs):
    """Second chance for deletes and updates: the id from the output alone."""
    class NoInput:
        input_shape = None
        output_shape = op.output_shape
    return find_id(NoInput, noun, attrs, "create")


SKIP_ATTR = re.compile(r"password|secret|token|body|policy|document|definition|template|force")


def main():
    schema_path = sys.argv[1]
    ship = sys.argv[sys.argv.index("--ship") + 1:] if "--ship" in sys.argv else []
    schema = json.load(open(schema_path))
    resources = {}
    for p in schema["provider_schemas"].values():
        resources.update(p["resource_schemas"])
    sess = botocore.session.get_session()
    services = {s: None for s in sess.get_available_services()}
    done = hand_written()

    claims = collections.defaultdict(list)  # (service, op) → [(type, noun, verb)]
    rejects = []
    for rtype in sorted(resources):
        rest = rtype[len("aws_"):]
        svc = None
        for i in range(rest.count("_") + 1, 0, -1):
            prefix = "_".join(rest.split("_")[:i])
            cand = PREFIX.get(prefix, prefix.replace("_", "-"))
            if cand in services and i <= rest.count("_"):
                svc, noun_snake = cand, "_".join(rest.split("_")[i:])
                break
        if svc is None:
            rejects.append((rtype, "no botocore service for its prefix"))
            continue
        if services[svc] is None:
            services[svc] = sess.get_service_model(svc)
        model = services[svc]
        if svc in WRAPPED:
            rejects.append((rtype, f"{svc}: CloudTrail wraps its requests (hand-written)"))
            continue
        if model.metadata.get("protocol") in SHAPELESS:
            rejects.append((rtype, f"{svc}: {model.metadata.get('protocol')} protocol (hand-written)"))
            continue
        ops = {camel_key(o): o for o in model.operation_names}
        found = False
        for verb in VERBS:
            op = ops.get(camel_key(verb + noun_snake))
            if op and op not in TAG_OPS:
                claims[(svc, op)].append((rtype, op[len(verb):], verb))
                found = True
        if not found:
            rejects.append((rtype, f"{svc}: no Create/Delete/Update operation named for it"))

    by_service = collections.defaultdict(list)
    ambiguous = []
    # Services sharing an event source (DocumentDB and Neptune log as rds.amazonaws.com): one
    # (source, operation) claimed by several types is ambiguous across services too.
    by_source = collections.defaultdict(set)
    for (svc, opname), cl in claims.items():
        if services[svc] is not None:
            by_source[(event_source(services[svc]), opname)].update(c[0] for c in cl)
    for (svc, opname), cl in sorted(claims.items()):
        types = sorted(by_source[(event_source(services[svc]), opname)])
        if len(types) > 1:
            ambiguous.append((svc, opname, types))
            continue
        rtype, noun, verb = cl[0]
        model = services[svc]
        src = event_source(model)
        if (src, opname) in done:
            continue
        block = resources[rtype]["block"]
        attrs = set(block.get("attributes", {})) | set(block.get("block_types", {}))
        op = model.operation_model(opname)
        expr, why = find_id(op, noun, attrs, VERBS[verb])
        if expr is None and VERBS[verb] != "create":
            # Nothing in the input: the output may still name it (`UpdateX` returning `XArn`).
            expr, why = find_id_output(op, noun, attrs)
        if expr is None:
            (ambiguous if why.startswith("several") else rejects).append(
                (svc, opname, [rtype, why]) if why.startswith("several") else (f"{svc}:{opname}", f"{rtype}: {why}")
            )
            continue
        kind = VERBS[verb]
        if kind == "create" and expr.startswith("request.") and op.output_shape is not None and any(
            m.lower().endswith("id") or m.lower().endswith("arn") for m in op.output_shape.members
        ) and not expr.lower().endswith("name"):
            rejects.append((f"{svc}:{opname}", f"{rtype}: create names an input id while the output has one"))
            continue
        entry = {"name": opname, "type": rtype, "kind": kind, "id": expr}
        if kind == "update" and op.input_shape is not None:
            sc = {k: v for k, v in scalar_attrs(block).items()
                  if not SKIP_ATTR.search(k) and not block["attributes"][k].get("sensitive")}
            attributes = []
            required = set(op.input_shape.required_members)
            for m, shape in op.input_shape.members.items():
                path = snake(m)
                if m in required:
                    continue  # identifiers (parents, the resource itself), not settings
                if path in sc and f"request.{lc(m)}" != expr and path not in ("name", "arn", "id"):
                    a = {"path": path, "from": f"request.{lc(m)}"}
                    if sc[path] == "number" and shape.type_name in ("integer", "long"):
                        a["convert"] = "int"
                    elif sc[path] == "bool" and shape.type_name == "boolean":
                        a["convert"] = "bool"
                    elif sc[path] != "string" or shape.type_name != "string":
                        continue
                    attributes.append(a)
            if attributes:
                entry["attributes"] = attributes
        by_service[(svc, src)].append(entry)

    (OUT / "candidates").mkdir(parents=True, exist_ok=True)
    for stale in (OUT / "candidates").glob("*.yaml"):
        stale.unlink()
    total = 0
    for (svc, src), entries in sorted(by_service.items()):
        doc = {"provider": "aws", "source": src,
               "description": f"GENERATED by scripts/catalog/generate.py from botocore '{svc}' and the provider schema; reviewed before shipping.",
               "events": entries}
        text = yaml.safe_dump(doc, sort_keys=False, width=200)
        (OUT / "candidates" / f"{svc}.yaml").write_text(text)
        total += len(entries)
        if svc in ship:
            dest = ROOT / "assets/catalog/aws/generated"
            dest.mkdir(exist_ok=True)
            (dest / f"{svc}.yaml").write_text(text)
    with open(OUT / "ambiguous.tsv", "w") as f:
        for svc, op, types in ambiguous:
            f.write(f"{svc}:{op}\t{', '.join(types)}\n")
    with open(OUT / "rejects.tsv", "w") as f:
        for what, why in rejects:
            f.write(f"{what}\t{why}\n")
    summary = (f"candidates: {total} events over {len(by_service)} services; "
               f"ambiguous: {len(ambiguous)}; rejected: {len(rejects)}\n")
    (OUT / "summary.txt").write_text(summary)
    print(summary, end="")


if __name__ == "__main__":
    main()
