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
     An `Arn` is used only when the type has an `arn` attribute (batch 2: or an attribute
     named like the member, `browser_settings_arn`), a bare `Name` only when it has
     `name` (the state index resolves id, arn and name). No member, or two members of equal rank: REJECTED / AMBIGUOUS.
  4. Attributes (updates only): optional input members whose snake_case name is a top-level
     scalar attribute of the type (string, number, bool), converted by the schema's type; sensitive
     attributes and documents (policies, templates, bodies: compared as text they would show
     formatting as drift) are left out.
  5. Protocol: `rest-xml` (S3, Route 53, CloudFront) services log requests in shapes
     botocore does not describe (XML names): REJECTED here, hand-written instead. `ec2`
     (batch 2): type and id only, never attributes; the id is read flat (`request.vpcId`,
     `response.vpc.vpcId`) or from the `<Op>Request` / `<Op>Response` wrapper newer EC2 calls
     are logged in;
     `query` services (IAM, RDS, SNS …) log lower-camel member names like JSON ones; API
     Gateway wraps its requests (`createRestApiInput`): REJECTED.
  6. Tag operations (`TagResource` …) and read verbs are never generated.
  8. (batch 2) `<Verb><Infix><Noun>` with Infix in INFIXES (`CreateCacheSubnetGroup` →
     aws_elasticache_subnet_group), and `Enable<Noun>` / `Disable<Noun>` for types that are an
     enablement (ENABLEMENT: route propagations, delegated admin accounts), as create / delete;
     `Import<Noun>` creates; `*_accepter` types are created by `Accept<Noun>`, `*_copy` types by
     `Copy<Noun>` (the noun's own id, like associations);
     like suffix claims, only when no exact claim exists.
  9. (batch 2) An operation name that another botocore service logging under the same event
     source also has (SES v1/v2, Lex v1/v2, Pinpoint SMS v1/v2) is AMBIGUOUS: the record
     cannot tell the APIs apart.
  7. (batch 2) Prefixes also resolve with their underscores dropped (`aws_media_convert_queue`
     → `mediaconvert`) and through the aliases below (`dx` → `directconnect`, `cloudwatch_log`
     → `logs`). Association and attachment types claim `Associate<Noun>` / `Disassociate<Noun>`
     and `Attach<Noun>` / `Detach<Noun>` (the type's noun without `_association` /
     `_attachment`), and a type claims `<Verb><Noun><Suffix>` (Suffix in SETTING_SUFFIXES:
     `UpdateFleetConfiguration` → the fleet) as an update — only when no type claims that
     operation by its exact noun (an exact claim always wins; two suffix claims are ambiguous).
     A required member named the noun itself (`jobQueue`) identifies it after the full-noun
     members. Identifying members may name the noun's trailing words (`StatementName` for
     `aws_athena_prepared_statement`, after any full-noun member) and need not be required: an optional `<Noun>Id` ranks after every
     required one (a record without it yields `no_resource`, never a wrong type).

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
    # batch 2 (Enable/Disable are not: `DisableTopicRule` is an update of `enabled`)
    "Add": "create", "Set": "update",
}
# Kind of every verb a claim may carry (VERBS and the association / attachment verbs).
KINDS = dict(VERBS, Accept="create", Copy="create", Import="create", Associate="create", Disassociate="delete", Attach="create", Detach="delete",
             Enable="create", Disable="delete")
