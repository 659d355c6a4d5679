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
