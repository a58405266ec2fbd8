#!/usr/bin/env python3
"""Out-of-band changes for the tfdrift embedded demo, and the CloudTrail records they produce.

Run by scripts/demo/generate.sh after `terraform apply` against a local moto server. For every
scenario step this script

  1. performs the API call for real with boto3 against moto (so ids and effects are real), and
  2. writes the record CloudTrail would have delivered for that call, built from the request
     parameters actually sent and the ids / responses moto returned.

CloudTrail's own fields (eventID, requestID, x-amz-id-2, access key ids, times) cannot come from
moto (moto returns "request-id" placeholders), so they are drawn from a seeded PRNG and a fixed
clock starting at --start: apart from ids that moto assigns, the output is deterministic.

The record layout follows genuine AWS-delivered records (see assets/demo/README.md): compact JSON,
CloudTrail's key order, EC2 query-API style `items` lists, S3 `bucketName`/`Host`, bracketed S3
user agents, `mfaAuthenticated` and `sessionCredentialFromConsole` as strings.

Outputs:
  --out       events.jsonl, one record per line, in time order
  --calls     calls.json, per record: whether it was sent to moto and what moto answered
  --expected  expected-alerts.json, per record: the alert tfdrift should raise, or "silent"
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import random
import string
import sys
import uuid
from typing import Any, Callable

import boto3
from botocore.exceptions import ClientError

ACCOUNT = "123456789012"
REGION = "us-east-1"
S3_XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"

# ------------------------------------------------------------------------------------ user agents

UA_CONSOLE_EC2 = "AWS Internal"
UA_BROWSER = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
UA_S3_CONSOLE = (
    "[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.750 Linux/5.10.226-192.879.amzn2int.x86_64 "
    "OpenJDK_64-Bit_Server_VM/25.422-b05 java/1.8.0_422 vendor/Oracle_Corporation "
    "cfg/retry-mode/standard]"
)


def ua_cli(command: str) -> str:
    return (
        "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0-1016-aws exe/x86_64.ubuntu.22 prompt/off "
        f"command/{command}"
    )


UA_BOTO3 = (
    "Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#6.5.0-1016-aws md/arch#x86_64 "
    "lang/python#3.11.7 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.0"
)


def ua_terraform(api: str) -> str:
    return (
        "APN/1.0 HashiCorp/1.0 Terraform/1.11.0 (+https://www.terraform.io) "
        "terraform-provider-aws/5.100.0 (+https://registry.terraform.io/providers/hashicorp/aws) "
        "aws-sdk-go-v2/1.36.3 ua/2.1 os/linux lang/go#1.24.2 md/GOOS#linux md/GOARCH#amd64 "
        f"api/{api} m/C,g"
    )


def s3_ua(ua: str) -> str:
    """S3 logs the user agent wrapped in brackets."""
    return ua if ua.startswith("[") else f"[{ua}]"


TLS_CLI = {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256"}
TLS_CONSOLE = {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256"}
TLS_TF = {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256"}


# ------------------------------------------------------------------------------------ ids & clock


class Ids:
    """Seeded generator for the identifiers CloudTrail itself assigns."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def s3_request_id(self) -> str:
        return "".join(self.rng.choice(string.ascii_uppercase + string.digits) for _ in range(16))

    def amz_id_2(self) -> str:
        return base64.b64encode(self.rng.randbytes(64)).decode()

    def client_token(self) -> str:
        return self.uuid().upper()


def ts(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------------------------ identities


def iam_user(name: str, principal_id: str, access_key: str) -> dict[str, Any]:
    return {
        "type": "IAMUser",
        "principalId": principal_id,
        "arn": f"arn:aws:iam::{ACCOUNT}:user/{name}",
        "accountId": ACCOUNT,
        "accessKeyId": access_key,
        "userName": name,
    }


def assumed_role(
    role_name: str,
    role_id: str,
    session: str,
    access_key: str,
    created: dt.datetime,
    mfa: bool,
    role_path: str = "/",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    ident: dict[str, Any] = {
        "type": "AssumedRole",
        "principalId": f"{role_id}:{session}",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/{session}",
        "accountId": ACCOUNT,
        "accessKeyId": access_key,
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": role_id,
                "arn": f"arn:aws:iam::{ACCOUNT}:role{role_path}{role_name}",
                "accountId": ACCOUNT,
                "userName": role_name,
            },
            "webIdFederationData": {},
            "attributes": {"creationDate": ts(created), "mfaAuthenticated": "true" if mfa else "false"},
        },
    }
    if extra:
        ident["sessionContext"].update(extra)
    return ident


