output "log_group" {
  description = "The service's CloudWatch log group."
  value       = aws_cloudwatch_log_group.this.name
}

output "service_name" {
  description = "The ECS service."
  value       = aws_ecs_service.this.name
}

output "task_definition_arn" {
  description = "The task definition revision the service runs."
  value       = aws_ecs_task_definition.this.arn
}

output "target_group_arn" {
  description = "The ALB target group (null for a worker)."
  value       = var.load_balancer == null ? null : aws_lb_target_group.this[0].arn
}

output "container" {
  description = "The container definition's settings that are known when planning (for the policy tests and for reading): user, filesystem, capabilities, health check, stop timeout, command, plain settings and the names of the secret settings."
  value = {
    user                   = local.container.user
    readonlyRootFilesystem = local.container.readonlyRootFilesystem
    privileged             = local.container.privileged
    linuxParameters        = local.container.linuxParameters
    healthCheck            = local.container.healthCheck
    stopTimeout            = local.container.stopTimeout
    command                = local.container.command
    port                   = var.port
    environment            = local.environment
    secrets                = sort(keys(var.secrets))
    drain_timeout_seconds  = var.drain_timeout_seconds
    shutdown_delay_seconds = var.shutdown_delay_seconds
  }
}