# Types that are an enablement (Enable<Noun> creates them, Disable<Noun> deletes them).
ENABLEMENT = ("_propagation", "admin_account")
# Abbreviations in Terraform type names, spelt out as the API does.
ABBREV = {"lb": "load_balancer", "kx": "kx", "cidr": "cidr"}
# A service's word some operations put before the type's noun.
INFIXES = ["DB", "Cluster", "Cache", "DirectConnect", "Replication"]
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
SHAPELESS = {"rest-xml"}
# Services whose CloudTrail records wrap the request (`createRestApiInput`): hand-written only.
WRAPPED = {"apigateway"}
ID_SUFFIXES = ["Name", "Identifier", "Id", "Arn"]
# Reviewed and refused: the operation changes another resource than the rule found
# (ModifyClusterSnapshotSchedule attaches a schedule to a cluster: the association type).
DENY = {("redshift", "ModifyClusterSnapshotSchedule")}
# Operations that change a setting of the resource they name: `Update<Noun>Configuration`.
SETTING_SUFFIXES = ["Configuration", "Config", "Settings", "Attributes", "Attribute", "Options", "Properties", "Capacity", "Description"]
# Verbs of association / attachment types, by the type's last word.
LINK_VERBS = {
    "association": {"Associate": "create", "Disassociate": "delete"},
    "attachment": {"Attach": "create", "Detach": "delete"},
    # (batch 2) an accepter is created by accepting, a copy by copying.
    "accepter": {"Accept": "create"},
    "copy": {"Copy": "create"},
}
# Batch 2 prefix aliases (Terraform prefix → botocore service).
PREFIX2 = {
    "dx": "directconnect", "bedrockagent": "bedrock-agent", "cloudwatch_log": "logs",
    "cloudwatch_event": "events", "cloudwatch_metric": "cloudwatch",
    "cloudwatch_composite": "cloudwatch", "cloudwatch_dashboard": "cloudwatch",
    "workspacesweb": "workspaces-web", "chimesdkvoice": "chime-sdk-voice",
    "chimesdkmediapipelines": "chime-sdk-media-pipelines",
    "route53recoveryreadiness": "route53-recovery-readiness",
    "route53recoverycontrolconfig": "route53-recovery-control-config",
    "servicecatalogappregistry": "servicecatalog-appregistry",
    "pinpointsmsvoicev2": "pinpoint-sms-voice-v2", "costoptimizationhub": "cost-optimization-hub",
    "computeoptimizer": "compute-optimizer", "cloudfrontkeyvaluestore": "cloudfront-keyvaluestore",
    "timestreaminfluxdb": "timestream-influxdb", "timestreamquery": "timestream-query",
    "ssmquicksetup": "ssm-quicksetup", "redshiftdata": "redshift-data",
    "media_convert": "mediaconvert", "media_package": "mediapackage",
    "media_packagev2": "mediapackagev2", "media_store": "mediastore",
    "elastictranscoder": "elastictranscoder", "qldb": "qldb", "worklink": "worklink",
    "networkfirewall": "network-firewall", "opensearchserverless": "opensearchserverless",
}
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


def find_id(op, noun, attrs, kind, optional=True, link=False):
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
    words = re.findall(r"[A-Z]+(?![a-z])|[A-Z][a-z0-9]*|[a-z0-9]+", noun)
    tails = ["".join(words[i:]).lower() for i in range(1, len(words))]
    if ins is not None:
        req = set(ins.required_members)
        # `<Noun>Name` / `<Noun>Id` … first; a bare `Name` / `Id` only when none (a bare `Name`
        # next to `DataSourceId` is the new display name, not the identifier).
        # Then the noun's trailing words (`StatementName` for PreparedStatement, `ClientId`
        # for UserPoolClient), longest first.
        words = re.findall(r"[A-Z]+(?![a-z])|[A-Z][a-z0-9]*|[a-z0-9]+", noun)
        tails = ["".join(words[i:]).lower() for i in range(1, len(words))]
        # A required member named the noun itself (`jobQueue` for DeleteJobQueue: a name or an
        # ARN, both resolved by the state index), after every `<Noun>Name/Id/Arn`.
        for m, shape in ins.members.items():
            # (not for creates: `CreateSecurityConfiguration`'s securityConfiguration is the body)
            if kind != "create" and shape.type_name == "string" and m in req and m.lower() == nkey:
                cands.append((2 + len(ID_SUFFIXES), f"request.{lc(m)}", m))
        for rank, suffix in enumerate(ID_SUFFIXES):
            for m, shape in ins.members.items():
                if shape.type_name != "string":
                    continue
                # Optional members rank after every required one.
                if m not in req and not optional:
                    continue
                opt = 0 if m in req else 1000
                ml = m.lower()
                if ml == nkey + suffix.lower():
                    cands.append((2 + opt + rank, f"request.{lc(m)}", m))
                elif ml == suffix.lower() and not link:
                    # (a bare `Arn` next to an association names the linked object)
                    cands.append((2 + opt + 500 + rank, f"request.{lc(m)}", m))
                else:
                    for j, tail in enumerate(tails):
                        if ml == tail + suffix.lower():
                            cands.append((2 + opt + 10 * (j + 1) + rank, f"request.{lc(m)}", m))
    if ins is not None:
        # One level down in a required input structure (`samplingRuleUpdate.ruleName`), after
        # every top-level member.
        for m, shape in ins.members.items():
            if shape.type_name != "structure" or m not in req:
                continue
            for rank, suffix in enumerate(ID_SUFFIXES):
                for m2, s2 in shape.members.items():
                    if s2.type_name == "string" and m2.lower() in [
                        t + suffix.lower() for t in [nkey, *tails]
                    ]:
                        cands.append((3000 + rank, f"request.{lc(m)}.{lc(m2)}", m2))
    usable = []
    for rank, expr, member in cands:
        # An ARN identifies when the type has `arn`, or an attribute named like the member
        # (`browser_settings_arn`: such types' id is that ARN).
        if member.lower().endswith("arn") and "arn" not in attrs:
            if snake(member) not in attrs:
                continue
            # Last resort: the state index resolves `arn`, not `<noun>_arn` (a DMS endpoint's id
            # is its identifier, not its ARN).
            rank += 5000
        if member.lower() == "name" and "name" not in attrs:
            continue
        # A `<Noun>Name` the state cannot resolve (no `name` attribute) yields to an id of
        # the same object (`UpdateAgent`: agentId, not agentName).
        if member.lower().endswith("name") and "name" not in attrs:
            rank += 100
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