# ------------------------------------------------------------------------------------ helpers


def state_attrs(state: dict[str, Any], rtype: str, name: str) -> dict[str, Any]:
    for r in state["resources"]:
        if r.get("mode", "managed") == "managed" and r["type"] == rtype and r["name"] == name:
            return r["instances"][0]["attributes"]
    raise SystemExit(f"{rtype}.{name} not found in state")


def epoch_ms(t: dt.datetime) -> int:
    return int(t.timestamp()) * 1000


class Recorder:
    def __init__(self, ids: Ids, start: dt.datetime) -> None:
        self.ids = ids
        self.clock = start
        self.records: list[dict[str, Any]] = []
        self.calls: list[dict[str, Any]] = []
        self.expected: list[dict[str, Any]] = []

    def at(self, seconds: int) -> dt.datetime:
        """Advances the scenario clock by `seconds` and returns the new time."""
        self.clock = self.clock + dt.timedelta(seconds=seconds)
        return self.clock

    def call(self, step: str, name: str, fn: Callable[[], Any] | None, note: str = "") -> tuple[Any, str]:
        """Performs one real call against moto; returns (response, outcome)."""
        if fn is None:
            self.calls.append({"step": step, "eventName": name, "sent_to_moto": False, "moto_outcome": None, "note": note})
            return None, "not-sent"
        try:
            resp = fn()
            outcome = "ok"
        except ClientError as e:  # moto rejected it: keep going, record what we sent
            resp = None
            err = e.response.get("Error", {})
            outcome = f"error {err.get('Code')}: {err.get('Message')}"
            print(f"[out_of_band] moto rejected {name}: {outcome}", file=sys.stderr)
        entry = {"step": step, "eventName": name, "sent_to_moto": True, "moto_outcome": outcome}
        if note:
            entry["note"] = note
        self.calls.append(entry)
        return resp, outcome

    def emit(self, rec: dict[str, Any]) -> None:
        self.records.append(rec)

    def expect(self, step: str, actor: str, alert: dict[str, Any] | None, why: str = "") -> None:
        """States what tfdrift should make of the record just emitted (None: stay silent)."""
        rec = self.records[-1]
        entry: dict[str, Any] = {
            "line": len(self.records),
            "step": step,
            "eventID": rec["eventID"],
            "eventTime": rec["eventTime"],
            "eventName": rec["eventName"],
            "actor": actor,
            "expect": "alert" if alert else "silent",
        }
        if alert:
            entry.update(alert)
        if why:
            entry["why"] = why
        self.expected.append(entry)


def base_record(
    *,
    version: str,
    identity: dict[str, Any],
    t: dt.datetime,
    source: str,
    name: str,
    ip: str,
    ua: str,
) -> dict[str, Any]:
    return {
        "eventVersion": version,
        "userIdentity": identity,
        "eventTime": ts(t),
        "eventSource": source,
        "eventName": name,
        "awsRegion": REGION,
        "sourceIPAddress": ip,
        "userAgent": ua,
    }


def finish(
    rec: dict[str, Any],
    *,
    request_id: str,
    event_id: str,
    read_only: bool,
    resources: list[dict[str, Any]] | None = None,
    management: bool = True,
    category: str = "Management",
    tls: dict[str, Any] | None = None,
    host: str | None = None,
    console: bool = False,
) -> dict[str, Any]:
    rec["requestID"] = request_id
    rec["eventID"] = event_id
    rec["readOnly"] = read_only
    if resources is not None:
        rec["resources"] = resources
    rec["eventType"] = "AwsApiCall"
    rec["managementEvent"] = management
    rec["recipientAccountId"] = ACCOUNT
    rec["eventCategory"] = category
    if tls is not None:
        rec["tlsDetails"] = {**tls, "clientProvidedHostHeader": host}
    if console:
        rec["sessionCredentialFromConsole"] = "true"
    return rec


