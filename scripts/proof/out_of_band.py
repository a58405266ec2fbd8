#!/usr/bin/env python3
"""Out-of-band changes for the tfdrift proof against Terraform, and their CloudTrail records.

Run by scripts/proof/run.sh after `terraform apply` of scripts/proof/main.tf against moto. For
every change this script

  1. makes the API call for real with boto3 against moto (so Terraform's refresh sees it), and
  2. writes the record CloudTrail delivers for that call: eventSource, eventName and
     requestParameters in the casing CloudTrail logs for that API (EC2 query style with `items`
     lists and `{"value": …}` wrappers; IAM `policyDocument` as the JSON text sent; S3
     `bucketName`/`Host` plus the XML body as an object; KMS, SQS, logs, DynamoDB, SNS and SSM
     in their JSON-protocol lower camel case), with the values the API took.

Every actor is a person or a script (console, aws-cli, boto3): none is Terraform. CloudTrail's
own fields (eventID, requestID, x-amz-id-2, access key ids, times) come from a seeded PRNG and a
fixed clock, so apart from ids that moto assigns the output is deterministic.

Outputs: --out events.jsonl (one record per line, time order); --calls calls.json (per record:
what was sent, what moto answered). A call moto rejects fails the run: the proof needs every
change to have really happened.
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

ACCOUNT = "123456789012"
REGION = "us-east-1"
S3_XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"
START = dt.datetime(2026, 12, 1, 10, 0, 0, tzinfo=dt.timezone.utc)
TLS = {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256"}

UA_CONSOLE = "AWS Internal"
UA_S3_CONSOLE = (
    "[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.750 Linux/5.10.226-192.879.amzn2int.x86_64 "
    "OpenJDK_64-Bit_Server_VM/25.422-b05 java/1.8.0_422 vendor/Oracle_Corporation "
    "cfg/retry-mode/standard]"
)
UA_BOTO3 = (
    "Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#6.5.0-1016-aws md/arch#x86_64 "
    "lang/python#3.11.7 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.0"
)


def ua_cli(command: str) -> str:
    return ("aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0-1016-aws exe/x86_64.ubuntu.22 prompt/off "
            f"command/{command}")


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


def ts(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def iam_user(name: str, principal_id: str, access_key: str) -> dict[str, Any]:
    return {"type": "IAMUser", "principalId": principal_id,
            "arn": f"arn:aws:iam::{ACCOUNT}:user/{name}", "accountId": ACCOUNT,
            "accessKeyId": access_key, "userName": name}


def sso_session(user: str, access_key: str, created: dt.datetime) -> dict[str, Any]:
    role = "AWSReservedSSO_AdministratorAccess_0123456789abcdef"
    role_id = "AROAVXK4PQ2HL7Z3W5NTB"
    return {
        "type": "AssumedRole", "principalId": f"{role_id}:{user}",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{user}", "accountId": ACCOUNT,
        "accessKeyId": access_key,
        "sessionContext": {
            "sessionIssuer": {"type": "Role", "principalId": role_id,
                              "arn": f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/{role}",
                              "accountId": ACCOUNT, "userName": role},
            "webIdFederationData": {},
            "attributes": {"creationDate": ts(created), "mfaAuthenticated": "true"},
        },
    }


# The people (and script) who change things by hand. None of them is Terraform.
ALICE = ("console", sso_session("alice@example.com", "ASIAVXK4PQ2HBJ4ZQ6MT", START - dt.timedelta(minutes=9)),
         "198.51.100.23")
BOB = ("cli", iam_user("bob", "AIDAVXK4PQ2HC3RMYT6JE", "AKIAVXK4PQ2HNF7W2XQD"), "203.0.113.45")
CAROL = ("sdk", iam_user("carol", "AIDAVXK4PQ2HQW4NB7SXK", "AKIAVXK4PQ2HTZ5PMY3R"), "203.0.113.77")


class Trail:
    def __init__(self, seed: int) -> None:
        self.ids = Ids(seed)
        self.clock = START
        self.records: list[dict[str, Any]] = []
        self.calls: list[dict[str, Any]] = []

    def call(self, name: str, fn: Callable[[], Any]) -> Any:
        """Makes the call against moto; a rejected call fails the proof."""
        try:
            resp = fn()
        except Exception as e:  # noqa: BLE001 - report whatever moto said, then stop
            raise SystemExit(f"[out_of_band] moto rejected {name}: {e}") from e
        meta = resp.get("ResponseMetadata", {}) if isinstance(resp, dict) else {}
        self.calls.append({"eventName": name, "sent_to_moto": True,
                           "http_status": meta.get("HTTPStatusCode")})
        return resp

    def record(self, *, actor: tuple, source: str, name: str, ua: str, params: dict[str, Any],
               response: Any = None, resources: list[dict[str, Any]] | None = None,
               host: str | None = None, s3_bucket: str | None = None, bytes_in: int = 0,
               gap: int = 37) -> None:
        """Appends the CloudTrail record of one call, `gap` seconds after the previous one."""
        via, identity, ip = actor
        self.clock += dt.timedelta(seconds=gap)
        console = via == "console"
        rec: dict[str, Any] = {
            "eventVersion": "1.09",
            "userIdentity": identity,
            "eventTime": ts(self.clock),
            "eventSource": source,
            "eventName": name,
            "awsRegion": REGION,
            "sourceIPAddress": ip,
            "userAgent": ua,
        }
        if s3_bucket is not None:
            rec["requestParameters"] = {"bucketName": s3_bucket, "Host": host, **params}
            rec["responseElements"] = None
            rec["additionalEventData"] = {
                "SignatureVersion": "SigV4", "CipherSuite": TLS["cipherSuite"],
                "bytesTransferredIn": bytes_in, "AuthenticationMethod": "AuthHeader",
                "x-amz-id-2": self.ids.amz_id_2(), "bytesTransferredOut": 0}
            request_id = self.ids.s3_request_id()
            resources = [{"accountId": ACCOUNT, "type": "AWS::S3::Bucket",
                          "ARN": f"arn:aws:s3:::{s3_bucket}"}]
        else:
            rec["requestParameters"] = params
            request_id = self.ids.uuid()
            if source == "ec2.amazonaws.com":
                rec["responseElements"] = {"requestId": request_id, **(response or {"_return": True})}
            else:
                rec["responseElements"] = response
        rec["requestID"] = request_id
        rec["eventID"] = self.ids.uuid()
        rec["readOnly"] = False
        if resources is not None:
            rec["resources"] = resources
        rec["eventType"] = "AwsApiCall"
        rec["managementEvent"] = True
        rec["recipientAccountId"] = ACCOUNT
        rec["eventCategory"] = "Management"
        if not (console and ua == UA_CONSOLE):  # console calls logged as "AWS Internal" carry no TLS details
            rec["tlsDetails"] = {**TLS, "clientProvidedHostHeader": host or source.replace(
                ".amazonaws.com", f".{REGION}.amazonaws.com")}
        if console:
            rec["sessionCredentialFromConsole"] = "true"
        self.records.append(rec)
        self.calls[-1]["eventID"] = rec["eventID"]


def attrs(state: dict[str, Any], rtype: str, name: str) -> dict[str, Any]:
    for r in state["resources"]:
        if r.get("mode", "managed") == "managed" and r["type"] == rtype and r["name"] == name:
            return r["instances"][0]["attributes"]
    raise SystemExit(f"{rtype}.{name} not found in state")


def compact(doc: dict[str, Any]) -> str:
    return json.dumps(doc, separators=(",", ":"))


def run(endpoint: str, state: dict[str, Any], seed: int) -> Trail:
    kw = dict(endpoint_url=endpoint, region_name=REGION, aws_access_key_id="test",
              aws_secret_access_key="test")
    c = {s: boto3.client(s, **kw) for s in ("ec2", "s3", "iam", "kms", "sqs", "logs", "dynamodb", "sns", "ssm")}
    tr = Trail(seed)
    EC2, S3, IAM, KMS = "ec2.amazonaws.com", "s3.amazonaws.com", "iam.amazonaws.com", "kms.amazonaws.com"

    vpc = attrs(state, "aws_vpc", "main")["id"]
    subnet_a = attrs(state, "aws_subnet", "app_a")["id"]
    subnet_b = attrs(state, "aws_subnet", "app_b")["id"]
    sg_web = attrs(state, "aws_security_group", "web")["id"]
    sg_db = attrs(state, "aws_security_group", "db")["id"]
    instance = attrs(state, "aws_instance", "web")["id"]
    data_bucket = attrs(state, "aws_s3_bucket", "data")["bucket"]
    logs_bucket_attrs = attrs(state, "aws_s3_bucket", "logs")
    logs_bucket = logs_bucket_attrs["bucket"]
    role = attrs(state, "aws_iam_role", "app")["name"]
    role_policy = attrs(state, "aws_iam_role_policy", "app_queue")["name"]
    deploy_arn = attrs(state, "aws_iam_policy", "deploy")["arn"]
    ci_user = attrs(state, "aws_iam_user", "ci")["name"]
    ci_policy = attrs(state, "aws_iam_user_policy", "ci")["name"]
    key_data = attrs(state, "aws_kms_key", "data")
    key_logs = attrs(state, "aws_kms_key", "logs")
    alias = attrs(state, "aws_kms_alias", "data")["name"]
    queue_url = attrs(state, "aws_sqs_queue", "jobs")["url"]
    log_group = attrs(state, "aws_cloudwatch_log_group", "app")["name"]
    table = attrs(state, "aws_dynamodb_table", "sessions")["name"]
    topic_arn = attrs(state, "aws_sns_topic", "alerts")["arn"]
    param = attrs(state, "aws_ssm_parameter", "config")

    def kms_resources(key: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": key["arn"]}]

    # ------------------------------------------------------------------ EC2 / VPC
    tr.call("ModifyInstanceAttribute", lambda: c["ec2"].modify_instance_attribute(
        InstanceId=instance, InstanceType={"Value": "t3.small"}))
    tr.record(actor=ALICE, source=EC2, name="ModifyInstanceAttribute", ua=UA_CONSOLE,
              params={"instanceId": instance, "instanceType": {"value": "t3.small"}})

    # ModifyInstanceAttribute changes one attribute per call.
    tr.call("ModifyInstanceAttribute", lambda: c["ec2"].modify_instance_attribute(
        InstanceId=instance, Groups=[sg_web, sg_db]))
    tr.record(actor=BOB, source=EC2, name="ModifyInstanceAttribute", ua=ua_cli("ec2.modify-instance-attribute"),
              params={"instanceId": instance,
                      "groupSet": {"items": [{"groupId": sg_web}, {"groupId": sg_db}]}})

    resp = tr.call("ModifyInstanceMetadataOptions", lambda: c["ec2"].modify_instance_metadata_options(
        InstanceId=instance, HttpTokens="required", HttpPutResponseHopLimit=2, HttpEndpoint="enabled",
        HttpProtocolIpv6="disabled", InstanceMetadataTags="disabled"))
    mo = resp["InstanceMetadataOptions"]
    # Newer EC2 APIs are logged with the request wrapped in <Action>Request, in the API's casing.
    # The console sends every option (moto would also blank the ones left out).
    tr.record(actor=ALICE, source=EC2, name="ModifyInstanceMetadataOptions", ua=UA_CONSOLE,
              params={"ModifyInstanceMetadataOptionsRequest": {
                  "HttpTokens": "required", "HttpPutResponseHopLimit": 2, "HttpEndpoint": "enabled",
                  "HttpProtocolIpv6": "disabled", "InstanceMetadataTags": "disabled",
                  "InstanceId": instance}},
              response={"ModifyInstanceMetadataOptionsResponse": {
                  "instanceId": instance,
                  "instanceMetadataOptions": {"state": "pending", "httpTokens": mo.get("HttpTokens"),
                                              "httpPutResponseHopLimit": mo.get("HttpPutResponseHopLimit"),
                                              "httpEndpoint": mo.get("HttpEndpoint", "enabled")}}})

    tr.call("AuthorizeSecurityGroupIngress", lambda: c["ec2"].authorize_security_group_ingress(
        GroupId=sg_web, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 8443, "ToPort": 8443,
                                        "UserIdGroupPairs": [{"GroupId": sg_db}]}]))
    tr.record(actor=BOB, source=EC2, name="AuthorizeSecurityGroupIngress",
              ua=ua_cli("ec2.authorize-security-group-ingress"),
              params={"groupId": sg_web, "ipPermissions": {"items": [{
                  "ipProtocol": "tcp", "fromPort": 8443, "toPort": 8443,
                  "groups": {"items": [{"groupId": sg_db}]}, "ipRanges": {}, "ipv6Ranges": {},
                  "prefixListIds": {}}]}})

    resp = tr.call("AuthorizeSecurityGroupIngress", lambda: c["ec2"].authorize_security_group_ingress(
        GroupId=sg_db, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
                                       "IpRanges": [{"CidrIp": "10.20.0.0/16", "Description": "whole VPC"}]}]))
    rules = [{"groupOwnerId": ACCOUNT, "groupId": r["GroupId"], "securityGroupRuleId": r["SecurityGroupRuleId"],
              "description": "whole VPC", "isEgress": r["IsEgress"], "ipProtocol": r["IpProtocol"],
              "fromPort": r["FromPort"], "toPort": r["ToPort"], "cidrIpv4": r["CidrIpv4"]}
             for r in resp.get("SecurityGroupRules", [])]
    tr.record(actor=BOB, source=EC2, name="AuthorizeSecurityGroupIngress",
              ua=ua_cli("ec2.authorize-security-group-ingress"),
              params={"groupId": sg_db, "ipPermissions": {"items": [{
                  "ipProtocol": "tcp", "fromPort": 5432, "toPort": 5432, "groups": {},
                  "ipRanges": {"items": [{"cidrIp": "10.20.0.0/16", "description": "whole VPC"}]},
                  "ipv6Ranges": {}, "prefixListIds": {}}]}},
              response={"_return": True, "securityGroupRuleSet": {"items": rules} if rules else {}})

    tr.call("RevokeSecurityGroupEgress", lambda: c["ec2"].revoke_security_group_egress(
        GroupId=sg_web, IpPermissions=[{"IpProtocol": "-1", "FromPort": 0, "ToPort": 0,
                                        "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]))
    tr.record(actor=BOB, source=EC2, name="RevokeSecurityGroupEgress",
              ua=ua_cli("ec2.revoke-security-group-egress"),
              params={"groupId": sg_web, "ipPermissions": {"items": [{
                  "ipProtocol": "-1", "fromPort": 0, "toPort": 0, "groups": {},
                  "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}, "ipv6Ranges": {},
                  "prefixListIds": {}}]}})

    tr.call("CreateTags", lambda: c["ec2"].create_tags(
        Resources=[vpc, subnet_a], Tags=[{"Key": "CostCenter", "Value": "CC-1042"}]))
    tr.record(actor=BOB, source=EC2, name="CreateTags", ua=ua_cli("ec2.create-tags"),
              params={"resourcesSet": {"items": [{"resourceId": vpc}, {"resourceId": subnet_a}]},
                      "tagSet": {"items": [{"key": "CostCenter", "value": "CC-1042"}]}})

    tr.call("DeleteTags", lambda: c["ec2"].delete_tags(Resources=[sg_db], Tags=[{"Key": "Name"}]))
    tr.record(actor=BOB, source=EC2, name="DeleteTags", ua=ua_cli("ec2.delete-tags"),
              params={"resourcesSet": {"items": [{"resourceId": sg_db}]},
                      "tagSet": {"items": [{"key": "Name"}]}})

    tr.call("ModifyVpcAttribute", lambda: c["ec2"].modify_vpc_attribute(
        VpcId=vpc, EnableDnsHostnames={"Value": False}))
    tr.record(actor=ALICE, source=EC2, name="ModifyVpcAttribute", ua=UA_CONSOLE,
              params={"vpcId": vpc, "enableDnsHostnames": {"value": False}})

    tr.call("ModifySubnetAttribute", lambda: c["ec2"].modify_subnet_attribute(
        SubnetId=subnet_b, MapPublicIpOnLaunch={"Value": True}))
    tr.record(actor=ALICE, source=EC2, name="ModifySubnetAttribute", ua=UA_CONSOLE,
              params={"subnetId": subnet_b, "mapPublicIpOnLaunch": {"value": True}})

    # ------------------------------------------------------------------ S3
    def s3_host(b: str) -> str:
        return f"{b}.s3.{REGION}.amazonaws.com"

    tr.call("PutBucketVersioning", lambda: c["s3"].put_bucket_versioning(
        Bucket=data_bucket, VersioningConfiguration={"Status": "Suspended"}))
    tr.record(actor=ALICE, source=S3, name="PutBucketVersioning", ua=UA_S3_CONSOLE,
              s3_bucket=data_bucket, host=s3_host(data_bucket), bytes_in=118,
              params={"versioning": "", "VersioningConfiguration": {"Status": "Suspended", "xmlns": S3_XMLNS}})

    public_policy = {"Version": "2012-10-17", "Statement": [{
        "Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{data_bucket}/*"}]}
    tr.call("PutBucketPolicy", lambda: c["s3"].put_bucket_policy(Bucket=data_bucket, Policy=json.dumps(public_policy)))
    tr.record(actor=CAROL, source=S3, name="PutBucketPolicy", ua=f"[{UA_BOTO3}]",
              s3_bucket=data_bucket, host=s3_host(data_bucket), bytes_in=len(json.dumps(public_policy)),
              params={"bucketPolicy": public_policy, "policy": ""})

    pab = {"BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": False,
           "RestrictPublicBuckets": True}
    tr.call("PutBucketPublicAccessBlock", lambda: c["s3"].put_public_access_block(
        Bucket=data_bucket, PublicAccessBlockConfiguration=pab))
    tr.record(actor=ALICE, source=S3, name="PutBucketPublicAccessBlock", ua=UA_S3_CONSOLE,
              s3_bucket=data_bucket, host=s3_host(data_bucket), bytes_in=301,
              params={"publicAccessBlock": "", "PublicAccessBlockConfiguration": {
                  "xmlns": S3_XMLNS, "RestrictPublicBuckets": True, "BlockPublicPolicy": False,
                  "BlockPublicAcls": False, "IgnorePublicAcls": False}})

    # The console sends the bucket's whole tag set (PutBucketTagging replaces it): the tags shown
    # to the user, i.e. the provider's default tags too, with Retention changed and one added.
    new_tags = dict(logs_bucket_attrs["tags_all"])
    new_tags.update({"Retention": "30d", "DataClass": "internal"})
    tag_list = [{"Key": k, "Value": v} for k, v in sorted(new_tags.items())]
    tr.call("PutBucketTagging", lambda: c["s3"].put_bucket_tagging(Bucket=logs_bucket, Tagging={"TagSet": tag_list}))
    tr.record(actor=ALICE, source=S3, name="PutBucketTagging", ua=UA_S3_CONSOLE,
              s3_bucket=logs_bucket, host=s3_host(logs_bucket), bytes_in=412,
              params={"tagging": "", "Tagging": {"xmlns": S3_XMLNS, "TagSet": {"Tag": tag_list}}})

    # ------------------------------------------------------------------ IAM
    # As `aws iam … --policy-document file://x.json` sends them: the file's text verbatim.
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": ["ec2.amazonaws.com", "lambda.amazonaws.com"]},
        "Action": "sts:AssumeRole"}]}, indent=4) + "\n"
    tr.call("UpdateAssumeRolePolicy", lambda: c["iam"].update_assume_role_policy(RoleName=role, PolicyDocument=trust))
    tr.record(actor=BOB, source=IAM, name="UpdateAssumeRolePolicy", ua=ua_cli("iam.update-assume-role-policy"),
              params={"policyDocument": trust, "roleName": role})

    tr.call("UpdateRole", lambda: c["iam"].update_role(RoleName=role, Description="web tier role (edited by hand)"))
    tr.record(actor=ALICE, source=IAM, name="UpdateRole", ua=UA_CONSOLE,
              params={"roleName": role, "description": "web tier role (edited by hand)"})

    tr.call("TagRole", lambda: c["iam"].tag_role(RoleName=role, Tags=[{"Key": "Owner", "Value": "alice"}]))
    tr.record(actor=ALICE, source=IAM, name="TagRole", ua=UA_CONSOLE,
              params={"roleName": role, "tags": [{"key": "Owner", "value": "alice"}]})

    queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:acme-proof-jobs"
    inline = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "sqs:*", "Resource": queue_arn}]}, indent=2)
    tr.call("PutRolePolicy", lambda: c["iam"].put_role_policy(RoleName=role, PolicyName=role_policy, PolicyDocument=inline))
    tr.record(actor=BOB, source=IAM, name="PutRolePolicy", ua=ua_cli("iam.put-role-policy"),
              params={"roleName": role, "policyName": role_policy, "policyDocument": inline})

    deploy_doc = compact({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
        "Resource": f"arn:aws:s3:::{data_bucket}/releases/*"}]})
    resp = tr.call("CreatePolicyVersion", lambda: c["iam"].create_policy_version(
        PolicyArn=deploy_arn, PolicyDocument=deploy_doc, SetAsDefault=True))
    v = resp["PolicyVersion"]
    tr.record(actor=CAROL, source=IAM, name="CreatePolicyVersion", ua=UA_BOTO3,
              params={"policyArn": deploy_arn, "policyDocument": deploy_doc, "setAsDefault": True},
              response={"policyVersion": {"versionId": v["VersionId"], "isDefaultVersion": v["IsDefaultVersion"],
                                          "createDate": "Dec 1, 2026, 10:08:00 AM"}})

    # A deletion: Terraform reports the attachment as gone (resource_drift action "delete").
    tr.call("DetachRolePolicy", lambda: c["iam"].detach_role_policy(RoleName=role, PolicyArn=deploy_arn))
    tr.record(actor=BOB, source=IAM, name="DetachRolePolicy", ua=ua_cli("iam.detach-role-policy"),
              params={"roleName": role, "policyArn": deploy_arn})

    user_doc = compact({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})
    tr.call("PutUserPolicy", lambda: c["iam"].put_user_policy(UserName=ci_user, PolicyName=ci_policy, PolicyDocument=user_doc))
    tr.record(actor=BOB, source=IAM, name="PutUserPolicy", ua=ua_cli("iam.put-user-policy"),
              params={"userName": ci_user, "policyName": ci_policy, "policyDocument": user_doc})

    tr.call("TagUser", lambda: c["iam"].tag_user(UserName=ci_user, Tags=[{"Key": "Purpose", "Value": "deploy"}]))
    tr.record(actor=BOB, source=IAM, name="TagUser", ua=ua_cli("iam.tag-user"),
              params={"userName": ci_user, "tags": [{"key": "Purpose", "value": "deploy"}]})

    # ------------------------------------------------------------------ KMS
    tr.call("DisableKey", lambda: c["kms"].disable_key(KeyId=key_data["key_id"]))
    tr.record(actor=BOB, source=KMS, name="DisableKey", ua=ua_cli("kms.disable-key"),
              params={"keyId": key_data["key_id"]}, resources=kms_resources(key_data))

    tr.call("UpdateKeyDescription", lambda: c["kms"].update_key_description(
        KeyId=key_data["key_id"], Description="proof data key (retired)"))
    tr.record(actor=BOB, source=KMS, name="UpdateKeyDescription", ua=ua_cli("kms.update-key-description"),
              params={"keyId": key_data["key_id"], "description": "proof data key (retired)"},
              resources=kms_resources(key_data))

    tr.call("EnableKeyRotation", lambda: c["kms"].enable_key_rotation(KeyId=key_logs["key_id"]))
    tr.record(actor=ALICE, source=KMS, name="EnableKeyRotation", ua=UA_CONSOLE,
              params={"keyId": key_logs["key_id"]}, resources=kms_resources(key_logs))

    tr.call("UpdateAlias", lambda: c["kms"].update_alias(AliasName=alias, TargetKeyId=key_logs["key_id"]))
    tr.record(actor=BOB, source=KMS, name="UpdateAlias", ua=ua_cli("kms.update-alias"),
              params={"aliasName": alias, "targetKeyId": key_logs["key_id"]},
              resources=[{"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": key_logs["arn"]},
                         {"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": key_data["arn"]}])

    # ------------------------------------------------------------------ SQS, logs, DynamoDB, SNS, SSM
    tr.call("SetQueueAttributes", lambda: c["sqs"].set_queue_attributes(
        QueueUrl=queue_url, Attributes={"VisibilityTimeout": "120"}))
    tr.record(actor=CAROL, source="sqs.amazonaws.com", name="SetQueueAttributes", ua=UA_BOTO3,
              params={"queueUrl": queue_url, "attributes": {"VisibilityTimeout": "120"}})

    tr.call("PutRetentionPolicy", lambda: c["logs"].put_retention_policy(logGroupName=log_group, retentionInDays=7))
    tr.record(actor=BOB, source="logs.amazonaws.com", name="PutRetentionPolicy", ua=ua_cli("logs.put-retention-policy"),
              params={"logGroupName": log_group, "retentionInDays": 7})

    tr.call("UpdateContinuousBackups", lambda: c["dynamodb"].update_continuous_backups(
        TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}))
    tr.record(actor=ALICE, source="dynamodb.amazonaws.com", name="UpdateContinuousBackups", ua=UA_CONSOLE,
              params={"tableName": table, "pointInTimeRecoverySpecification": {"pointInTimeRecoveryEnabled": True}})

    tr.call("SetTopicAttributes", lambda: c["sns"].set_topic_attributes(
        TopicArn=topic_arn, AttributeName="DisplayName", AttributeValue="Proof alerts"))
    tr.record(actor=BOB, source="sns.amazonaws.com", name="SetTopicAttributes", ua=ua_cli("sns.set-topic-attributes"),
              params={"topicArn": topic_arn, "attributeName": "DisplayName", "attributeValue": "Proof alerts"})

    tr.call("PutParameter", lambda: c["ssm"].put_parameter(
        Name=param["name"], Value=param["value"], Type="String", Overwrite=True,
        Description="Application log level (edited by hand)"))
    tr.record(actor=BOB, source="ssm.amazonaws.com", name="PutParameter", ua=ua_cli("ssm.put-parameter"),
              params={"name": param["name"], "description": "Application log level (edited by hand)",
                      "value": "HIDDEN_DUE_TO_SECURITY_REASONS", "type": "String", "overwrite": True},
              response={"version": 2, "tier": "Standard"})
    return tr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint", required=True, help="moto server URL")
    ap.add_argument("--state", required=True, help="terraform.tfstate written by the apply")
    ap.add_argument("--out", required=True, help="events.jsonl to write")
    ap.add_argument("--calls", required=True, help="calls.json to write")
    ap.add_argument("--seed", type=int, default=20261201, help="seed for CloudTrail-assigned ids")
    a = ap.parse_args()

    with open(a.state) as f:
        state = json.load(f)
    tr = run(a.endpoint, state, a.seed)
    times = [r["eventTime"] for r in tr.records]
    assert times == sorted(times), "records must be in time order"
    assert len(tr.records) == len(tr.calls)
    with open(a.out, "w") as f:
        for r in tr.records:
            f.write(json.dumps(r, separators=(",", ":")) + "\n")
    with open(a.calls, "w") as f:
        json.dump(tr.calls, f, indent=2)
        f.write("\n")
    print(f"[out_of_band] {len(tr.records)} calls made against moto and recorded in {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
