output "alb_dns_name" {
  description = "The load balancer's DNS name (point SERVICE.<domain_name> at it, unless dns_zone does)."
  value       = module.platform.alb_dns_name
}

output "service_urls" {
  description = "service => its base URL through the load balancer."
  value       = { for k, h in local.hostnames : k => "https://${h}" }
}

output "ecr_repository_url" {
  description = "This environment's image repository."
  value       = module.registry.repository_url
}

output "log_groups" {
  description = "name => CloudWatch log group: every service and worker, the one-shot tasks, the database, the cache, the VPC flow logs and WAF."
  value = merge(
    { for k, m in module.service : k => m.log_group },
    {
      db-init       = module.database.init_task.log_group
      rates-load    = module.rates_data.task.log_group
      vpc-flow-logs = module.network.flow_log_group
    },
    { for g in module.database.log_groups : "postgres-${basename(g)}" => g if g != module.database.init_task.log_group },
    { for g in module.cache.log_groups : "redis-slow-log" => g },
    var.enable_waf ? { waf = module.platform.waf_log_group } : {},
  )
}

output "image" {
  description = "The image every task runs."
  value       = local.image
}

output "cluster_name" {
  description = "The ECS cluster."
  value       = module.platform.cluster_name
}

output "oneshot_tasks" {
  description = "The one-shot tasks (db-init, rates-load) with what bin/run-task needs to start them."
  value = {
    db-init = merge(module.database.init_task, {
      subnets = module.network.private_subnet_ids
    })
    rates-load = merge(module.rates_data.task, {
      subnets         = module.network.private_subnet_ids
      dump_bucket     = module.rates_data.bucket
      dump_url_secret = module.rates_data.dump_url_secret_arn
    })
  }
}

output "redis_access_strings" {
  description = "user => the ACL rules of the cache users (taken from deploy/redis/render-acl.sh)."
  value       = module.cache.access_strings
}

output "containers" {
  description = "service => its container's settings that are known when planning (user, read-only root, capabilities, health check, stop timeout, settings, secret names)."
  value       = { for k, m in module.service : k => m.container }
}