def ec2_record(rc: Recorder, *, identity, t, name, ip, ua, params, response, read_only=False,
               tls=TLS_CLI, console=False, error=None) -> dict[str, Any]:
    rec = base_record(version="1.09", identity=identity, t=t, source="ec2.amazonaws.com", name=name, ip=ip, ua=ua)
    request_id = rc.ids.uuid()
    if error:
        rec["errorCode"], rec["errorMessage"] = error
    rec["requestParameters"] = params
    if response is None:
        rec["responseElements"] = None
    else:
        rec["responseElements"] = {"requestId": request_id, **response}
    return finish(rec, request_id=request_id, event_id=rc.ids.uuid(), read_only=read_only, tls=tls,
                  host="ec2.us-east-1.amazonaws.com", console=console)


def iam_record(rc: Recorder, *, identity, t, name, ip, ua, params, tls=TLS_CLI) -> dict[str, Any]:
    rec = base_record(version="1.09", identity=identity, t=t, source="iam.amazonaws.com", name=name, ip=ip, ua=ua)
    rec["requestParameters"] = params
    rec["responseElements"] = None
    return finish(rec, request_id=rc.ids.uuid(), event_id=rc.ids.uuid(), read_only=False, tls=tls,
                  host="iam.amazonaws.com")


def s3_record(rc: Recorder, *, identity, t, name, ip, ua, bucket, params, read_only, bytes_in=0,
              bytes_out=0, tls=TLS_CLI, console=False, error=None, key=None, data_event=False,
              extra_aed: dict[str, Any] | None = None) -> dict[str, Any]:
    host = f"{bucket}.s3.us-east-1.amazonaws.com"
    rec = base_record(version="1.08" if data_event else "1.09", identity=identity, t=t,
                      source="s3.amazonaws.com", name=name, ip=ip, ua=s3_ua(ua))
    if error:
        rec["errorCode"], rec["errorMessage"] = error
    rec["requestParameters"] = {"bucketName": bucket, "Host": host, **params}
    rec["responseElements"] = None
    aed: dict[str, Any] = {"SignatureVersion": "SigV4", "CipherSuite": tls["cipherSuite"],
                           "bytesTransferredIn": bytes_in}
    if extra_aed:
        aed.update(extra_aed)
    aed.update({"AuthenticationMethod": "AuthHeader", "x-amz-id-2": rc.ids.amz_id_2(),
                "bytesTransferredOut": bytes_out})
    rec["additionalEventData"] = aed
    resources: list[dict[str, Any]] = []
    if key is not None:
        resources.append({"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"})
    resources.append({"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"})
    return finish(rec, request_id=rc.ids.s3_request_id(), event_id=rc.ids.uuid(), read_only=read_only,
                  resources=resources, management=not data_event,
                  category="Data" if data_event else "Management", tls=tls, host=host, console=console)


def drift(address: str, rtype: str, rid: str, attribute: str, state_value: Any, observed: Any) -> dict[str, Any]:
    return {"kind": "attribute_drift", "address": address, "resource_type": rtype, "resource_id": rid,
            "attribute": attribute, "state_value": state_value, "observed_value": observed}


def deleted(address: str, rtype: str, rid: str) -> dict[str, Any]:
    return {"kind": "managed_resource_deleted", "address": address, "resource_type": rtype, "resource_id": rid}


def unmanaged(rtype: str, rid: str, change: str) -> dict[str, Any]:
    return {"kind": "unmanaged_change", "address": None, "resource_type": rtype, "resource_id": rid,
            "change": change}


def rule_key(r: dict[str, Any]) -> tuple:
    return (r["protocol"], r["from_port"], r["to_port"], tuple(r["cidr_blocks"]))


def items(xs: list[Any]) -> dict[str, Any]:
    return {"items": xs} if xs else {}


# ------------------------------------------------------------------------------------ scenario


