variable "environment" {
  description = "The environment's name; every resource name carries it (berth-<environment>-...)."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,11}$", var.environment))
    error_message = "environment must be 2-12 lower-case letters and digits."
  }
}

variable "image_digest" {
  description = "The berth image to run, by digest (sha256:<64 hex>), in image_repository."
  type        = string
  validation {
    condition     = can(regex("^sha256:[0-9a-f]{64}$", var.image_digest))
    error_message = "image_digest must be sha256:<64 hex digits>."
  }
}

variable "image_repository" {
  description = "Repository of the image (REGISTRY/NAME). Null: this environment's ECR repository."
  type        = string
  default     = null
}

variable "domain_name" {
  description = "Services answer on SERVICE.<domain_name>."
  type        = string
}

variable "dns_zone" {
  description = "Route 53 hosted zone of domain_name, { zone_id = ... } (certificate validation, service records); null: DNS is managed elsewhere."
  type = object({
    zone_id = string
  })
  default = null
}

variable "certificate_arn" {
  description = "ACM certificate for <domain_name> and *.<domain_name>; null: requested and validated in dns_zone."
  type        = string
  default     = null
}

variable "vpc_cidr" {
  description = "The VPC's range."
  type        = string
  default     = "10.40.0.0/16"
}

variable "az_count" {
  description = "Availability zones (2 or 3)."
  type        = number
  default     = 3
}

variable "nat_gateway_per_az" {
  description = "A NAT gateway in every AZ (true) or one for all (false)."
  type        = bool
  default     = true
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.medium"
}

variable "db_multi_az" {
  description = "RDS standby in a second AZ."
  type        = bool
  default     = true
}

variable "db_backup_retention_days" {
  description = "Automated backups and point-in-time recovery, days."
  type        = number
  default     = 14
}

variable "deletion_protection" {
  description = "Deletion protection of the database and the load balancer; a final snapshot on deletion."
  type        = bool
  default     = true
}

variable "credentials_version" {
  description = "Bump to draw new passwords for the PostgreSQL roles (the init task applies them)."
  type        = number
  default     = 1
}

variable "cache_engine" {
  description = "memorydb (durable: kv's promise that no acknowledged write is lost holds) or elasticache (cheaper; asynchronous replication, no appendfsync always). See README, Deploy to AWS."
  type        = string
  default     = "memorydb"
}

variable "cache_replicas" {
  description = "Cache replicas beside the primary (automatic failover from 1)."
  type        = number
  default     = 1
}

variable "cache_node_type" {
  description = "Cache node type; null: a small default per engine."
  type        = string
  default     = null
}

variable "service_sizes" {
  description = "Per service (clock, users, rates, kv, multivac, multivac-worker): cpu, memory, min and max tasks. Missing ones keep the defaults."
  type = map(object({
    cpu    = optional(number, 256)
    memory = optional(number, 512)
    min    = optional(number, 2)
    max    = optional(number, 6)
  }))
  default = {}
}

variable "drain_timeout_seconds" {
  description = "BERTH_DRAIN_TIMEOUT, and the target groups' deregistration delay."
  type        = number
  default     = 10
}

variable "shutdown_delay_seconds" {
  description = "BERTH_SHUTDOWN_DELAY."
  type        = number
  default     = 5
}

variable "log_retention_days" {
  description = "Retention of every log group."
  type        = number
  default     = 365
}

variable "enable_waf" {
  description = "AWS WAF in front of the load balancer."
  type        = bool
  default     = true
}

variable "psql_image" {
  description = "PostgreSQL client image of the init task, pinned (mirror it into ECR and pin the digest for production)."
  type        = string
  default     = "public.ecr.aws/docker/library/postgres:17.5-alpine3.21"
}

variable "allow_internet_dump_urls" {
  description = "Let rates-load fetch dumps from any HTTPS server, not only from S3."
  type        = bool
  default     = false
}

variable "run_db_init" {
  description = "Run the database init task during apply (needs the AWS CLI where Terraform runs)."
  type        = bool
  default     = true
}

variable "task_runner_env" {
  description = "Extra environment of bin/run-task when apply runs the init task (e.g. AWS_ENDPOINT_URL for an emulator)."
  type        = map(string)
  default     = {}
}

variable "wait_for_steady_state" {
  description = "apply waits for every ECS service to be stable (and fails when a deployment is rolled back)."
  type        = bool
  default     = true
}

variable "emulator" {
  description = "Emulator settings, for envs/local only: lets destroy empty buckets and repositories and skip the final snapshot, and switches off what the emulator lacks (MemoryDB ACLs)."
  type = object({
    force_destroy = optional(bool, false)
    memorydb_acl  = optional(bool, true)
    # moto has no ListTagsForResource for Application Auto Scaling.
    autoscaling = optional(bool, true)
    # moto ignores policy conditions: a deny-unless-TLS statement denies everything.
    s3_tls_only_policy = optional(bool, true)
  })
  default = {}
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
