output "cluster_arn" {
  description = "The ECS cluster."
  value       = aws_ecs_cluster.this.arn
}

output "cluster_name" {
  description = "The ECS cluster's name."
  value       = aws_ecs_cluster.this.name
}

output "alb_arn" {
  description = "The load balancer."
  value       = aws_lb.this.arn
}

output "alb_arn_suffix" {
  description = "The load balancer's ARN suffix (CloudWatch metrics dimension)."
  value       = aws_lb.this.arn_suffix
}

output "alb_dns_name" {
  description = "The load balancer's DNS name."
  value       = aws_lb.this.dns_name
}

output "alb_security_group_id" {
  description = "The load balancer's security group: tasks accept traffic from it."
  value       = aws_security_group.alb.id
}

output "https_listener_arn" {
  description = "The HTTPS listener, where each service adds its host rule."
  value       = aws_lb_listener.https.arn
}

output "logs_bucket" {
  description = "The access-log bucket (ALB under alb/, S3 access logs under s3/)."
  value       = aws_s3_bucket.logs.id
  # S3 admits a bucket as a logging target only once its policy allows it.
  depends_on = [aws_s3_bucket_policy.logs]
}

output "waf_log_group" {
  description = "The WAF log group, if WAF is on."
  value       = var.enable_waf ? aws_cloudwatch_log_group.waf[0].name : null
}
