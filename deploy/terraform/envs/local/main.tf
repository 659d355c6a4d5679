# berth on an AWS emulator: moto's server (what scripts/deploy-check terraform
# applies against) or LocalStack. Every AWS API goes to var.aws_endpoint. What the
# emulator lacks is switched off here, and only here (module input "emulator").
#
#   moto_server -H 127.0.0.1 -p 5000 &     # MOTO_IAM_LOAD_MANAGED_POLICIES=true MOTO_ACM_VALIDATION_WAIT=0
#   terraform init -backend-config=backend.hcl   # state in the emulator's S3 (see README)
#   terraform apply -var aws_endpoint=http://127.0.0.1:5000
#
# Credentials: any, e.g. AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test.

terraform {
  required_version = ">= 1.10"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }
  backend "s3" {
    key          = "berth/local/terraform.tfstate"
    use_lockfile = true
  }
}

variable "aws_endpoint" {
  description = "The emulator's URL (moto's server, or LocalStack's http://localhost:4566)."
  type        = string
  default     = "http://127.0.0.1:5000"
}

variable "region" {
  description = "The emulated region."
  type        = string
  default     = "us-east-1"
}

variable "image_digest" {
  description = "Digest the task definitions name (the emulator runs no container, so any digest does)."
  type        = string
  default     = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
}

provider "aws" {
  region                      = var.region
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true

  endpoints {
    acm            = var.aws_endpoint
    appautoscaling = var.aws_endpoint
    cloudwatchlogs = var.aws_endpoint
    ec2            = var.aws_endpoint
    ecr            = var.aws_endpoint
    ecs            = var.aws_endpoint
    elasticache    = var.aws_endpoint
    elbv2          = var.aws_endpoint
    iam            = var.aws_endpoint
    kms            = var.aws_endpoint
    memorydb       = var.aws_endpoint
    rds            = var.aws_endpoint
    route53        = var.aws_endpoint
    s3             = var.aws_endpoint
    secretsmanager = var.aws_endpoint
    sts            = var.aws_endpoint
    wafv2          = var.aws_endpoint
  }

  default_tags {
    tags = { managed-by = "terraform", stack = "berth/envs/local" }
  }
}

# A zone of its own, so the certificate is validated by DNS as in a real account.
resource "aws_route53_zone" "this" {
  #checkov:skip=CKV2_AWS_38:an emulator's test zone (local.berth.test) that no resolver asks: no DNSSEC signing
  #checkov:skip=CKV2_AWS_39:an emulator's test zone that no resolver asks: no query log
  name          = "local.berth.test"
  force_destroy = true
}

module "berth" {
  source       = "../../modules/berth"
  environment  = "local"
  image_digest = var.image_digest
  domain_name  = aws_route53_zone.this.name
  dns_zone     = { zone_id = aws_route53_zone.this.zone_id }

  az_count                 = 2
  nat_gateway_per_az       = false
  db_instance_class        = "db.t4g.micro"
  db_multi_az              = false
  db_backup_retention_days = 7
  deletion_protection      = false
  cache_engine             = "memorydb"
  # moto reads a replica count of 0 as 1: one replica keeps the second plan clean.
  cache_replicas = 1
  service_sizes = {
    for s in ["clock", "users", "rates", "kv", "multivac", "multivac-worker"] : s => { min = 1, max = 2 }
  }

  # The init task runs against the emulator too (bin/run-task, the AWS CLI).
  task_runner_env = { AWS_ENDPOINT_URL = var.aws_endpoint, RUN_TASK_POLL_SECONDS = "1" }
  # The emulator starts no container, so no service ever becomes steady.
  wait_for_steady_state = false
  emulator = {
    force_destroy = true
    # moto has MemoryDB clusters and users but no ACL API.
    memorydb_acl = false
    # moto answers Application Auto Scaling's ListTagsForResource with a 500.
    autoscaling = false
    # moto evaluates no policy condition, so the TLS-only deny would deny all.
    s3_tls_only_policy = false
  }
}
