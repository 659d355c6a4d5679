# The Terraform state bucket, made once per AWS account before any environment:
# versioned, encrypted with its own KMS key, no public access, TLS only, its
# access logged. The environments lock their state with S3-native lock files
# (backend "s3" { use_lockfile = true }): no DynamoDB table.
#
#   cd deploy/terraform/bootstrap
#   terraform init && terraform apply            # prints state_bucket
#   export TF_STATE_BUCKET=$(terraform output -raw state_bucket)
#
# This root keeps its own state locally (the bucket cannot hold the state of its
# own creation): keep terraform.tfstate, or move it into the bucket afterwards
# (README, Deploy to AWS).

terraform {
  required_version = ">= 1.10"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }
}

variable "region" {
  description = "AWS region of the bucket; null: the provider takes AWS_REGION."
  type        = string
  default     = null
}

variable "bucket_name" {
  description = "Name of the state bucket; null: berth-terraform-state-<account id>."
  type        = string
  default     = null
}

variable "noncurrent_state_days" {
  description = "Days an overwritten state version is kept (a state can be restored from any of them)."
  type        = number
  default     = 90
}

variable "aws_endpoint" {
  description = "An AWS emulator's URL (moto, LocalStack); null for AWS itself."
  type        = string
  default     = null
}

variable "tls_only_policy" {
  description = "Deny every request that does not use TLS (aws:SecureTransport). Off only on an emulator that ignores policy conditions (moto), where the statement would deny every request."
  type        = bool
  default     = true
}

provider "aws" {
  region                      = var.region
  skip_credentials_validation = var.aws_endpoint != null
  skip_requesting_account_id  = var.aws_endpoint != null
  s3_use_path_style           = var.aws_endpoint != null

  endpoints {
    kms = var.aws_endpoint
    s3  = var.aws_endpoint
    sts = var.aws_endpoint
  }

  default_tags {
    tags = { project = "berth", managed-by = "terraform", stack = "berth/bootstrap" }
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  bucket = coalesce(var.bucket_name, "berth-terraform-state-${data.aws_caller_identity.current.account_id}")
  # Built from the names, so the policies are known when planning.
  state_arn = "arn:${data.aws_partition.current.partition}:s3:::${local.bucket}"
  logs_arn  = "arn:${data.aws_partition.current.partition}:s3:::${local.bucket}-logs"
}

resource "aws_kms_key" "state" {
  description             = "berth Terraform state"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AccountAdministersTheKeyThroughIam"
      Effect    = "Allow"
      Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root" }
      Action    = "kms:*"
      Resource  = "*"
    }]
  })
}

resource "aws_kms_alias" "state" {
  name          = "alias/berth-terraform-state"
  target_key_id = aws_kms_key.state.key_id
}

# ---------------------------------------------------------------- the state bucket

resource "aws_s3_bucket" "state" {
  #checkov:skip=CKV_AWS_144:cross-region replication of the state is left to the operator (versioning already keeps every state)
  #checkov:skip=CKV2_AWS_62:nothing reacts to a new state version
  bucket = local.bucket
  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_s3_bucket_public_access_block" "state" {
  bucket                  = aws_s3_bucket.state.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "state" {
  bucket = aws_s3_bucket.state.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "state" {
  bucket = aws_s3_bucket.state.id
  versioning_configuration {
    status = "Enabled"
  }
}

# Objects written without asking for an encryption (the backend does not) get
# the state key.
resource "aws_s3_bucket_server_side_encryption_configuration" "state" {
  bucket = aws_s3_bucket.state.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.state.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "state" {
  bucket = aws_s3_bucket.state.id
  rule {
    id     = "old-state-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_state_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

resource "aws_s3_bucket_logging" "state" {
  bucket        = aws_s3_bucket.state.id
  target_bucket = aws_s3_bucket.access_logs.id
  target_prefix = "state/"
  # S3 checks that the target's policy admits the logging service.
  depends_on = [aws_s3_bucket_policy.access_logs]
}

data "aws_iam_policy_document" "state" {
  dynamic "statement" {
    for_each = var.tls_only_policy ? [1] : []
    content {
      sid     = "TlsOnly"
      effect  = "Deny"
      actions = ["s3:*"]
      resources = [
        local.state_arn,
        "${local.state_arn}/*",
      ]
      principals {
        type        = "*"
        identifiers = ["*"]
      }
      condition {
        test     = "Bool"
        variable = "aws:SecureTransport"
        values   = ["false"]
      }
    }
  }
}

resource "aws_s3_bucket_policy" "state" {
  count      = var.tls_only_policy ? 1 : 0
  bucket     = aws_s3_bucket.state.id
  policy     = data.aws_iam_policy_document.state.json
  depends_on = [aws_s3_bucket_public_access_block.state]
}

# ---------------------------------------------------------------- access logs of the state bucket

resource "aws_s3_bucket" "access_logs" {
  #checkov:skip=CKV_AWS_145:S3 server access logs are delivered only to SSE-S3 buckets, not SSE-KMS
  #checkov:skip=CKV_AWS_18:this is the access-log bucket; logging it into itself would loop
  #checkov:skip=CKV_AWS_144:cross-region replication of access logs is left to the operator
  #checkov:skip=CKV2_AWS_62:nothing reacts to new log objects
  bucket = "${local.bucket}-logs"
}

resource "aws_s3_bucket_public_access_block" "access_logs" {
  bucket                  = aws_s3_bucket.access_logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

#trivy:ignore:AVD-AWS-0132 S3 server access logs are delivered only to SSE-S3 buckets, not customer-managed KMS keys
resource "aws_s3_bucket_server_side_encryption_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    id     = "expire"
    status = "Enabled"
    filter {}
    expiration {
      days = 365
    }
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

data "aws_iam_policy_document" "access_logs" {
  statement {
    sid       = "S3ServerAccessLogs"
    actions   = ["s3:PutObject"]
    resources = ["${local.logs_arn}/state/*"]
    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
  dynamic "statement" {
    for_each = var.tls_only_policy ? [1] : []
    content {
      sid     = "TlsOnly"
      effect  = "Deny"
      actions = ["s3:*"]
      resources = [
        local.logs_arn,
        "${local.logs_arn}/*",
      ]
      principals {
        type        = "*"
        identifiers = ["*"]
      }
      condition {
        test     = "Bool"
        variable = "aws:SecureTransport"
        values   = ["false"]
      }
    }
  }
}

resource "aws_s3_bucket_policy" "access_logs" {
  bucket     = aws_s3_bucket.access_logs.id
  policy     = data.aws_iam_policy_document.access_logs.json
  depends_on = [aws_s3_bucket_public_access_block.access_logs]
}

output "state_bucket" {
  description = "TF_STATE_BUCKET of scripts/deploy-aws."
  value       = aws_s3_bucket.state.id
}

output "state_kms_key_arn" {
  description = "The key encrypting the states."
  value       = aws_kms_key.state.arn
}
