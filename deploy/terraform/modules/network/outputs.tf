output "vpc_id" {
  description = "The VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr_block" {
  description = "The VPC's IPv4 range."
  value       = aws_vpc.this.cidr_block
}

output "public_subnet_ids" {
  description = "Public subnets, one per AZ (load balancer, NAT)."
  value       = aws_subnet.public[*].id
}

output "private_subnet_ids" {
  description = "Private subnets, one per AZ (tasks, databases, caches)."
  value       = aws_subnet.private[*].id
}

output "s3_prefix_list_id" {
  description = "The prefix list of the S3 gateway endpoint, for security-group egress rules."
  value       = aws_vpc_endpoint.s3.prefix_list_id
}

output "endpoints_security_group_id" {
  description = "The security group of the interface endpoints."
  value       = aws_security_group.endpoints.id
}

output "flow_log_group" {
  description = "The CloudWatch log group of the VPC flow logs."
  value       = aws_cloudwatch_log_group.flow.name
}
