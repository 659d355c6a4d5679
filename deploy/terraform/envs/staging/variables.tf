variable "region" {
  description = "AWS region; null: the provider takes AWS_REGION."
  type        = string
  default     = null
}

variable "image_digest" {
  description = "The berth image to run: sha256:<64 hex>."
  type        = string
}

variable "image_repository" {
  description = "Repository of the image; null: this environment's ECR repository."
  type        = string
  default     = null
}

variable "domain_name" {
  description = "Services answer on SERVICE.<domain_name>, e.g. staging.berth.example.com."
  type        = string
}

variable "route53_zone_id" {
  description = "Hosted zone of domain_name (certificate validation and service records); null with certificate_arn: DNS is yours."
  type        = string
  default     = null
}

variable "certificate_arn" {
  description = "An ACM certificate for domain_name and *.domain_name; null: requested and validated in route53_zone_id."
  type        = string
  default     = null
}

variable "cache_engine" {
  description = "elasticache (cheaper; a failover can lose acknowledged kv writes) or memorydb (as production)."
  type        = string
  default     = "elasticache"
}
