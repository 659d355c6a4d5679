# berth on AWS, one environment: the network, the image registry, the cluster and
# load balancer, PostgreSQL, Redis, the rates data and one ECS service per berth
# service plus the multivac worker. envs/<name> calls this module with the
# environment's sizes and provider.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  name  = "berth-${var.environment}"
  tags  = merge(var.tags, { project = "berth", environment = var.environment })
  image = "${coalesce(var.image_repository, module.registry.repository_url)}@${var.image_digest}"

  # The services: command, port, listener-rule priority (null: not behind the
  # load balancer), plain settings, and which stores they use (for Redis, the
  # setting that says whether it is a Redis Cluster: MemoryDB always is).
  services = {
    clock = {
      command  = ["serve", "clock"]
      port     = 8080
      priority = 10
      env      = { BERTH_CLOCK_ADDR = "0.0.0.0:8080" }
      postgres = null
      redis    = null
      tokens   = false
    }
    users = {
      command  = ["serve", "users"]
      port     = 8300
      priority = 20
      env      = { BERTH_USERS_ADDR = "0.0.0.0:8300" }
      postgres = { var = "BERTH_USERS_DATABASE_URL", role = "users" }
      redis    = null
      tokens   = true
    }
    rates = {
      command  = ["serve", "rates"]
      port     = 3000
      priority = 30
      env      = { BERTH_RATES_ADDR = "0.0.0.0:3000" }
      postgres = { var = "BERTH_RATES_DATABASE_URL", role = "rates" }
      redis    = null
      tokens   = true
    }
    kv = {
      command  = ["serve", "kv"]
      port     = 5000
      priority = 40
      env      = { BERTH_KV_ADDR = "0.0.0.0:5000" }
      postgres = null
      redis    = { var = "BERTH_KV_REDIS_URL", user = "kv", cluster = "BERTH_KV_REDIS_CLUSTER" }
      tokens   = true
    }
    multivac = {
      command  = ["serve", "multivac"]
      port     = 5001
      priority = 50
      # The queue is worked by the multivac-worker service, not in this process.
      env      = { BERTH_MULTIVAC_ADDR = "0.0.0.0:5001", BERTH_MULTIVAC_WORKER = "never" }
      postgres = { var = "BERTH_MULTIVAC_DATABASE_URL", role = "multivac" }
      redis    = { var = "BERTH_MULTIVAC_REDIS_URL", user = "multivac", cluster = "BERTH_MULTIVAC_REDIS_CLUSTER" }
      tokens   = true
    }
    multivac-worker = {
      command  = ["worker", "multivac"]
      port     = 9101
      priority = null
      env      = { BERTH_MULTIVAC_WORKER_ADDR = "0.0.0.0:9101" }
      postgres = { var = "BERTH_MULTIVAC_DATABASE_URL", role = "multivac" }
      redis    = { var = "BERTH_MULTIVAC_REDIS_URL", user = "multivac", cluster = "BERTH_MULTIVAC_REDIS_CLUSTER" }
      tokens   = false
    }
  }
  public_services = { for k, s in local.services : k => s if s.priority != null }
  hostnames       = { for k, s in local.public_services : k => "${k}.${var.domain_name}" }

  # Every task reaches ECR, CloudWatch Logs and Secrets Manager through the
  # interface endpoints and image layers through the S3 gateway endpoint; nothing
  # else outside the VPC.
  aws_egress = {
    "AWS APIs through the VPC endpoints" = { port = 443, referenced_security_group_id = module.network.endpoints_security_group_id }
    "S3 through the gateway endpoint"    = { port = 443, prefix_list_id = module.network.s3_prefix_list_id }
  }
}

# ---------------------------------------------------------------- KMS

resource "aws_kms_key" "this" {
  description             = "${local.name}: logs, secrets, database, cache, images, dumps"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministersTheKeyThroughIam"
        Effect    = "Allow"
        Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogsOfThisAccount"
        Effect    = "Allow"
        Principal = { Service = "logs.${data.aws_region.current.name}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnLike = {
            "kms:EncryptionContext:aws:logs:arn" = "arn:${data.aws_partition.current.partition}:logs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:*"
          }
        }
      },
    ]
  })
  tags = local.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.this.key_id
}

