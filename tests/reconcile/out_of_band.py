#!/usr/bin/env python3
"""Out-of-band changes for tests/reconcile.rs, with the CloudTrail records of some of them.

Reuses scripts/proof/out_of_band.py's trail builder (the records' casing is the one CloudTrail
logs). Phase `drift`: changes replayed into tfdrift (written to --out) and changes no trail saw.
Phase `revert`: puts the VPC tag back the way Terraform has it, without a record.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import boto3

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "proof"))
from out_of_band import ALICE, BOB, UA_CONSOLE, Trail, attrs, ua_cli  # noqa: E402

EC2 = "ec2.amazonaws.com"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("phase", choices=["drift", "revert"])
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--state", required=True)
    ap.add_argument("--out")
    a = ap.parse_args()
    state = json.load(open(a.state))
    kw = dict(endpoint_url=a.endpoint, region_name="us-east-1", aws_access_key_id="test",
              aws_secret_access_key="test")
    c = {s: boto3.client(s, **kw) for s in ("ec2", "sqs", "sns", "logs", "ssm")}
    vpc = attrs(state, "aws_vpc", "main")["id"]
    if a.phase == "revert":
        c["ec2"].delete_tags(Resources=[vpc], Tags=[{"Key": "Env"}])
        return
    subnet = attrs(state, "aws_subnet", "app")["id"]
    sg = attrs(state, "aws_security_group", "web")["id"]
    tr = Trail(20261207)

    # Seen by the trail, replayed into tfdrift.
    tr.call("AuthorizeSecurityGroupIngress", lambda: c["ec2"].authorize_security_group_ingress(
        GroupId=sg, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                                    "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]))
    tr.record(actor=ALICE, source=EC2, name="AuthorizeSecurityGroupIngress", ua=UA_CONSOLE,
              params={"groupId": sg, "ipPermissions": {"items": [{
                  "ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "groups": {},
                  "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}, "ipv6Ranges": {},
                  "prefixListIds": {}}]}})
    tr.call("CreateTags", lambda: c["ec2"].create_tags(Resources=[vpc], Tags=[{"Key": "Env", "Value": "hotfix"}]))
    tr.record(actor=BOB, source=EC2, name="CreateTags", ua=ua_cli("ec2.create-tags"),
              params={"resourcesSet": {"items": [{"resourceId": vpc}]},
                      "tagSet": {"items": [{"key": "Env", "value": "hotfix"}]}})
    # lifecycle.ignore_changes = [tags]: neither the event nor the reconcile may alert.
    tr.call("CreateTags", lambda: c["ec2"].create_tags(Resources=[subnet], Tags=[{"Key": "Owner", "Value": "alice"}]))
    tr.record(actor=ALICE, source=EC2, name="CreateTags", ua=UA_CONSOLE,
              params={"resourcesSet": {"items": [{"resourceId": subnet}]},
                      "tagSet": {"items": [{"key": "Owner", "value": "alice"}]}})

    # Never seen by any trail.
    c["sqs"].set_queue_attributes(QueueUrl=attrs(state, "aws_sqs_queue", "jobs")["url"],
                                  Attributes={"VisibilityTimeout": "45"})
    c["sns"].set_topic_attributes(TopicArn=attrs(state, "aws_sns_topic", "alerts")["arn"],
                                  AttributeName="DisplayName", AttributeValue="Paging")
    c["logs"].put_retention_policy(logGroupName=attrs(state, "aws_cloudwatch_log_group", "app")["name"],
                                   retentionInDays=7)
    c["sns"].delete_topic(TopicArn=attrs(state, "aws_sns_topic", "legacy")["arn"])

    with open(a.out, "w") as f:
        for r in tr.records:
            f.write(json.dumps(r, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
