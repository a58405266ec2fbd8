# tfdrift proof against Terraform itself: a 27-resource, 23-type stack.
#
# Applied against a local moto server by scripts/proof/run.sh; the out-of-band changes are made by
# scripts/proof/out_of_band.py, and Terraform's own `plan -refresh-only` is then compared with
# tfdrift's alerts by tests/terraform_refresh_only.rs. Nothing here is meant for a real account
# (every endpoint points at var.moto_endpoint).

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
  description = "Base URL of the moto server, e.g. http://127.0.0.1:5000"
  type        = string
}

locals {
  name = "acme-proof"
}

provider "aws" {
  access_key                  = "test"
  secret_key                  = "test"
  region                      = "us-east-1"
  skip_credentials_validation = true
  skip_requesting_account_id  = false
  skip_metadata_api_check     = true
  s3_use_path_style           = true

  endpoints {
    dynamodb = var.moto_endpoint
    ec2      = var.moto_endpoint
    iam      = var.moto_endpoint
    kms      = var.moto_endpoint
    logs     = var.moto_endpoint
    s3       = var.moto_endpoint
    sns      = var.moto_endpoint
    sqs      = var.moto_endpoint
    ssm      = var.moto_endpoint
    sts      = var.moto_endpoint
  }

  # Real configurations use default_tags: the state's `tags` then holds only the resource's own
  # tags while `tags_all` (and the cloud) holds both.
  default_tags {
    tags = {
      Environment = "proof"
      Team        = "platform"
    }
  }
}

# ---------------------------------------------------------------- network (5)

resource "aws_vpc" "main" {
  cidr_block           = "10.20.0.0/16"
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = { Name = "${local.name}-vpc" }
}

resource "aws_subnet" "app_a" {
  vpc_id            = aws_vpc.main.id
  cidr_block        = "10.20.1.0/24"
  availability_zone = "us-east-1a"
  tags              = { Name = "${local.name}-app-a" }
}

resource "aws_subnet" "app_b" {
  vpc_id                  = aws_vpc.main.id
  cidr_block              = "10.20.2.0/24"
  availability_zone       = "us-east-1b"
  map_public_ip_on_launch = false
  tags                    = { Name = "${local.name}-app-b" }
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

resource "aws_security_group" "db" {
  name        = "${local.name}-db"
  description = "PostgreSQL from the web tier"
  vpc_id      = aws_vpc.main.id

  ingress {
    from_port       = 5432
    to_port         = 5432
    protocol        = "tcp"
    security_groups = [aws_security_group.web.id]
  }

  tags = { Name = "${local.name}-db" }
}

# ---------------------------------------------------------------- IAM (8)

resource "aws_iam_role" "app" {
  name        = "${local.name}-app-role"
  description = "Instance role for the web tier"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy" "app_queue" {
  name = "queue-access"
  role = aws_iam_role.app.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["sqs:SendMessage", "sqs:ReceiveMessage"]
      Resource = aws_sqs_queue.jobs.arn
    }]
  })
}

resource "aws_iam_policy" "deploy" {
  name        = "${local.name}-deploy"
  description = "What the deploy job may do"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["s3:GetObject", "s3:PutObject"]
      Resource = "${aws_s3_bucket.data.arn}/releases/*"
    }]
  })
}

resource "aws_iam_role_policy_attachment" "app_deploy" {
  role       = aws_iam_role.app.name
  policy_arn = aws_iam_policy.deploy.arn
}

resource "aws_iam_instance_profile" "app" {
  name = "${local.name}-app-profile"
  role = aws_iam_role.app.name
}

resource "aws_iam_user" "ci" {
  name = "${local.name}-ci"
  tags = { Purpose = "ci" }
}

resource "aws_iam_user_policy" "ci" {
  name = "ci-read"
  user = aws_iam_user.ci.name
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = "s3:ListBucket"
      Resource = aws_s3_bucket.data.arn
    }]
  })
}

resource "aws_iam_group" "ops" {
  name = "${local.name}-ops"
}

# ---------------------------------------------------------------- compute (1)

resource "aws_instance" "web" {
  ami                    = "ami-04681a1dbd79675a5" # amzn2 image that moto ships
  instance_type          = "t3.micro"
  subnet_id              = aws_subnet.app_a.id
  vpc_security_group_ids = [aws_security_group.web.id]
  iam_instance_profile   = aws_iam_instance_profile.app.name
  tags                   = { Name = "${local.name}-web-01" }
}

# ---------------------------------------------------------------- KMS (3)

resource "aws_kms_key" "data" {
  description             = "${local.name} data key"
  deletion_window_in_days = 7
  enable_key_rotation     = true
}

resource "aws_kms_key" "logs" {
  description             = "${local.name} logs key"
  deletion_window_in_days = 7
  enable_key_rotation     = false
}

resource "aws_kms_alias" "data" {
  name          = "alias/${local.name}-data"
  target_key_id = aws_kms_key.data.key_id
}

# ---------------------------------------------------------------- S3 (5)

resource "aws_s3_bucket" "data" {
  bucket = "${local.name}-data-123456789012"
  tags   = { Name = "${local.name}-data" }
}

resource "aws_s3_bucket_versioning" "data" {
  bucket = aws_s3_bucket.data.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_public_access_block" "data" {
  bucket                  = aws_s3_bucket.data.id
  block_public_acls       = true
  ignore_public_acls      = true
  block_public_policy     = false # moto does not enforce it; AWS would reject the public policy
  restrict_public_buckets = true
}

resource "aws_s3_bucket_policy" "data" {
  bucket = aws_s3_bucket.data.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AppRead"
      Effect    = "Allow"
      Principal = { AWS = aws_iam_role.app.arn }
      Action    = ["s3:GetObject", "s3:ListBucket"]
      Resource  = [aws_s3_bucket.data.arn, "${aws_s3_bucket.data.arn}/*"]
    }]
  })
  depends_on = [aws_s3_bucket_public_access_block.data]
}

resource "aws_s3_bucket" "logs" {
  bucket = "${local.name}-logs-123456789012"
  tags   = { Name = "${local.name}-logs", Retention = "90d" }
}

# ---------------------------------------------------------------- other services (5)

resource "aws_sqs_queue" "jobs" {
  name                       = "${local.name}-jobs"
  visibility_timeout_seconds = 30
  message_retention_seconds  = 345600
}

resource "aws_sns_topic" "alerts" {
  name = "${local.name}-alerts"
}

resource "aws_cloudwatch_log_group" "app" {
  name              = "/${local.name}/app"
  retention_in_days = 30
}

resource "aws_dynamodb_table" "sessions" {
  name         = "${local.name}-sessions"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "id"

  attribute {
    name = "id"
    type = "S"
  }
}

resource "aws_ssm_parameter" "config" {
  name        = "/${local.name}/config/log-level"
  type        = "String"
  value       = "info"
  description = "Application log level"
}
