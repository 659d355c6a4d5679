output "bucket" {
  description = "The dump bucket."
  value       = aws_s3_bucket.dumps.id
}

output "dump_url_secret_arn" {
  description = "The secret holding BERTH_RATES_DUMP."
  value       = aws_secretsmanager_secret.dump_url.arn
}

output "task" {
  description = "The rates-load task: its task definition, security group and log group."
  value = {
    task_definition_arn = aws_ecs_task_definition.this.arn
    security_group_id   = aws_security_group.this.id
    log_group           = aws_cloudwatch_log_group.this.name
  }
}

output "security_group_id" {
  description = "The task's security group (PostgreSQL admits it)."
  value       = aws_security_group.this.id
}
