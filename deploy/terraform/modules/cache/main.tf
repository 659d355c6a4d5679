# Redis for kv and multivac: MemoryDB (the default: durable, kv's promise holds) or
# ElastiCache. TLS in transit, encryption at rest with KMS, no default user: the
# only logins are the ACL users of deploy/redis/render-acl.sh, with the same key
# patterns and commands, and random passwords.

locals {
  memorydb  = var.engine == "memorydb"
  node_type = coalesce(var.node_type, local.memorydb ? "db.t4g.small" : "cache.t4g.small")

  # One definition of the users: the ACL lines of render-acl.sh. Take
  #   user kv $kv_auth resetkeys ~kv:* resetchannels -@all +get ... $handshake
  # substitute $handshake (without CLIENT SETINFO, which render-acl.sh grants only
  # on Redis 7.2+, and which clients may fail), drop the reset* words (a new
  # managed user starts with no keys or channels) and switch the user on.
  handshake = trimspace(replace(regex("handshake=\"([^\"]*)\"", var.acl_script)[0], "$${setinfo}", ""))
  acl_rules = {
    for u in var.users : u => regex("(?m)^user ${u} [$]${u}_auth (.*)$", var.acl_script)[0]
  }
  access_strings = {
    for u, r in local.acl_rules : u => join(" ", concat(["on"], [
      for w in split(" ", replace(r, "$handshake", local.handshake)) : w
      if w != "" && w != "resetkeys" && w != "resetchannels"
    ]))
  }

  # Login names are unique per account and region on MemoryDB: they carry the
  # environment.
  user_names = { for u in var.users : u => "${var.name}-${u}" }
}

resource "aws_security_group" "this" {
  name        = "${var.name}-redis"
  description = "Redis: reachable from berth's tasks only"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-redis" })
}

resource "aws_security_group_rule" "clients" {
  for_each                 = var.client_security_group_ids
  security_group_id        = aws_security_group.this.id
  description              = "Redis from ${each.key}"
  protocol                 = "tcp"
  from_port                = 6379
  to_port                  = 6379
  source_security_group_id = each.value
  type                     = "ingress"
}

# ---------------------------------------------------------------- passwords

ephemeral "aws_secretsmanager_random_password" "user" {
  for_each            = toset(var.users)
  password_length     = 40
  exclude_punctuation = true
}

resource "aws_secretsmanager_secret" "password" {
  #checkov:skip=CKV2_AWS_57:the ACL user's password is set by Terraform (aws_memorydb_user / aws_elasticache_user); rotate it by tainting the secret version and applying, not by a rotation Lambda
  for_each                = toset(var.users)
  name                    = "${var.name}/redis/${each.key}-password"
  description             = "Password of the Redis ACL user ${local.user_names[each.key]}"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 7
  tags                    = var.tags
}

# Drawn once, written write-only; the user resource below reads it back (the
# MemoryDB and ElastiCache user APIs take the password itself, so it is in the
# state, which the state bucket encrypts with KMS).
resource "aws_secretsmanager_secret_version" "password" {
  for_each                 = toset(var.users)
  secret_id                = aws_secretsmanager_secret.password[each.key].id
  secret_string_wo         = ephemeral.aws_secretsmanager_random_password.user[each.key].random_password
  secret_string_wo_version = 1
}

data "aws_secretsmanager_secret_version" "password" {
  for_each   = toset(var.users)
  secret_id  = aws_secretsmanager_secret.password[each.key].id
  depends_on = [aws_secretsmanager_secret_version.password]
}

# ---------------------------------------------------------------- MemoryDB

resource "aws_memorydb_subnet_group" "this" {
  count      = local.memorydb ? 1 : 0
  name       = var.name
  subnet_ids = var.subnet_ids
  tags       = var.tags
}

resource "aws_memorydb_user" "this" {
  for_each      = local.memorydb ? toset(var.users) : toset([])
  user_name     = local.user_names[each.key]
  access_string = local.access_strings[each.key]

  authentication_mode {
    type      = "password"
    passwords = [data.aws_secretsmanager_secret_version.password[each.key].secret_string]
  }

  tags = var.tags
}

resource "aws_memorydb_acl" "this" {
  count      = local.memorydb && var.enable_acl ? 1 : 0
  name       = var.name
  user_names = [for u in aws_memorydb_user.this : u.user_name]
  tags       = var.tags
}