def ec2_id(opname, expr):
    """EC2 logs older calls flat (`request.vpcId`, `response.vpc.vpcId`) and newer ones wrapped
    in `<Op>Request` (botocore member names) / `<Op>Response`: both forms, flat first."""
    root, path = expr.split(".", 1)
    if root == "request":
        wrapped = ".".join(p[:1].upper() + p[1:] for p in path.split("."))
        return [expr, f"request.{opname}Request.{wrapped}"]
    return [expr, f"response.{opname}Response.{path}"]


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
    suffix_claims = collections.defaultdict(list)  # the same, by `<Verb><Noun><Suffix>`
    rejects = []
    for rtype in sorted(resources):
        rest = rtype[len("aws_"):]
        svc = None
        # Aliases and `-` joins at every length first, then `_` dropped (`media_convert`):
        # `amplify_backend_…` is Amplify's, not the `amplifybackend` service's.
        for joins in (lambda p: (PREFIX2.get(p), PREFIX.get(p), p.replace("_", "-")),
                      lambda p: (p.replace("_", ""),)):
            for i in range(rest.count("_"), 0, -1):
                prefix = "_".join(rest.split("_")[:i])
                for cand in joins(prefix):
                    if cand in services:
                        svc, noun_snake = cand, "_".join(rest.split("_")[i:])
                        break
                if svc is not None:
                    break
            if svc is not None:
                break
        if svc is None and not rest.startswith("default_"):
            # (batch 2) prefix-less types are EC2's (`aws_placement_group`, `aws_flow_log`);
            # `aws_default_*` adopt existing objects and are never created by a call.
            svc, noun_snake = "ec2", rest
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
            # (batch 2) the same with the noun's abbreviations spelt out (`lb` → LoadBalancer)
            # or in the plural (`DeleteAlarms`-style calls taking a list).
            long = "_".join(ABBREV.get(w, w) for w in noun_snake.split("_"))
            for variant in ({long} - {noun_snake}) | {noun_snake + "s"}:
                op = ops.get(camel_key(verb + variant))
                if op and op not in TAG_OPS:
                    suffix_claims[(svc, op)].append((rtype, op[len(verb):], verb))
                    found = True
        op = ops.get(camel_key("Import" + noun_snake))
        if op:
            suffix_claims[(svc, op)].append((rtype, op[len("Import"):], "Import"))
            found = True
        last = noun_snake.rsplit("_", 1)
        if len(last) == 2 and last[1] in LINK_VERBS:
            for verb in LINK_VERBS[last[1]]:
                op = ops.get(camel_key(verb + last[0])) or next(
                    (ops[k] for k in (camel_key(verb + i + last[0]) for i in INFIXES) if k in ops), None)
                if op and op not in TAG_OPS:
                    # The id is the association's / attachment's own, never the linked
                    # object's: the noun keeps its `Association` / `Attachment`.
                    claims[(svc, op)].append((rtype, op[len(verb):] + last[1].capitalize(), verb))
                    found = True
        # Enable/Disable create and delete only resources that ARE the enablement.
        if noun_snake.endswith(ENABLEMENT):
            for verb, kind in (("Enable", "create"), ("Disable", "delete")):
                op = ops.get(camel_key(verb + noun_snake))
                if op:
                    suffix_claims[(svc, op)].append((rtype, op[len(verb):], verb))
                    found = True
        # The service's own word between verb and noun (`CreateCacheSubnetGroup` for
        # aws_elasticache_subnet_group, `CreateDirectConnectGateway` for aws_dx_gateway).
        for verb in VERBS:
            for infix in INFIXES:
                op = ops.get(camel_key(verb + infix + noun_snake))
                if op and op not in TAG_OPS:
                    suffix_claims[(svc, op)].append((rtype, op[len(verb):], verb))
                    found = True
        for verb in ("Update", "Modify", "Put"):
            for suffix in SETTING_SUFFIXES:
                op = ops.get(camel_key(verb + noun_snake + suffix))
                if op and op not in TAG_OPS:
                    suffix_claims[(svc, op)].append((rtype, op[len(verb):-len(suffix)], verb))
                    found = True
        if not found:
            rejects.append((rtype, f"{svc}: no Create/Delete/Update operation named for it"))

    # An exact claim wins over suffix claims of the same operation.
    for key, cl in suffix_claims.items():
        if key not in claims:
            claims[key] = cl

    by_service = collections.defaultdict(list)
    ambiguous = []
    # Services sharing an event source (DocumentDB and Neptune log as rds.amazonaws.com): one
    # (source, operation) claimed by several types is ambiguous across services too.
    by_source = collections.defaultdict(set)
    for (svc, opname), cl in claims.items():
        if services[svc] is not None:
            by_source[(event_source(services[svc]), opname)].update(c[0] for c in cl)
    # Another API logging under the same event source with an operation of the same name
    # (SES v1 and v2, Lex v1 and v2, Pinpoint SMS v1 and v2): the record alone cannot tell
    # which API it came from, so the name is ambiguous unless every such API is claimed alike.
    source_ops = collections.defaultdict(set)  # (source, op) → botocore services
    for other in services:
        try:
            m = services[other] or sess.get_service_model(other)
        except Exception:
            continue
        for o in m.operation_names:
            source_ops[(event_source(m), o)].add(other)
    for (svc, opname), cl in sorted(claims.items()):
        src0 = event_source(services[svc])
        others = source_ops[(src0, opname)] - {svc}
        if others:
            ambiguous.append((svc, opname, [cl[0][0], *(f"(unclaimed {o})" for o in sorted(others))]))
            continue
        if (svc, opname) in DENY:
            rejects.append((f"{svc}:{opname}", "reviewed: another resource (DENY)"))
            continue
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
        # Deletes and updates: required input members, then the output (`UpdateX` returning
        # `XArn`), then optional input members.
        link = verb in ("Associate", "Disassociate", "Attach", "Detach", "Accept", "Copy")
        expr, why = find_id(op, noun, attrs, KINDS[verb], optional=KINDS[verb] == "create", link=link)
        if expr is None and KINDS[verb] != "create":
            expr, why = find_id_output(op, noun, attrs)
            if expr is None:
                expr, why = find_id(op, noun, attrs, KINDS[verb], link=link)
        if expr is None:
            (ambiguous if why.startswith("several") else rejects).append(
                (svc, opname, [rtype, why]) if why.startswith("several") else (f"{svc}:{opname}", f"{rtype}: {why}")
            )
            continue
        kind = KINDS[verb]
        if kind == "create" and expr.startswith("request.") and op.output_shape is not None and any(
            m.lower().endswith("id") or m.lower().endswith("arn") for m in op.output_shape.members
        ) and not expr.lower().endswith("name"):
            rejects.append((f"{svc}:{opname}", f"{rtype}: create names an input id while the output has one"))
            continue
        ec2 = model.metadata.get("protocol") == "ec2"
        entry = {"name": opname, "type": rtype, "kind": kind, "id": ec2_id(opname, expr) if ec2 else expr}
        if kind == "update" and op.input_shape is not None and not ec2:
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
