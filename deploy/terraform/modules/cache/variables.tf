variable "name" {
  description = "Prefix of every name, carrying the environment (e.g. berth-staging)."
  type        = string
}

variable "engine" {
  description = "memorydb: every acknowledged write is in a multi-AZ transaction log before Redis answers (kv's promise holds). elasticache: cheaper, but replication is asynchronous and there is no appendfsync always, so a failover can lose acknowledged writes."
  type        = string
  default     = "memorydb"
  validation {
    condition     = contains(["memorydb", "elasticache"], var.engine)
    error_message = "engine must be memorydb or elasticache."
  }
}

variable "node_type" {
  description = "Node type (db.* for MemoryDB, cache.* for ElastiCache); null: a small default per engine."
  type        = string
  default     = null
}

variable "replicas" {
  description = "Replicas beside the primary (1 or more: automatic failover across AZs)."
  type        = number
  default     = 1
}

variable "redis_version" {
  description = "Redis engine version."
  type        = string
  default     = "7.1"
}

variable "vpc_id" {
  description = "The VPC."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the cache nodes."
  type        = list(string)
}

variable "client_security_group_ids" {
  description = "Security groups that may connect on 6379: name => id."
  type        = map(string)
  default     = {}
}

variable "kms_key_arn" {
  description = "KMS key encrypting data at rest, the secrets and the logs."
  type        = string
}

variable "acl_script" {
  description = "The text of deploy/redis/render-acl.sh, read by the caller with file(): the users' key patterns and commands are taken from it, so they are defined once."
  type        = string
}

variable "users" {
  description = "The ACL users of render-acl.sh to create (their passwords are random, their URLs go to Secrets Manager)."
  type        = list(string)
  default     = ["kv", "multivac"]
}

variable "enable_acl" {
  description = "Create the MemoryDB ACL (off only on an emulator without the ACL API: the cluster then uses open-access)."
  type        = bool
  default     = true
}

variable "snapshot_retention_days" {
  description = "Days of daily snapshots."
  type        = number
  default     = 7
}

variable "log_retention_days" {
  description = "Retention of the slow-log group (ElastiCache)."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
