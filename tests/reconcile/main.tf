# tfdrift reconcile proof: 12 resources applied to a local moto server by tests/reconcile.rs.
# Credentials come from variables (null by default) so that a workspace without them fails the
# way expired credentials do.

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.100.0"
    }
  }
}

variable "moto_endpoint" {
  type = string
}

variable "access_key" {
  type    = string
  default = null
}

variable "secret_key" {
  type    = string
  default = null
}

locals {
  name = "acme-rec"
}

provider "aws" {
  access_key                  = var.access_key
  secret_key                  = var.secret_key
  region                      = "us-east-1"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true

  endpoints {
    ec2  = var.moto_endpoint
    iam  = var.moto_endpoint
    logs = var.moto_endpoint
    s3   = var.moto_endpoint
    sns  = var.moto_endpoint
    sqs  = var.moto_endpoint
    ssm  = var.moto_endpoint
    sts  = var.moto_endpoint
  }
}

resource "aws_vpc" "main" {
  cidr_block = "10.30.0.0/16"
  tags       = { Name = "${local.name}-vpc" }
}

resource "aws_subnet" "app" {
  vpc_id     = aws_vpc.main.id
  cidr_block = "10.30.1.0/24"
  tags       = { Name = "${local.name}-app" }

  lifecycle {
    ignore_changes = [tags, tags_all]
  }
}

resource "aws_security_group" "web" {
  name        = "${local.name}-web"
  description = "HTTPS from the corporate network"
  vpc_id      = aws_vpc.main.id

  ingress {
    description = "HTTPS from corp"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["10.0.0.0/8"]
  }

  egress {
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }

  tags = { Name = "${local.name}-web" }
}

resource "aws_sqs_queue" "jobs" {
  name                       = "${local.name}-jobs"
  visibility_timeout_seconds = 30
}

resource "aws_sqs_queue" "dead" {
  name = "${local.name}-dead"
}

resource "aws_sns_topic" "alerts" {
  name = "${local.name}-alerts"
}

resource "aws_sns_topic" "legacy" {
  name = "${local.name}-legacy"
}

resource "aws_cloudwatch_log_group" "app" {
  name              = "/${local.name}/app"
  retention_in_days = 30
}

resource "aws_ssm_parameter" "config" {
  name        = "/${local.name}/config/log-level"
  type        = "String"
  value       = "info"
  description = "Application log level"
}

resource "aws_s3_bucket" "data" {
  bucket = "${local.name}-data"
}

resource "aws_iam_role" "app" {
  name = "${local.name}-app"
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Action = "sts:AssumeRole", Principal = { Service = "ec2.amazonaws.com" } }]
  })
}

resource "aws_cloudwatch_log_group" "audit" {
  name              = "/${local.name}/audit"
  retention_in_days = 90
}
