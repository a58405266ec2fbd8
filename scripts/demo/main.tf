# tfdrift embedded demo: a small production-like stack.
#
# Applied against a local moto server by scripts/demo/generate.sh; the resulting state is
# assets/demo/terraform.tfstate. Nothing here is meant to be applied to a real AWS account
# (the provider block points every endpoint at var.moto_endpoint).

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
  name = "acme-prod-web"
  common_tags = {
    Environment = "production"
    Owner       = "platform-team@example.com"
    Team        = "platform"
  }
}

provider "aws" {
  access_key                  = "test"
  secret_key                  = "test"
  region                      = "us-east-1"
  skip_credentials_validation = true
  # The provider asks moto's STS for the account id (123456789012), so ARNs in the state
  # carry it as they would in a real account.
  skip_requesting_account_id = false
  skip_metadata_api_check    = true
  s3_use_path_style          = true

  endpoints {
    ec2 = var.moto_endpoint
    s3  = var.moto_endpoint
    iam = var.moto_endpoint
    sts = var.moto_endpoint
    kms = var.moto_endpoint
  }

  default_tags {
    tags = local.common_tags
  }
}

# ---------------------------------------------------------------- network

resource "aws_vpc" "main" {
  cidr_block           = "10.20.0.0/16"
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = { Name = "${local.name}-vpc" }
}

resource "aws_subnet" "app" {
  vpc_id            = aws_vpc.main.id
  cidr_block        = "10.20.1.0/24"
  availability_zone = "us-east-1a"
  tags              = { Name = "${local.name}-app-a" }
}

resource "aws_security_group" "web" {
  name        = "${local.name}-sg"
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
    description = "All outbound"
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }

  tags = { Name = "${local.name}-sg" }
}

# ---------------------------------------------------------------- IAM

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

resource "aws_iam_role_policy_attachment" "app_readonly" {
  role       = aws_iam_role.app.name
  policy_arn = "arn:aws:iam::aws:policy/ReadOnlyAccess"
}

resource "aws_iam_instance_profile" "app" {
  name = "${local.name}-app-profile"
  role = aws_iam_role.app.name
}

# ---------------------------------------------------------------- compute

resource "aws_instance" "web" {
  ami                     = "ami-04681a1dbd79675a5" # amzn2 image that moto ships
  instance_type           = "t3.micro"
  subnet_id               = aws_subnet.app.id
  vpc_security_group_ids  = [aws_security_group.web.id]
  iam_instance_profile    = aws_iam_instance_profile.app.name
  disable_api_termination = false

  tags = {
    Name        = "${local.name}-01"
    Environment = "production"
    Owner       = "platform-team@example.com"
    Team        = "platform"
    CostCenter  = "CC-1042"
  }
}

# ---------------------------------------------------------------- storage

resource "aws_kms_key" "data" {
  description             = "${local.name} data bucket key"
  deletion_window_in_days = 7
  enable_key_rotation     = true
}

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

resource "aws_s3_bucket_server_side_encryption_configuration" "data" {
  bucket = aws_s3_bucket.data.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.data.arn
    }
  }
}

resource "aws_s3_bucket_public_access_block" "data" {
  bucket             = aws_s3_bucket.data.id
  block_public_acls  = true
  ignore_public_acls = true
  # Off so that a bucket policy can be attached at all (with it on, S3 rejects any policy it
  # considers public). restrict_public_buckets still confines a public policy to in-account
  # principals while this block exists.
  block_public_policy     = false
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
  # The public access block must exist before a policy is attached.
  depends_on = [aws_s3_bucket_public_access_block.data]
}

output "instance_id" {
  value = aws_instance.web.id
}

output "security_group_id" {
  value = aws_security_group.web.id
}

output "bucket" {
  value = aws_s3_bucket.data.id
}

output "role_name" {
  value = aws_iam_role.app.name
}
