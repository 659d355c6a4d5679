# RDS PostgreSQL, private and encrypted, with its master password managed by RDS
# in Secrets Manager; one secret per berth role (users, rates, multivac) holding
# its random password and its connection URL; and a one-shot ECS task that runs
# deploy/postgres/roles.sql for every role, so the databases and roles exist when
# `apply` ends.

data "aws_region" "current" {}
data "aws_partition" "current" {}

resource "aws_security_group" "this" {
  name        = "${var.name}-postgres"
  description = "PostgreSQL: reachable from berth's tasks only"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-postgres" })
}

resource "aws_security_group_rule" "clients" {
  for_each                 = merge(var.client_security_group_ids, { db-init = aws_security_group.init.id })
  security_group_id        = aws_security_group.this.id
  description              = "PostgreSQL from ${each.key}"
  protocol                 = "tcp"
  from_port                = 5432
  to_port                  = 5432
  source_security_group_id = each.value
  type                     = "ingress"
}

resource "aws_db_subnet_group" "this" {
  name       = var.name
  subnet_ids = var.subnet_ids
  tags       = var.tags
}

resource "aws_db_parameter_group" "this" {
  name        = "${var.name}-postgres${var.engine_version}"
  family      = "postgres${var.engine_version}"
  description = "berth: TLS required, connections and slow statements logged"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }
  parameter {
    name  = "log_connections"
    value = "1"
  }
  parameter {
    name  = "log_disconnections"
    value = "1"
  }
  parameter {
    name  = "log_statement"
    value = "ddl"
  }
  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

