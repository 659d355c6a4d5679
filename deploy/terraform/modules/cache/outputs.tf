output "security_group_id" {
  description = "The cache's security group."
  value       = aws_security_group.this.id
}

output "cluster_mode" {
  description = "Whether clients must speak the Redis Cluster protocol: MemoryDB always does (berth's BERTH_KV_REDIS_CLUSTER and BERTH_MULTIVAC_REDIS_CLUSTER); the ElastiCache replication group here runs with cluster mode disabled."
  value       = local.memorydb
}

output "endpoint" {
  description = "The primary (ElastiCache) or cluster (MemoryDB) endpoint."
  value       = local.endpoint
}

output "url_secret_arns" {
  description = "user => secret holding its rediss:// URL."
  value       = { for u, s in aws_secretsmanager_secret.url : u => s.arn }
}

output "access_strings" {
  description = "user => the ACL rules derived from deploy/redis/render-acl.sh."
  value       = local.access_strings
}

output "user_names" {
  description = "user => its login name."
  value       = local.user_names
}

output "log_groups" {
  description = "The cache's log groups."
  value       = [for g in aws_cloudwatch_log_group.slow : g.name]
}

output "ready" {
  description = "Known once the URL secrets are written: services start after it."
  value       = [for v in aws_secretsmanager_secret_version.url : v.id]
}
