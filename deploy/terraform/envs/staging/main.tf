# berth's staging environment: the production design scaled down (2 AZs, one NAT
# gateway, single-AZ database, ElastiCache, one task per service), beside
# production in the same account: every name carries "staging".
#
#   scripts/deploy-aws staging sha256:<digest>        (what CI runs)
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
    key          = "berth/staging/terraform.tfstate"
    use_lockfile = true
  }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = { managed-by = "terraform", stack = "berth/envs/staging" }
  }
}

module "berth" {
  source           = "../../modules/berth"
  environment      = "staging"
  image_digest     = var.image_digest
  image_repository = var.image_repository
  domain_name      = var.domain_name
  dns_zone         = var.route53_zone_id == null ? null : { zone_id = var.route53_zone_id }
  certificate_arn  = var.certificate_arn

  vpc_cidr                 = "10.41.0.0/16"
  az_count                 = 2
  nat_gateway_per_az       = false
  db_instance_class        = "db.t4g.small"
  db_multi_az              = false
  db_backup_retention_days = 7
  deletion_protection      = false
  cache_engine             = var.cache_engine
  cache_replicas           = 0
  service_sizes = {
    for s in ["clock", "users", "rates", "kv", "multivac", "multivac-worker"] : s => { min = 1, max = 3 }
  }
}
