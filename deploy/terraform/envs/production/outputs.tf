output "alb_dns_name" {
  description = "The load balancer's DNS name."
  value       = module.berth.alb_dns_name
}

output "service_urls" {
  description = "service => base URL."
  value       = module.berth.service_urls
}

output "ecr_repository_url" {
  description = "The image repository."
  value       = module.berth.ecr_repository_url
}

output "log_groups" {
  description = "name => CloudWatch log group."
  value       = module.berth.log_groups
}

output "cluster_name" {
  description = "The ECS cluster."
  value       = module.berth.cluster_name
}

output "oneshot_tasks" {
  description = "The one-shot tasks (bin/run-task, bin/rates-load)."
  value       = module.berth.oneshot_tasks
}

output "redis_access_strings" {
  description = "The Redis ACL users' rules (from deploy/redis/render-acl.sh)."
  value       = module.berth.redis_access_strings
}

output "containers" {
  description = "service => its container's settings (user, read-only root, health check, settings, names of the secrets)."
  value       = module.berth.containers
}
