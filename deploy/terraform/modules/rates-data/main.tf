# Rates data: a private bucket for pg_dump files and a one-shot ECS task that runs
# `berth rates load --replace` on one. The image has no AWS CLI: the task reads
# the dump's location from BERTH_RATES_DUMP, a secret holding an https:// URL (a
# presigned S3 URL, which bin/rates-load makes), and berth streams it.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

resource "aws_s3_bucket" "dumps" {
  #checkov:skip=CKV_AWS_144:cross-region replication of dumps that can be loaded again from their source is a cost decision left to the operator
  #checkov:skip=CKV2_AWS_62:nothing reacts to a new dump; loading is started by bin/rates-load
  bucket        = local.dumps_bucket
  force_destroy = var.force_destroy
  tags          = var.tags
}

resource "aws_s3_bucket_public_access_block" "dumps" {
  bucket                  = aws_s3_bucket.dumps.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "dumps" {
  bucket = aws_s3_bucket.dumps.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "dumps" {
  bucket = aws_s3_bucket.dumps.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "dumps" {
  bucket = aws_s3_bucket.dumps.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "dumps" {
  bucket = aws_s3_bucket.dumps.id
  rule {
    id     = "old-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

resource "aws_s3_bucket_logging" "dumps" {
  bucket        = aws_s3_bucket.dumps.id
  target_bucket = var.access_log_bucket
  target_prefix = "s3/"
}

locals {
  dumps_bucket     = "${var.name}-rates-dumps-${data.aws_caller_identity.current.account_id}"
  dumps_bucket_arn = "arn:${data.aws_partition.current.partition}:s3:::${local.dumps_bucket}"
}

data "aws_iam_policy_document" "dumps" {
  dynamic "statement" {
    for_each = var.tls_only_policy ? [1] : []
    content {
      sid     = "TlsOnly"
      effect  = "Deny"
      actions = ["s3:*"]
      resources = [
        local.dumps_bucket_arn,
        "${local.dumps_bucket_arn}/*",
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

resource "aws_s3_bucket_policy" "dumps" {
  count      = var.tls_only_policy ? 1 : 0
  bucket     = aws_s3_bucket.dumps.id
  policy     = data.aws_iam_policy_document.dumps.json
  depends_on = [aws_s3_bucket_public_access_block.dumps]
}

# The dump's URL. Terraform creates the secret without a value: bin/rates-load
# writes a fresh presigned URL into it just before it starts the task.
resource "aws_secretsmanager_secret" "dump_url" {
  #checkov:skip=CKV2_AWS_57:holds a short-lived presigned URL that bin/rates-load replaces on every load; there is nothing to rotate
  name                    = "${var.name}/rates/dump-url"
  description             = "BERTH_RATES_DUMP of the rates-load task: an https:// URL of a pg_dump file"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 7
  tags                    = var.tags
}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/berth/${var.name}-rates-load"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "execution" {
  name               = "${var.name}-rates-load-execution"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "execution" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

data "aws_iam_policy_document" "secrets" {
  statement {
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.database_secret_arn, aws_secretsmanager_secret.dump_url.arn]
  }
  statement {
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "secrets" {
  name   = "read-rates-secrets"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.secrets.json
}

resource "aws_iam_role" "task" {
  name               = "${var.name}-rates-load-task"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

resource "aws_ecs_task_definition" "this" {
  family                   = "${var.name}-rates-load"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 512
  memory                   = 2048
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  container_definitions = jsonencode([{
    name                   = "rates-load"
    image                  = var.image
    command                = ["rates", "load", "--replace"]
    cpu                    = 512
    memory                 = 2048
    essential              = true
    user                   = "65532:65532"
    readonlyRootFilesystem = true
    privileged             = false
    linuxParameters        = { capabilities = { add = [], drop = ["ALL"] } }
    mountPoints            = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
    portMappings           = []
    volumesFrom            = []
    environment = [
      { name = "BERTH_DATA_DIR", value = "/tmp" },
      { name = "BERTH_LOG_FORMAT", value = "json" },
    ]
    secrets = [
      { name = "BERTH_RATES_DATABASE_URL", valueFrom = var.database_url_ref },
      { name = "BERTH_RATES_DUMP", valueFrom = aws_secretsmanager_secret.dump_url.arn },
    ]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.this.name
        awslogs-region        = data.aws_region.current.name
        awslogs-stream-prefix = "rates-load"
      }
    }
  }])

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  volume {
    name = "tmp"
  }

  tags = var.tags
}

resource "aws_security_group" "this" {
  #checkov:skip=CKV2_AWS_5:attached to the rates-load task when bin/rates-load starts it (aws ecs run-task --network-configuration), not to a resource
  name        = "${var.name}-rates-load"
  description = "The one-shot rates-load task"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-rates-load" })
}

resource "aws_security_group_rule" "this" {
  for_each                 = var.egress
  security_group_id        = aws_security_group.this.id
  description              = each.key
  protocol                 = "tcp"
  from_port                = each.value.port
  to_port                  = each.value.port
  cidr_blocks              = each.value.cidr_ipv4 == null ? null : [each.value.cidr_ipv4]
  prefix_list_ids          = each.value.prefix_list_id == null ? null : [each.value.prefix_list_id]
  source_security_group_id = each.value.referenced_security_group_id
  type                     = "egress"
}

#trivy:ignore:AVD-AWS-0104 opt-in (allow_internet_dump_urls): a dump on any HTTPS server; off by default, when only S3 is reachable
resource "aws_security_group_rule" "internet" {
  count             = var.allow_internet_dump_urls ? 1 : 0
  security_group_id = aws_security_group.this.id
  description       = "HTTPS to any dump server"
  protocol          = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_blocks       = ["0.0.0.0/0"]
  type              = "egress"
}