data "aws_iam_policy_document" "monitoring_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "monitoring" {
  name               = "${var.name}-rds-monitoring"
  assume_role_policy = data.aws_iam_policy_document.monitoring_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "monitoring" {
  role       = aws_iam_role.monitoring.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

# RDS creates these groups on first write; created here they get a retention and KMS.
resource "aws_cloudwatch_log_group" "postgres" {
  for_each          = toset(["postgresql", "upgrade"])
  name              = "/aws/rds/instance/${var.name}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

#trivy:ignore:AVD-AWS-0177 deletion protection is the variable deletion_protection: on in production, off in staging and the emulator run, which must be able to tear down
resource "aws_db_instance" "this" {
  identifier     = var.name
  engine         = "postgres"
  engine_version = var.engine_version
  instance_class = var.instance_class

  allocated_storage     = var.allocated_storage
  max_allocated_storage = var.max_allocated_storage
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = var.kms_key_arn

  # The master password never exists outside Secrets Manager: RDS generates it,
  # stores it there (encrypted with our key) and rotates it.
  username                      = "berth_admin"
  manage_master_user_password   = true
  master_user_secret_kms_key_id = var.kms_key_arn

  db_name                = null
  port                   = 5432
  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [aws_security_group.this.id]
  publicly_accessible    = false
  parameter_group_name   = aws_db_parameter_group.this.name

  multi_az            = var.multi_az
  deletion_protection = var.deletion_protection

  # Automated backups; point-in-time recovery within the retention.
  backup_retention_period   = var.backup_retention_days
  backup_window             = "02:00-03:00"
  maintenance_window        = "sun:03:30-sun:04:30"
  copy_tags_to_snapshot     = true
  skip_final_snapshot       = var.skip_final_snapshot
  final_snapshot_identifier = var.skip_final_snapshot ? null : "${var.name}-final"
  delete_automated_backups  = false

  auto_minor_version_upgrade          = true
  iam_database_authentication_enabled = true
  enabled_cloudwatch_logs_exports     = ["postgresql", "upgrade"]

  performance_insights_enabled          = true
  performance_insights_kms_key_id       = var.kms_key_arn
  performance_insights_retention_period = 7

  monitoring_interval = 60
  monitoring_role_arn = aws_iam_role.monitoring.arn

  apply_immediately = false
  tags              = var.tags

  depends_on = [aws_cloudwatch_log_group.postgres, aws_iam_role_policy_attachment.monitoring]
}

# ---------------------------------------------------------------- role secrets

# Each role's password is drawn by Secrets Manager and written to the secret
# write-only: it never enters Terraform's plan or state.
ephemeral "aws_secretsmanager_random_password" "role" {
  for_each            = toset(var.roles)
  password_length     = 40
  exclude_punctuation = true
}

resource "aws_secretsmanager_secret" "role" {
  #checkov:skip=CKV2_AWS_57:rotation is credentials_version: bump it, apply (the init task sets the new password in PostgreSQL) and the next deployment reads it; no rotation Lambda
  for_each                = toset(var.roles)
  name                    = "${var.name}/postgres/${each.key}"
  description             = "berth's ${each.key} role: username, password and the service's connection URL (key url)"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 7
  tags                    = var.tags
}

resource "aws_secretsmanager_secret_version" "role" {
  for_each  = toset(var.roles)
  secret_id = aws_secretsmanager_secret.role[each.key].id
  secret_string_wo = jsonencode({
    username = each.key
    password = ephemeral.aws_secretsmanager_random_password.role[each.key].random_password
    host     = aws_db_instance.this.address
    port     = aws_db_instance.this.port
    dbname   = each.key
    # rds.force_ssl: every connection is TLS.
    url = format("postgres://%s:%s@%s:%d/%s?sslmode=require", each.key,
      ephemeral.aws_secretsmanager_random_password.role[each.key].random_password,
    aws_db_instance.this.address, aws_db_instance.this.port, each.key)
  })
  secret_string_wo_version = var.credentials_version
}

# ---------------------------------------------------------------- init task

resource "aws_cloudwatch_log_group" "init" {
  name              = "/berth/${var.name}-db-init"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "init_execution" {
  name               = "${var.name}-db-init-execution"
  assume_role_policy = data.aws_iam_policy_document.tasks_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "init_execution" {
  role       = aws_iam_role.init_execution.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

data "aws_iam_policy_document" "init_secrets" {
  statement {
    actions = ["secretsmanager:GetSecretValue"]
    resources = concat(
      [aws_db_instance.this.master_user_secret[0].secret_arn],
      [for s in aws_secretsmanager_secret.role : s.arn],
    )
  }
  statement {
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "init_secrets" {
  name   = "read-database-secrets"
  role   = aws_iam_role.init_execution.id
  policy = data.aws_iam_policy_document.init_secrets.json
}

resource "aws_iam_role" "init_task" {
  name               = "${var.name}-db-init-task"
  assume_role_policy = data.aws_iam_policy_document.tasks_assume.json
  tags               = var.tags
}

locals {
  master_secret_arn = aws_db_instance.this.master_user_secret[0].secret_arn

  # Runs roles.sql once per role, as the RDS master user (a member of
  # rds_superuser, which roles.sql supports). The SQL arrives in an environment
  # variable and goes to psql on stdin: nothing is written to disk.
  init_script = <<-EOT
    set -eu
    for role in $BERTH_ROLES; do
      var=BERTH_ROLE_PASSWORD_$(printf '%s' "$role" | tr '[:lower:]' '[:upper:]')
      eval "BERTH_ROLE_PASSWORD=\$$var"
      export BERTH_ROLE_PASSWORD
      printf '%s\n' "$BERTH_ROLES_SQL" | psql -X -q -v ON_ERROR_STOP=1 -v role="$role" -f -
      echo "db-init: database and role $role are in place"
    done
  EOT

  init_container = {
    name                   = "db-init"
    image                  = var.init.psql_image
    cpu                    = 256
    memory                 = 512
    entryPoint             = ["sh", "-c"]
    command                = [local.init_script]
    essential              = true
    user                   = "65534:65534"
    readonlyRootFilesystem = true
    privileged             = false
    linuxParameters        = { capabilities = { add = [], drop = ["ALL"] } }
    mountPoints            = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
    portMappings           = []
    volumesFrom            = []
    environment = [for k, v in {
      HOME              = "/tmp"
      PGHOST            = aws_db_instance.this.address
      PGPORT            = tostring(aws_db_instance.this.port)
      PGDATABASE        = "postgres"
      PGSSLMODE         = "require"
      PGCONNECT_TIMEOUT = "10"
      PGAPPNAME         = "berth-db-init"
      BERTH_ROLES       = join(" ", var.roles)
      BERTH_ROLES_SQL   = var.roles_sql
    } : { name = k, value = v }]
    secrets = concat(
      [
        { name = "PGUSER", valueFrom = "${local.master_secret_arn}:username::" },
        { name = "PGPASSWORD", valueFrom = "${local.master_secret_arn}:password::" },
      ],
      [for r in var.roles : {
        name      = "BERTH_ROLE_PASSWORD_${upper(r)}"
        valueFrom = "${aws_secretsmanager_secret.role[r].arn}:password::"
      }],
    )
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.init.name
        awslogs-region        = data.aws_region.current.name
        awslogs-stream-prefix = "db-init"
      }
    }
  }
}

resource "aws_ecs_task_definition" "init" {
  family                   = "${var.name}-db-init"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 256
  memory                   = 512
  execution_role_arn       = aws_iam_role.init_execution.arn
  task_role_arn            = aws_iam_role.init_task.arn
  container_definitions    = jsonencode([local.init_container])

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  volume {
    name = "tmp"
  }

  tags = var.tags
}

resource "aws_security_group" "init" {
  #checkov:skip=CKV2_AWS_5:attached to the init task when bin/run-task starts it (aws ecs run-task --network-configuration), not to a resource
  name        = "${var.name}-db-init"
  description = "The one-shot database init task"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-db-init" })
}

resource "aws_security_group_rule" "init" {
  for_each                 = var.init.egress
  security_group_id        = aws_security_group.init.id
  description              = each.key
  protocol                 = "tcp"
  from_port                = each.value.port
  to_port                  = each.value.port
  cidr_blocks              = each.value.cidr_ipv4 == null ? null : [each.value.cidr_ipv4]
  prefix_list_ids          = each.value.prefix_list_id == null ? null : [each.value.prefix_list_id]
  source_security_group_id = each.value.referenced_security_group_id
  type                     = "egress"
}

#trivy:ignore:AVD-AWS-0104 the PostgreSQL client image comes from a public registry through NAT; set init.internet_egress = false once it is mirrored into ECR
resource "aws_security_group_rule" "init_internet" {
  count             = var.init.internet_egress ? 1 : 0
  security_group_id = aws_security_group.init.id
  description       = "HTTPS to pull the PostgreSQL client image"
  protocol          = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_blocks       = ["0.0.0.0/0"]
  type              = "egress"
}

resource "aws_security_group_rule" "init_postgres" {
  security_group_id        = aws_security_group.init.id
  description              = "PostgreSQL"
  protocol                 = "tcp"
  from_port                = 5432
  to_port                  = 5432
  source_security_group_id = aws_security_group.this.id
  type                     = "egress"
}

# Runs the init task whenever something it depends on changes (the task
# definition, roles.sql, the passwords, the instance): bin/run-task starts it
# with the AWS CLI, waits until it stops and fails unless it exited 0. A failed
# run taints this resource, so the next `apply` runs it again.
resource "terraform_data" "init" {
  count = var.init.run_on_apply ? 1 : 0

  triggers_replace = {
    task_definition     = aws_ecs_task_definition.init.arn
    roles_sql           = sha256(var.roles_sql)
    credentials_version = var.credentials_version
    instance            = aws_db_instance.this.resource_id
  }

  provisioner "local-exec" {
    command = "bash '${abspath("${path.module}/../../bin/run-task")}'"
    environment = merge(var.init.runner_env, {
      RUN_TASK_CLUSTER         = var.init.cluster_arn
      RUN_TASK_DEFINITION      = aws_ecs_task_definition.init.arn
      RUN_TASK_SUBNETS         = join(",", var.init.subnet_ids)
      RUN_TASK_SECURITY_GROUPS = aws_security_group.init.id
      RUN_TASK_REGION          = data.aws_region.current.name
    })
  }

  depends_on = [
    aws_secretsmanager_secret_version.role,
    aws_security_group_rule.clients,
    aws_security_group_rule.init,
    aws_security_group_rule.init_postgres,
    aws_security_group_rule.init_internet,
    aws_iam_role_policy.init_secrets,
    aws_iam_role_policy_attachment.init_execution,
  ]
}