resource "aws_memorydb_cluster" "this" {
  count                      = local.memorydb ? 1 : 0
  name                       = var.name
  engine                     = "redis"
  engine_version             = var.redis_version
  node_type                  = local.node_type
  num_shards                 = 1
  num_replicas_per_shard     = var.replicas
  acl_name                   = var.enable_acl ? aws_memorydb_acl.this[0].name : "open-access"
  tls_enabled                = true
  kms_key_arn                = var.kms_key_arn
  subnet_group_name          = aws_memorydb_subnet_group.this[0].name
  security_group_ids         = [aws_security_group.this.id]
  port                       = 6379
  snapshot_retention_limit   = var.snapshot_retention_days
  snapshot_window            = "02:00-03:00"
  maintenance_window         = "sun:04:00-sun:05:00"
  auto_minor_version_upgrade = true
  tags                       = var.tags
}

# ---------------------------------------------------------------- ElastiCache

resource "aws_elasticache_subnet_group" "this" {
  count      = local.memorydb ? 0 : 1
  name       = var.name
  subnet_ids = var.subnet_ids
  tags       = var.tags
}

# Every ElastiCache user group needs a user named "default": this one is off.
resource "aws_elasticache_user" "default" {
  count         = local.memorydb ? 0 : 1
  user_id       = "${var.name}-default"
  user_name     = "default"
  engine        = "redis"
  access_string = "off -@all"
  authentication_mode {
    type = "no-password-required"
  }
  tags = var.tags
}

resource "aws_elasticache_user" "this" {
  for_each      = local.memorydb ? toset([]) : toset(var.users)
  user_id       = local.user_names[each.key]
  user_name     = local.user_names[each.key]
  engine        = "redis"
  access_string = local.access_strings[each.key]

  authentication_mode {
    type      = "password"
    passwords = [data.aws_secretsmanager_secret_version.password[each.key].secret_string]
  }

  tags = var.tags
}

resource "aws_elasticache_user_group" "this" {
  count         = local.memorydb ? 0 : 1
  user_group_id = var.name
  engine        = "redis"
  user_ids      = concat([aws_elasticache_user.default[0].user_id], [for u in aws_elasticache_user.this : u.user_id])
  tags          = var.tags
}

resource "aws_cloudwatch_log_group" "slow" {
  count             = local.memorydb ? 0 : 1
  name              = "/berth/${var.name}-redis-slow-log"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_elasticache_replication_group" "this" {
  #checkov:skip=CKV2_AWS_50:automatic failover and multi-AZ are on whenever replicas > 0 (production); staging runs one node to save cost
  count                      = local.memorydb ? 0 : 1
  replication_group_id       = var.name
  description                = "berth ${var.name}: kv and multivac"
  engine                     = "redis"
  engine_version             = var.redis_version
  node_type                  = local.node_type
  num_cache_clusters         = 1 + var.replicas
  automatic_failover_enabled = var.replicas > 0
  multi_az_enabled           = var.replicas > 0
  port                       = 6379
  subnet_group_name          = aws_elasticache_subnet_group.this[0].name
  security_group_ids         = [aws_security_group.this.id]
  user_group_ids             = [aws_elasticache_user_group.this[0].user_group_id]
  transit_encryption_enabled = true
  transit_encryption_mode    = "required"
  at_rest_encryption_enabled = true
  kms_key_id                 = var.kms_key_arn
  snapshot_retention_limit   = var.snapshot_retention_days
  snapshot_window            = "02:00-03:00"
  maintenance_window         = "sun:04:00-sun:05:00"
  auto_minor_version_upgrade = true
  apply_immediately          = false

  log_delivery_configuration {
    destination      = aws_cloudwatch_log_group.slow[0].name
    destination_type = "cloudwatch-logs"
    log_format       = "json"
    log_type         = "slow-log"
  }

  tags = var.tags
}

# ---------------------------------------------------------------- URLs

locals {
  endpoint = local.memorydb ? aws_memorydb_cluster.this[0].cluster_endpoint[0].address : aws_elasticache_replication_group.this[0].primary_endpoint_address
}

resource "aws_secretsmanager_secret" "url" {
  #checkov:skip=CKV2_AWS_57:derived from the password secret and the endpoint on every apply; nothing to rotate on its own
  for_each                = toset(var.users)
  name                    = "${var.name}/redis/${each.key}-url"
  description             = "The rediss:// URL of the Redis ACL user ${local.user_names[each.key]}"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 7
  tags                    = var.tags
}

resource "aws_secretsmanager_secret_version" "url" {
  for_each  = toset(var.users)
  secret_id = aws_secretsmanager_secret.url[each.key].id
  # rediss: TLS (required by both engines).
  secret_string = format("rediss://%s:%s@%s:6379", local.user_names[each.key],
  data.aws_secretsmanager_secret_version.password[each.key].secret_string, local.endpoint)
}
