variable "name" {
  description = "Prefix of every name, carrying the environment (e.g. berth-staging)."
  type        = string
}

variable "vpc_id" {
  description = "The VPC."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the database (two AZs at least)."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "KMS key encrypting storage, Performance Insights, the master secret, the role secrets and the logs."
  type        = string
}

variable "engine_version" {
  description = "PostgreSQL major version (minor versions are upgraded by RDS in the maintenance window)."
  type        = string
  default     = "17"
}

variable "instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.small"
}

variable "allocated_storage" {
  description = "Storage at creation, GiB."
  type        = number
  default     = 20
}

variable "max_allocated_storage" {
  description = "Storage autoscaling limit, GiB."
  type        = number
  default     = 100
}

variable "multi_az" {
  description = "A synchronous standby in a second AZ (production)."
  type        = bool
  default     = true
}

variable "deletion_protection" {
  description = "Protect the instance against deletion (production)."
  type        = bool
  default     = true
}

variable "backup_retention_days" {
  description = "Days of automated backups; point-in-time recovery reaches back as far."
  type        = number
  default     = 14
  validation {
    condition     = var.backup_retention_days >= 1
    error_message = "Backups (and with them point-in-time recovery) are always on: 1 day at least."
  }
}

variable "skip_final_snapshot" {
  description = "Delete without a final snapshot (emulator runs only)."
  type        = bool
  default     = false
}

variable "client_security_group_ids" {
  description = "Security groups that may connect on 5432: name => id (the services, the one-shot tasks)."
  type        = map(string)
  default     = {}
}

variable "roles" {
  description = "One database and one least-privilege login role per name (deploy/postgres/roles.sql)."
  type        = list(string)
  default     = ["users", "rates", "multivac"]
}

variable "roles_sql" {
  description = "The text of deploy/postgres/roles.sql, read by the caller with file(): the one definition of the databases and roles."
  type        = string
}

variable "credentials_version" {
  description = "Bump to give every role a new random password (then the init task sets it in PostgreSQL and a service deployment picks it up)."
  type        = number
  default     = 1
}

variable "log_retention_days" {
  description = "Retention of the PostgreSQL and init-task log groups."
  type        = number
  default     = 365
}

variable "init" {
  description = "The one-shot init task: ECS cluster, image of a PostgreSQL 15+ client (pinned), its subnets and egress (internet_egress: HTTPS out through NAT, to pull a public image), and whether `apply` runs it (through bin/run-task and the AWS CLI) after a change."
  type = object({
    cluster_arn = string
    psql_image  = string
    subnet_ids  = list(string)
    egress = map(object({
      port                         = number
      cidr_ipv4                    = optional(string)
      prefix_list_id               = optional(string)
      referenced_security_group_id = optional(string)
    }))
    internet_egress = optional(bool, true)
    run_on_apply    = optional(bool, true)
    runner_env      = optional(map(string), {})
  })
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
