# One berth service (or the multivac worker) on ECS Fargate: a task definition of
# the one image by digest, hardened (uid 65532, read-only root filesystem, no
# capabilities), secrets from Secrets Manager only, logs to CloudWatch; a service
# in private subnets that rolls out without losing its last healthy task and rolls
# back by itself; an ALB target group and host rule; autoscaling.

data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  # ECS sends SIGTERM, waits stopTimeout, then SIGKILL: longer than berth's
  # shutdown delay plus its drain, with a margin. Fargate allows 120 s at most.
  stop_timeout = var.shutdown_delay_seconds + var.drain_timeout_seconds + 5

  environment = merge(var.environment, {
    BERTH_DRAIN_TIMEOUT   = "${var.drain_timeout_seconds}s"
    BERTH_SHUTDOWN_DELAY  = "${var.shutdown_delay_seconds}s"
    BERTH_HEALTHCHECK_URL = "http://127.0.0.1:${var.port}/healthcheck"
    BERTH_LOG_FORMAT      = "json"
    BERTH_DATA_DIR        = "/tmp"
  })

  container = {
    name                   = "berth"
    image                  = var.image
    command                = var.command
    cpu                    = var.cpu
    memory                 = var.memory
    essential              = true
    user                   = "65532:65532"
    readonlyRootFilesystem = true
    privileged             = false
    linuxParameters = {
      capabilities = { add = [], drop = ["ALL"] }
    }
    portMappings = [{ containerPort = var.port, hostPort = var.port, protocol = "tcp" }]
    environment  = [for k in sort(keys(local.environment)) : { name = k, value = local.environment[k] }]
    secrets      = [for k in sort(keys(var.secrets)) : { name = k, valueFrom = var.secrets[k] }]
    mountPoints  = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
    volumesFrom  = []
    healthCheck = {
      command     = ["CMD", "/berth", "healthcheck", "http://127.0.0.1:${var.port}/healthcheck"]
      interval    = 10
      timeout     = 5
      retries     = 3
      startPeriod = 20
    }
    stopTimeout = local.stop_timeout
    ulimits     = [{ name = "nofile", softLimit = 65536, hardLimit = 65536 }]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.this.name
        awslogs-region        = data.aws_region.current.name
        awslogs-stream-prefix = "berth"
      }
    }
  }
}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/berth/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

# ---------------------------------------------------------------- IAM

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

