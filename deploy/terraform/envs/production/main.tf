# berth's production environment: 3 AZs with a NAT gateway each, a multi-AZ
# database with deletion protection, MemoryDB with a replica (durable kv writes),
# two tasks per service at least. Every name carries "production".
#
#   scripts/deploy-aws production sha256:<digest>        (what CI runs)
#
# Settings without a default (domain_name, route53_zone_id or certificate_arn)
# come from terraform.tfvars or TF_VAR_* variables.

terraform {
  required_version = ">= 1.10"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }
  # bucket and region: -backend-config (scripts/deploy-aws takes them from
  # TF_STATE_BUCKET and AWS_REGION). S3-native locking: no DynamoDB table.
  backend "s3" {
    key          = "berth/production/terraform.tfstate"
    use_lockfile = true
  }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = { managed-by = "terraform", stack = "berth/envs/production" }
  }
}

module "berth" {
  source           = "../../modules/berth"
  environment      = "production"
  image_digest     = var.image_digest
  image_repository = var.image_repository
  domain_name      = var.domain_name
  dns_zone         = var.route53_zone_id == null ? null : { zone_id = var.route53_zone_id }
  certificate_arn  = var.certificate_arn

  vpc_cidr                 = "10.42.0.0/16"
  az_count                 = 3
  nat_gateway_per_az       = true
  db_instance_class        = "db.m7g.large"
  db_multi_az              = true
  db_backup_retention_days = 14
  deletion_protection      = true
  cache_engine             = var.cache_engine
  cache_replicas           = 1
  cache_node_type          = var.cache_engine == "memorydb" ? "db.r7g.large" : "cache.r7g.large"
  service_sizes = {
    for s in ["clock", "users", "rates", "kv", "multivac", "multivac-worker"] : s => { min = 2, max = 10, cpu = 512, memory = 1024 }
  }
}