# ---------------------------------------------------------------- API tokens

ephemeral "aws_secretsmanager_random_password" "api_token" {
  password_length     = 64
  exclude_punctuation = true
}

resource "aws_secretsmanager_secret" "api_tokens" {
  #checkov:skip=CKV2_AWS_57:operators rotate the tokens by hand (put "new,old", redeploy, then "new"): clients must learn the new token first, which no rotation Lambda can do
  name                    = "${local.name}/api-tokens"
  description             = "BERTH_API_TOKENS: comma-separated bearer tokens of the mutating endpoints"
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = 7
  tags                    = local.tags
}

# The first token is drawn at creation and written write-only; Terraform never
# writes it again, so operators may replace the value.
resource "aws_secretsmanager_secret_version" "api_tokens" {
  secret_id                = aws_secretsmanager_secret.api_tokens.id
  secret_string_wo         = ephemeral.aws_secretsmanager_random_password.api_token.random_password
  secret_string_wo_version = 1
}

# ---------------------------------------------------------------- modules

# The tasks' security groups live here, not in the service module: the stores
# admit them, and the services start only after the stores are ready.
resource "aws_security_group" "service" {
  #checkov:skip=CKV2_AWS_5:attached to the ECS service by module.service (network_configuration), which checkov does not follow through the module input
  for_each    = local.services
  name        = "${local.name}-${each.key}"
  description = "Tasks of ${local.name}-${each.key}"
  vpc_id      = module.network.vpc_id
  tags        = merge(local.tags, { Name = "${local.name}-${each.key}" })
}

module "network" {
  source             = "../network"
  name               = local.name
  cidr_block         = var.vpc_cidr
  az_count           = var.az_count
  nat_gateway_per_az = var.nat_gateway_per_az
  kms_key_arn        = aws_kms_key.this.arn
  log_retention_days = var.log_retention_days
  tags               = local.tags
}

module "registry" {
  source       = "../registry"
  name         = local.name
  kms_key_arn  = aws_kms_key.this.arn
  force_delete = var.emulator.force_destroy
  tags         = local.tags
}

module "platform" {
  source              = "../platform"
  name                = local.name
  vpc_id              = module.network.vpc_id
  vpc_cidr_block      = module.network.vpc_cidr_block
  public_subnet_ids   = module.network.public_subnet_ids
  target_ports        = [for s in local.public_services : s.port]
  domain_name         = var.domain_name
  dns_zone            = var.dns_zone
  certificate_arn     = var.certificate_arn
  hostnames           = values(local.hostnames)
  deletion_protection = var.deletion_protection
  enable_waf          = var.enable_waf
  kms_key_arn         = aws_kms_key.this.arn
  log_retention_days  = var.log_retention_days
  force_destroy       = var.emulator.force_destroy
  tls_only_policy     = var.emulator.s3_tls_only_policy
  tags                = local.tags
}

module "database" {
  source                = "../database"
  name                  = local.name
  vpc_id                = module.network.vpc_id
  subnet_ids            = module.network.private_subnet_ids
  kms_key_arn           = aws_kms_key.this.arn
  instance_class        = var.db_instance_class
  multi_az              = var.db_multi_az
  deletion_protection   = var.deletion_protection
  skip_final_snapshot   = !var.deletion_protection
  backup_retention_days = var.db_backup_retention_days
  credentials_version   = var.credentials_version
  log_retention_days    = var.log_retention_days
  roles                 = ["users", "rates", "multivac"]
  roles_sql             = file("${path.module}/../../../postgres/roles.sql")
  client_security_group_ids = merge(
    { for k, s in local.services : k => aws_security_group.service[k].id if s.postgres != null },
    { rates-load = module.rates_data.security_group_id },
  )
  init = {
    cluster_arn  = module.platform.cluster_arn
    psql_image   = var.psql_image
    subnet_ids   = module.network.private_subnet_ids
    egress       = local.aws_egress
    run_on_apply = var.run_db_init
    runner_env   = var.task_runner_env
  }
  tags = local.tags
}

