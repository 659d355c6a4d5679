variable "name" {
  description = "Prefix of every name, carrying the environment (e.g. berth-staging)."
  type        = string
}

variable "vpc_id" {
  description = "The VPC."
  type        = string
}

variable "vpc_cidr_block" {
  description = "The VPC's range: the load balancer sends to targets in it only."
  type        = string
}

variable "public_subnet_ids" {
  description = "Subnets of the internet-facing load balancer."
  type        = list(string)
}

variable "target_ports" {
  description = "Container ports the load balancer forwards to."
  type        = list(number)
}

variable "domain_name" {
  description = "Each service answers on SERVICE.<domain_name> (e.g. clock.staging.berth.example.com)."
  type        = string
}

variable "dns_zone" {
  description = "Route 53 hosted zone of domain_name ({ zone_id = ... }): with it, the certificate is validated and every service's DNS name is created. Null: manage DNS yourself. (An object, so that its presence is known at plan time even when the zone is created in the same run.)"
  type = object({
    zone_id = string
  })
  default = null
}

variable "certificate_arn" {
  description = "An ACM certificate covering *.<domain_name>. Null: one is requested and validated in dns_zone."
  type        = string
  default     = null
  validation {
    condition     = var.certificate_arn == null || can(regex("^arn:aws[a-z-]*:acm:", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate ARN."
  }
}

variable "hostnames" {
  description = "Host names (inside domain_name) that get an alias record to the load balancer."
  type        = list(string)
  default     = []
}

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listener (TLS 1.3 and 1.2 with forward secrecy only)."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
}

variable "deletion_protection" {
  description = "Protect the load balancer against deletion."
  type        = bool
  default     = true
}

variable "enable_waf" {
  description = "Put an AWS WAF web ACL (AWS managed rules, a per-IP rate limit) in front of the load balancer."
  type        = bool
  default     = true
}

variable "waf_rate_limit" {
  description = "Requests per 5 minutes one IP address may send before WAF blocks it."
  type        = number
  default     = 20000
}

variable "kms_key_arn" {
  description = "KMS key of the log groups."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the log groups and of the access logs in S3."
  type        = number
  default     = 365
}

variable "force_destroy" {
  description = "Let `destroy` empty the access-log bucket (emulator runs only)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}

variable "tls_only_policy" {
  description = "Deny every request that does not use TLS (aws:SecureTransport). Off only on an emulator that ignores policy conditions (moto), where the statement would deny every request."
  type        = bool
  default     = true
}