# The execution role: ECS itself pulls the image, writes the logs and reads this
# service's secrets, and nothing else.
resource "aws_iam_role" "execution" {
  name               = "${var.name}-execution"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "execution" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

data "aws_iam_policy_document" "secrets" {
  count = length(var.secret_arns) > 0 ? 1 : 0
  statement {
    actions   = ["secretsmanager:GetSecretValue"]
    resources = var.secret_arns
  }
  statement {
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "secrets" {
  count  = length(var.secret_arns) > 0 ? 1 : 0
  name   = "read-own-secrets"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.secrets[0].json
}

# The task role: what berth's own process may do on AWS. It calls no AWS API,
# so the role has no policy.
resource "aws_iam_role" "task" {
  name               = "${var.name}-task"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

# ---------------------------------------------------------------- task definition

resource "aws_ecs_task_definition" "this" {
  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  container_definitions    = jsonencode([local.container])

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  # The one writable place: a task-local scratch volume on /tmp.
  volume {
    name = "tmp"
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = local.stop_timeout <= 120
      error_message = "shutdown_delay_seconds + drain_timeout_seconds + 5 must fit Fargate's 120 s stopTimeout."
    }
  }
}

# ---------------------------------------------------------------- network

resource "aws_security_group_rule" "from_alb" {
  count                    = var.load_balancer == null ? 0 : 1
  security_group_id        = var.security_group_id
  description              = "from the load balancer"
  protocol                 = "tcp"
  from_port                = var.port
  to_port                  = var.port
  source_security_group_id = var.load_balancer.security_group_id
  type                     = "ingress"
}

resource "aws_security_group_rule" "this" {
  for_each                 = var.egress
  security_group_id        = var.security_group_id
  description              = each.key
  protocol                 = "tcp"
  from_port                = each.value.port
  to_port                  = each.value.port
  cidr_blocks              = each.value.cidr_ipv4 == null ? null : [each.value.cidr_ipv4]
  prefix_list_ids          = each.value.prefix_list_id == null ? null : [each.value.prefix_list_id]
  source_security_group_id = each.value.referenced_security_group_id
  type                     = "egress"
}

# ---------------------------------------------------------------- load balancer

resource "aws_lb_target_group" "this" {
  #checkov:skip=CKV_AWS_378:TLS ends at the load balancer; the tasks listen on plain HTTP inside private subnets that only the load balancer's security group may reach
  count       = var.load_balancer == null ? 0 : 1
  name        = substr(var.name, 0, 32)
  port        = var.port
  protocol    = "HTTP"
  target_type = "ip"
  vpc_id      = var.vpc_id

  # As long as berth's own drain: the load balancer stops sending new requests at
  # once and lets in-flight ones finish for this long before ECS sends SIGTERM.
  deregistration_delay = var.drain_timeout_seconds

  health_check {
    enabled             = true
    path                = "/healthcheck"
    matcher             = "200"
    protocol            = "HTTP"
    interval            = 10
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  tags = var.tags
}

resource "aws_lb_listener_rule" "this" {
  count        = var.load_balancer == null ? 0 : 1
  listener_arn = var.load_balancer.listener_arn
  priority     = var.load_balancer.priority

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this[0].arn
  }

  condition {
    host_header {
      values = [var.load_balancer.host]
    }
  }

  tags = var.tags
}

# ---------------------------------------------------------------- service

# Orders the service after var.start_after without a module-wide depends_on
# (which would close a cycle through the stores' security-group rules).
resource "terraform_data" "start_after" {
  input = var.start_after
}

resource "aws_ecs_service" "this" {
  name                               = var.name
  cluster                            = var.cluster_arn
  task_definition                    = aws_ecs_task_definition.this.arn
  desired_count                      = var.desired_count
  launch_type                        = "FARGATE"
  platform_version                   = "LATEST"
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  health_check_grace_period_seconds  = var.load_balancer == null ? null : var.health_check_grace_seconds
  enable_execute_command             = false
  propagate_tags                     = "SERVICE"
  wait_for_steady_state              = var.wait_for_steady_state

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [var.security_group_id]
    assign_public_ip = false
  }

  dynamic "load_balancer" {
    for_each = var.load_balancer == null ? [] : [var.load_balancer]
    content {
      target_group_arn = aws_lb_target_group.this[0].arn
      container_name   = "berth"
      container_port   = var.port
    }
  }

  tags = var.tags

  # Autoscaling owns the number of tasks once the service exists.
  lifecycle {
    ignore_changes = [desired_count]
  }

  depends_on = [terraform_data.start_after, aws_lb_listener_rule.this, aws_iam_role_policy.secrets, aws_iam_role_policy_attachment.execution]
}

# ---------------------------------------------------------------- autoscaling

resource "aws_appautoscaling_target" "this" {
  count              = var.autoscaling ? 1 : 0
  service_namespace  = "ecs"
  scalable_dimension = "ecs:service:DesiredCount"
  resource_id        = "service/${var.cluster_name}/${aws_ecs_service.this.name}"
  min_capacity       = var.min_capacity
  max_capacity       = var.max_capacity
  tags               = var.tags
}

resource "aws_appautoscaling_policy" "cpu" {
  count              = var.autoscaling ? 1 : 0
  name               = "${var.name}-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this[0].service_namespace
  scalable_dimension = aws_appautoscaling_target.this[0].scalable_dimension
  resource_id        = aws_appautoscaling_target.this[0].resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = var.cpu_target_percent
    scale_in_cooldown  = 120
    scale_out_cooldown = 30
    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}

resource "aws_appautoscaling_policy" "requests" {
  count              = var.autoscaling && var.load_balancer != null ? 1 : 0
  name               = "${var.name}-requests"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this[0].service_namespace
  scalable_dimension = aws_appautoscaling_target.this[0].scalable_dimension
  resource_id        = aws_appautoscaling_target.this[0].resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = var.requests_per_target
    scale_in_cooldown  = 120
    scale_out_cooldown = 30
    predefined_metric_specification {
      predefined_metric_type = "ALBRequestCountPerTarget"
      resource_label         = "${var.load_balancer.arn_suffix}/${aws_lb_target_group.this[0].arn_suffix}"
    }
  }
}