def run(endpoint: str, state_path: str, start: dt.datetime, seed: int) -> Recorder:
    kw = dict(endpoint_url=endpoint, region_name=REGION, aws_access_key_id="test",
              aws_secret_access_key="test")
    ec2 = boto3.client("ec2", **kw)
    s3 = boto3.client("s3", **kw)
    iam = boto3.client("iam", **kw)

    with open(state_path) as f:
        state = json.load(f)
    inst = state_attrs(state, "aws_instance", "web")
    sg = state_attrs(state, "aws_security_group", "web")
    subnet = state_attrs(state, "aws_subnet", "app")
    bucket = state_attrs(state, "aws_s3_bucket", "data")["bucket"]
    role = state_attrs(state, "aws_iam_role", "app")
    attach = state_attrs(state, "aws_iam_role_policy_attachment", "app_readonly")
    versioning = state_attrs(state, "aws_s3_bucket_versioning", "data")
    bucket_policy = state_attrs(state, "aws_s3_bucket_policy", "data")
    instance_id, sg_id = inst["id"], sg["id"]

    ids = Ids(seed)
    rc = Recorder(ids, start)

    # --- principals (ids are fixed strings: they exist only in these records, not in moto)
    alice = assumed_role(
        "AWSReservedSSO_AdministratorAccess_0123456789abcdef", "AROAVXK4PQ2HL7Z3W5NTB",
        "alice@example.com", "ASIAVXK4PQ2HBJ4ZQ6MT", start - dt.timedelta(minutes=7, seconds=50),
        mfa=True, role_path="/aws-reserved/sso.amazonaws.com/")
    alice_ip = "198.51.100.23"
    bob = iam_user("bob", "AIDAVXK4PQ2HC3RMYT6JE", "AKIAVXK4PQ2HNF7W2XQD")
    bob_ip = "203.0.113.45"
    carol = iam_user("carol", "AIDAVXK4PQ2HQW4NB7SXK", "AKIAVXK4PQ2HTZ5PMY3R")
    carol_ip = "203.0.113.77"
    dave = iam_user("dave", "AIDAVXK4PQ2HM2XJ6RKPD", "AKIAVXK4PQ2HWD6H4ZKE")
    dave_ip = "203.0.113.91"
    tf_ip = "192.0.2.10"
    # The instance's own role session, as EC2 delivers it through the instance metadata service.
    app_role_id = iam.get_role(RoleName=role["name"])["Role"]["RoleId"]
    app_session = assumed_role(
        role["name"], app_role_id, instance_id, "ASIAVXK4PQ2HYR6K2NWC",
        start - dt.timedelta(minutes=30), mfa=False, extra={"ec2RoleDelivery": "2.0"})
    app_ip = "192.0.2.50"  # the NAT address the web tier egresses through

    # --- setup (not part of the trail): an object the application reads in step (i)
    s3.put_object(Bucket=bucket, Key="config/app.json",
                  Body=json.dumps({"feature_flags": {"new_checkout": True}}, indent=2).encode())

    # (a) console: resize the managed instance t3.micro -> t3.large --------------------------
    t = rc.at(0)
    _, _ = rc.call("a", "ModifyInstanceAttribute", lambda: ec2.modify_instance_attribute(
        InstanceId=instance_id, InstanceType={"Value": "t3.large"}))
    rc.emit(ec2_record(rc, identity=alice, t=t, name="ModifyInstanceAttribute", ip=alice_ip,
                       ua=UA_CONSOLE_EC2, tls=None, console=True,
                       params={"instanceId": instance_id, "instanceType": {"value": "t3.large"}},
                       response={"_return": True}))
    rc.expect("a", "console", drift("aws_instance.web", "aws_instance", instance_id, "instance_type",
                                     inst["instance_type"], "t3.large"))

    # (b) cli: open tcp/22 to the world on the managed security group -------------------------
    t = rc.at(41)
    perm = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    resp, _ = rc.call("b", "AuthorizeSecurityGroupIngress", lambda: ec2.authorize_security_group_ingress(
        GroupId=sg_id, IpPermissions=[perm]))
    # The same rule as Terraform writes an inline `ingress` block.
    new_rule = {"cidr_blocks": ["0.0.0.0/0"], "description": "", "from_port": 22, "ipv6_cidr_blocks": [],
                "prefix_list_ids": [], "protocol": "tcp", "security_groups": [], "self": False, "to_port": 22}
    rules = []
    for r in (resp or {}).get("SecurityGroupRules", []):
        rules.append({"groupOwnerId": ACCOUNT, "groupId": r["GroupId"],
                      "securityGroupRuleId": r["SecurityGroupRuleId"], "isEgress": r["IsEgress"],
                      "ipProtocol": r["IpProtocol"], "fromPort": r["FromPort"], "toPort": r["ToPort"],
                      "cidrIpv4": r["CidrIpv4"]})
    rc.emit(ec2_record(rc, identity=bob, t=t, name="AuthorizeSecurityGroupIngress", ip=bob_ip,
                       ua=ua_cli("ec2.authorize-security-group-ingress"),
                       params={"groupId": sg_id, "ipPermissions": {"items": [{
                           "ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "groups": {},
                           "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}, "ipv6Ranges": {},
                           "prefixListIds": {}}]}},
                       response={"_return": True, "securityGroupRuleSet": items(rules)}))
    rc.expect("b", "cli", drift("aws_security_group.web", "aws_security_group", sg_id, "ingress",
                                 sg["ingress"], sorted(sg["ingress"] + [new_rule], key=rule_key)))

    # (c) console: suspend versioning on the managed bucket -----------------------------------
    t = rc.at(52)
    rc.call("c", "PutBucketVersioning", lambda: s3.put_bucket_versioning(
        Bucket=bucket, VersioningConfiguration={"Status": "Suspended"}))
    body = (f'<VersioningConfiguration xmlns="{S3_XMLNS}"><Status>Suspended</Status>'
            "</VersioningConfiguration>")
    rc.emit(s3_record(rc, identity=alice, t=t, name="PutBucketVersioning", ip=alice_ip,
                      ua=UA_S3_CONSOLE, bucket=bucket, tls=TLS_CONSOLE, console=True, read_only=False,
                      bytes_in=len(body),
                      params={"versioning": "", "VersioningConfiguration": {
                          "Status": "Suspended", "xmlns": S3_XMLNS}}))
    rc.expect("c", "console", drift("aws_s3_bucket_versioning.data", "aws_s3_bucket_versioning", bucket,
                                     "versioning_configuration[0].status",
                                     versioning["versioning_configuration"][0]["status"], "Suspended"))

    # (d) sdk: make the managed bucket world-readable -----------------------------------------
    t = rc.at(44)
    public_policy = {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "PublicRead",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{bucket}/*",
        }],
    }
    policy_text = json.dumps(public_policy)
    rc.call("d", "PutBucketPolicy", lambda: s3.put_bucket_policy(Bucket=bucket, Policy=policy_text))
    rc.emit(s3_record(rc, identity=carol, t=t, name="PutBucketPolicy", ip=carol_ip, ua=UA_BOTO3,
                      bucket=bucket, read_only=False, bytes_in=len(policy_text),
                      params={"bucketPolicy": public_policy, "policy": ""}))
    rc.expect("d", "sdk", drift("aws_s3_bucket_policy.data", "aws_s3_bucket_policy", bucket, "policy",
                                 bucket_policy["policy"], policy_text))

    # (e) cli: widen the managed role's trust policy to any AWS principal ---------------------
    t = rc.at(61)
    # As `aws iam update-assume-role-policy --policy-document file://trust.json` sends it: the
    # file's text verbatim (CloudTrail logs policyDocument as that string).
    trust_text = json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": "sts:AssumeRole",
        }],
    }, indent=4) + "\n"
    rc.call("e", "UpdateAssumeRolePolicy", lambda: iam.update_assume_role_policy(
        RoleName=role["name"], PolicyDocument=trust_text))
    rc.emit(iam_record(rc, identity=bob, t=t, name="UpdateAssumeRolePolicy", ip=bob_ip,
                       ua=ua_cli("iam.update-assume-role-policy"),
                       params={"policyDocument": trust_text, "roleName": role["name"]}))
    rc.expect("e", "cli", drift("aws_iam_role.app", "aws_iam_role", role["name"], "assume_role_policy",
                                 role["assume_role_policy"], trust_text))

    # (f) Terraform itself (CI apply of a newer config revision): must stay silent ------------
    t = rc.at(95)
    tf = assumed_role("terraform-ci", "AROAVXK4PQ2HF5JD3KZLW", "terraform-ci", "ASIAVXK4PQ2HG3VN7QJX",
                      t - dt.timedelta(seconds=38), mfa=False)
    rc.call("f", "ModifyInstanceAttribute", lambda: ec2.modify_instance_attribute(
        InstanceId=instance_id, DisableApiTermination={"Value": True}))
    rc.emit(ec2_record(rc, identity=tf, t=t, name="ModifyInstanceAttribute", ip=tf_ip,
                       ua=ua_terraform("ec2#1.210.1"), tls=TLS_TF,
                       params={"instanceId": instance_id, "disableApiTermination": {"value": True}},
                       response={"_return": True}))
    rc.expect("f", "terraform", None, "made by Terraform (terraform-ci role, Terraform user agent)")
    t = rc.at(2)
    rc.call("f", "CreateTags", lambda: ec2.create_tags(
        Resources=[instance_id], Tags=[{"Key": "Backup", "Value": "daily"}]))
    rc.emit(ec2_record(rc, identity=tf, t=t, name="CreateTags", ip=tf_ip,
                       ua=ua_terraform("ec2#1.210.1"), tls=TLS_TF,
                       params={"resourcesSet": {"items": [{"resourceId": instance_id}]},
                               "tagSet": {"items": [{"key": "Backup", "value": "daily"}]}},
                       response={"_return": True}))
    rc.expect("f", "terraform", None, "made by Terraform (terraform-ci role, Terraform user agent)")

    # (g) console: an instance and a bucket that no state manages -----------------------------
    t = rc.at(70)
    token = ids.client_token()
    resp, _ = rc.call("g", "RunInstances", lambda: ec2.run_instances(
        ImageId=inst["ami"], MinCount=1, MaxCount=1, InstanceType="t3.medium", ClientToken=token,
        NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": subnet["id"], "Groups": [sg_id],
                            "AssociatePublicIpAddress": True}],
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "alice-debug"}]}],
        MetadataOptions={"HttpTokens": "required", "HttpPutResponseHopLimit": 2, "HttpEndpoint": "enabled"}))
    if resp is None:
        raise SystemExit("RunInstances failed against moto; cannot continue the scenario")
    new = resp["Instances"][0]
    new_id = new["InstanceId"]
    eni = new["NetworkInterfaces"][0]
    groups = [{"groupId": g["GroupId"], "groupName": g["GroupName"]} for g in eni["Groups"]]
    run_params = {
        "instancesSet": {"items": [{"imageId": inst["ami"], "minCount": 1, "maxCount": 1}]},
        "instanceType": "t3.medium",
        "blockDeviceMapping": {},
        "monitoring": {"enabled": False},
        "disableApiTermination": False,
        "disableApiStop": False,
        "clientToken": token,
        "networkInterfaceSet": {"items": [{"deviceIndex": 0, "subnetId": subnet["id"],
                                           "associatePublicIpAddress": True,
                                           "groupSet": {"items": [{"groupId": sg_id}]}}]},
        "ebsOptimized": False,
        "tagSpecificationSet": {"items": [{"resourceType": "instance",
                                           "tags": [{"key": "Name", "value": "alice-debug"}]}]},
        "metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 2,
                            "httpEndpoint": "enabled"},
    }
    launch_ms = epoch_ms(t)
    run_resp = {
        "reservationId": resp["ReservationId"],
        "ownerId": resp["OwnerId"],
        "groupSet": {},
        "instancesSet": {"items": [{
            "instanceId": new_id,
            "imageId": new["ImageId"],
            "instanceState": {"code": new["State"]["Code"], "name": new["State"]["Name"]},
            "privateDnsName": new["PrivateDnsName"],
            "amiLaunchIndex": new["AmiLaunchIndex"],
            "productCodes": {},
            "instanceType": new["InstanceType"],
            "launchTime": launch_ms,
            "placement": {"availabilityZone": new["Placement"]["AvailabilityZone"], "tenancy": "default"},
            "monitoring": {"state": new["Monitoring"]["State"]},
            "subnetId": new["SubnetId"],
            "vpcId": new["VpcId"],
            "privateIpAddress": new["PrivateIpAddress"],
            "stateReason": {"code": "pending", "message": "pending"},
            "architecture": new["Architecture"],
            "rootDeviceType": new["RootDeviceType"],
            "rootDeviceName": new["RootDeviceName"],
            "blockDeviceMapping": {},
            "virtualizationType": new["VirtualizationType"],
            "hypervisor": new["Hypervisor"],
            "tagSet": {"items": [{"key": tg["Key"], "value": tg["Value"]} for tg in new.get("Tags", [])]},
            "clientToken": token,
            "groupSet": {"items": groups},
            "sourceDestCheck": new["SourceDestCheck"],
            "networkInterfaceSet": {"items": [{
                "networkInterfaceId": eni["NetworkInterfaceId"],
                "subnetId": eni["SubnetId"],
                "vpcId": eni["VpcId"],
                "ownerId": eni["OwnerId"],
                "status": eni["Status"],
                "macAddress": eni["MacAddress"],
                "privateIpAddress": eni["PrivateIpAddress"],
                "privateDnsName": eni["PrivateDnsName"],
                "sourceDestCheck": eni["SourceDestCheck"],
                "interfaceType": eni["InterfaceType"],
                "groupSet": {"items": groups},
                "attachment": {
                    "attachmentId": eni["Attachment"]["AttachmentId"],
                    "deviceIndex": eni["Attachment"]["DeviceIndex"],
                    "networkCardIndex": eni["Attachment"]["NetworkCardIndex"],
                    "status": "attaching",
                    "attachTime": launch_ms,
                    "deleteOnTermination": True,
                },
                "privateIpAddressesSet": {"item": [{
                    "privateIpAddress": eni["PrivateIpAddress"],
                    "privateDnsName": eni["PrivateDnsName"],
                    "primary": True,
                }]},
                "ipv6AddressesSet": {},
                "tagSet": {},
            }]},
            "ebsOptimized": new["EbsOptimized"],
            "enaSupport": True,
            "cpuOptions": {"coreCount": 1, "threadsPerCore": 2},
            "capacityReservationSpecification": {"capacityReservationPreference": "open"},
            "enclaveOptions": {"enabled": False},
            "metadataOptions": {
                "state": "pending",
                "httpTokens": new["MetadataOptions"]["HttpTokens"],
                "httpPutResponseHopLimit": new["MetadataOptions"]["HttpPutResponseHopLimit"],
                "httpEndpoint": new["MetadataOptions"]["HttpEndpoint"],
                "httpProtocolIpv6": new["MetadataOptions"]["HttpProtocolIpv6"],
                "instanceMetadataTags": new["MetadataOptions"]["InstanceMetadataTags"],
            },
            "maintenanceOptions": {"autoRecovery": "default"},
            "currentInstanceBootMode": "legacy-bios",
        }]},
    }
    rc.emit(ec2_record(rc, identity=alice, t=t, name="RunInstances", ip=alice_ip, ua=UA_BROWSER,
                       tls=TLS_CONSOLE, console=True, params=run_params, response=run_resp))
    rc.expect("g", "console", unmanaged("aws_instance", new_id, "created"))

    t = rc.at(48)
    scratch = "acme-alice-scratch-20261127"
    rc.call("g", "CreateBucket", lambda: s3.create_bucket(Bucket=scratch, ObjectOwnership="BucketOwnerEnforced"))
    rc.emit(s3_record(rc, identity=alice, t=t, name="CreateBucket", ip=alice_ip, ua=UA_S3_CONSOLE,
                      bucket=scratch, tls=TLS_CONSOLE, console=True, read_only=False,
                      params={"x-amz-object-ownership": "BucketOwnerEnforced"}))
    rc.expect("g", "console", unmanaged("aws_s3_bucket", scratch, "created"))

    # (h) cli: remove the managed public access block; terminate alice's instance -------------
    t = rc.at(55)
    rc.call("h", "DeleteBucketPublicAccessBlock", lambda: s3.delete_public_access_block(Bucket=bucket))
    rc.emit(s3_record(rc, identity=bob, t=t, name="DeleteBucketPublicAccessBlock", ip=bob_ip,
                      ua=ua_cli("s3api.delete-public-access-block"), bucket=bucket, read_only=False,
                      params={"publicAccessBlock": ""}))
    rc.expect("h", "cli", deleted("aws_s3_bucket_public_access_block.data",
                                   "aws_s3_bucket_public_access_block", bucket))

    t = rc.at(31)
    resp, _ = rc.call("h", "TerminateInstances", lambda: ec2.terminate_instances(InstanceIds=[new_id]))
    term_items = []
    for it in (resp or {}).get("TerminatingInstances", []):
        term_items.append({"instanceId": it["InstanceId"],
                           "currentState": {"code": it["CurrentState"]["Code"], "name": it["CurrentState"]["Name"]},
                           "previousState": {"code": it["PreviousState"]["Code"], "name": it["PreviousState"]["Name"]}})
    rc.emit(ec2_record(rc, identity=bob, t=t, name="TerminateInstances", ip=bob_ip,
                       ua=ua_cli("ec2.terminate-instances"),
                       params={"instancesSet": {"items": [{"instanceId": new_id}]}},
                       response={"instancesSet": items(term_items)}))
    rc.expect("h", "cli", unmanaged("aws_instance", new_id, "deleted"))

    # (i) noise: read-only call, denied call, data event ---------------------------------------
    t = rc.at(22)
    rc.call("i", "DescribeInstances", lambda: ec2.describe_instances())
    rc.emit(ec2_record(rc, identity=bob, t=t, name="DescribeInstances", ip=bob_ip,
                       ua=ua_cli("ec2.describe-instances"), read_only=True,
                       params={"instancesSet": {}, "filterSet": {}}, response=None))
    rc.expect("i", "cli", None, "read-only call")

    t = rc.at(19)
    rc.call("i", "DeleteBucket", None,
            note="not sent: moto does not evaluate IAM permissions, so it cannot produce the "
                 "AccessDenied this record shows; the record is what S3 logs when dave, who has "
                 "no s3:DeleteBucket permission, tries it")
    rc.emit(s3_record(rc, identity=dave, t=t, name="DeleteBucket", ip=dave_ip,
                      ua=ua_cli("s3api.delete-bucket"), bucket=bucket, read_only=False,
                      error=("AccessDenied", "Access Denied"), params={}, bytes_out=243))
    rc.expect("i", "cli", None, "failed call (AccessDenied): nothing changed")

    t = rc.at(27)
    key = "config/app.json"
    resp, _ = rc.call("i", "GetObject", lambda: s3.get_object(Bucket=bucket, Key=key))
    size = resp["ContentLength"] if resp else 0
    if resp:
        resp["Body"].read()
    rc.emit(s3_record(rc, identity=app_session, t=t, name="GetObject", ip=app_ip, ua=UA_BOTO3,
                      bucket=bucket, key=key, read_only=True, data_event=True, bytes_out=size,
                      params={"key": key}, extra_aed={"SSEApplied": "SSE_KMS"}))
    rc.expect("i", "sdk", None, "data event (eventCategory Data), read-only")

    # (j) cli: detach the managed policy attachment --------------------------------------------
    t = rc.at(40)
    rc.call("j", "DetachRolePolicy", lambda: iam.detach_role_policy(
        RoleName=role["name"], PolicyArn=attach["policy_arn"]))
    rc.emit(iam_record(rc, identity=bob, t=t, name="DetachRolePolicy", ip=bob_ip,
                       ua=ua_cli("iam.detach-role-policy"),
                       params={"roleName": role["name"], "policyArn": attach["policy_arn"]}))
    rc.expect("j", "cli", deleted("aws_iam_role_policy_attachment.app_readonly",
                                   "aws_iam_role_policy_attachment", attach["id"]))

    return rc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint", required=True, help="moto server URL")
    ap.add_argument("--state", required=True, help="terraform.tfstate written by the apply")
    ap.add_argument("--out", required=True, help="events.jsonl to write")
    ap.add_argument("--calls", required=True, help="calls.json to write")
    ap.add_argument("--expected", required=True, help="expected-alerts.json to write")
    ap.add_argument("--start", default="2026-11-27T09:00:00Z", help="time of the first record")
    ap.add_argument("--seed", type=int, default=20261127, help="seed for CloudTrail-assigned ids")
    a = ap.parse_args()

    start = dt.datetime.strptime(a.start, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
    rc = run(a.endpoint, a.state, start, a.seed)

    times = [r["eventTime"] for r in rc.records]
    assert times == sorted(times), "records must be in time order"
    with open(a.out, "w") as f:
        for r in rc.records:
            f.write(json.dumps(r, separators=(",", ":")) + "\n")
    with open(a.calls, "w") as f:
        json.dump(rc.calls, f, indent=2)
        f.write("\n")
    with open(a.expected, "w") as f:
        json.dump(rc.expected, f, indent=2)
        f.write("\n")
    print(f"[out_of_band] wrote {len(rc.records)} records to {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
