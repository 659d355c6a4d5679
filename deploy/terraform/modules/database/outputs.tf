output "security_group_id" {
  description = "The database's security group."
  value       = aws_security_group.this.id
}

output "address" {
  description = "The instance's host name (private)."
  value       = aws_db_instance.this.address
}

output "master_secret_arn" {
  description = "The RDS-managed master secret."
  value       = aws_db_instance.this.master_user_secret[0].secret_arn
}

output "role_secret_arns" {
  description = "role => secret holding its username, password and connection URL (key url)."
  value       = { for r, s in aws_secretsmanager_secret.role : r => s.arn }
}

output "url_refs" {
  description = "role => ECS secret reference to the role's connection URL."
  value       = { for r, s in aws_secretsmanager_secret.role : r => "${s.arn}:url::" }
}

output "init_task" {
  description = "The one-shot init task: its task definition, security group and log group."
  value = {
    task_definition_arn = aws_ecs_task_definition.init.arn
    security_group_id   = aws_security_group.init.id
    log_group           = aws_cloudwatch_log_group.init.name
  }
}

output "log_groups" {
  description = "The instance's exported log groups and the init task's."
  value       = concat([for g in aws_cloudwatch_log_group.postgres : g.name], [aws_cloudwatch_log_group.init.name])
}

output "ready" {
  description = "Known once the role secrets are written and the init task has run: services start after it."
  value       = concat([for v in aws_secretsmanager_secret_version.role : v.id], [for t in terraform_data.init : t.id])
}