module "cache" {
  source      = "../cache"
  name        = local.name
  engine      = var.cache_engine
  replicas    = var.cache_replicas
  node_type   = var.cache_node_type
  vpc_id      = module.network.vpc_id
  subnet_ids  = module.network.private_subnet_ids
  kms_key_arn = aws_kms_key.this.arn
  acl_script  = file("${path.module}/../../../redis/render-acl.sh")
  users       = ["kv", "multivac"]
  enable_acl  = var.emulator.memorydb_acl
  client_security_group_ids = {
    for k, s in local.services : k => aws_security_group.service[k].id if s.redis != null
  }
  log_retention_days = var.log_retention_days
  tags               = local.tags
}

module "rates_data" {
  source              = "../rates-data"
  name                = local.name
  image               = local.image
  vpc_id              = module.network.vpc_id
  kms_key_arn         = aws_kms_key.this.arn
  database_url_ref    = module.database.url_refs["rates"]
  database_secret_arn = module.database.role_secret_arns["rates"]
  egress = merge(local.aws_egress, {
    "PostgreSQL" = { port = 5432, referenced_security_group_id = module.database.security_group_id }
  })
  allow_internet_dump_urls = var.allow_internet_dump_urls
  access_log_bucket        = module.platform.logs_bucket
  log_retention_days       = var.log_retention_days
  force_destroy            = var.emulator.force_destroy
  tls_only_policy          = var.emulator.s3_tls_only_policy
  tags                     = local.tags
}

module "service" {
  source       = "../service"
  for_each     = local.services
  name         = "${local.name}-${each.key}"
  cluster_arn  = module.platform.cluster_arn
  cluster_name = module.platform.cluster_name
  image        = local.image
  command      = each.value.command
  port         = each.value.port
  environment = merge(each.value.env,
    each.value.redis == null ? {} : { (each.value.redis.cluster) = tostring(module.cache.cluster_mode) },
  )
  secrets = merge(
    each.value.postgres == null ? {} : { (each.value.postgres.var) = module.database.url_refs[each.value.postgres.role] },
    each.value.redis == null ? {} : { (each.value.redis.var) = module.cache.url_secret_arns[each.value.redis.user] },
    each.value.tokens ? { BERTH_API_TOKENS = aws_secretsmanager_secret.api_tokens.arn } : {},
  )
  secret_arns = concat(
    each.value.postgres == null ? [] : [module.database.role_secret_arns[each.value.postgres.role]],
    each.value.redis == null ? [] : [module.cache.url_secret_arns[each.value.redis.user]],
    each.value.tokens ? [aws_secretsmanager_secret.api_tokens.arn] : [],
  )
  kms_key_arn       = aws_kms_key.this.arn
  cpu               = try(var.service_sizes[each.key].cpu, 256)
  memory            = try(var.service_sizes[each.key].memory, 512)
  min_capacity      = try(var.service_sizes[each.key].min, 2)
  max_capacity      = try(var.service_sizes[each.key].max, 6)
  desired_count     = try(var.service_sizes[each.key].min, 2)
  vpc_id            = module.network.vpc_id
  subnet_ids        = module.network.private_subnet_ids
  security_group_id = aws_security_group.service[each.key].id
  egress = merge(local.aws_egress,
    each.value.postgres == null ? {} : { "PostgreSQL" = { port = 5432, referenced_security_group_id = module.database.security_group_id } },
    each.value.redis == null ? {} : { "Redis" = { port = 6379, referenced_security_group_id = module.cache.security_group_id } },
  )
  load_balancer = each.value.priority == null ? null : {
    listener_arn      = module.platform.https_listener_arn
    security_group_id = module.platform.alb_security_group_id
    arn_suffix        = module.platform.alb_arn_suffix
    host              = local.hostnames[each.key]
    priority          = each.value.priority
  }
  drain_timeout_seconds  = var.drain_timeout_seconds
  shutdown_delay_seconds = var.shutdown_delay_seconds
  log_retention_days     = var.log_retention_days
  wait_for_steady_state  = var.wait_for_steady_state
  autoscaling            = var.emulator.autoscaling
  start_after = concat(
    each.value.postgres == null ? [] : module.database.ready,
    each.value.redis == null ? [] : module.cache.ready,
  )
  tags = local.tags
}
