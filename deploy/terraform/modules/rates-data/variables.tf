variable "name" {
  description = "Prefix of every name, carrying the environment (e.g. berth-staging)."
  type        = string
}

variable "image" {
  description = "The berth image, by digest."
  type        = string
}

variable "vpc_id" {
  description = "The VPC."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key of the bucket, the secret and the log group."
  type        = string
}

variable "database_url_ref" {
  description = "ECS secret reference to the rates role's connection URL."
  type        = string
}

variable "database_secret_arn" {
  description = "The secret behind database_url_ref."
  type        = string
}

variable "egress" {
  description = "Where the task may connect (PostgreSQL, the VPC endpoints, S3)."
  type = map(object({
    port                         = number
    cidr_ipv4                    = optional(string)
    prefix_list_id               = optional(string)
    referenced_security_group_id = optional(string)
  }))
}

variable "allow_internet_dump_urls" {
  description = "Let the task fetch dumps from any HTTPS server (egress 443 to the internet through NAT). Off: only S3, through the VPC's gateway endpoint."
  type        = bool
  default     = false
}

variable "access_log_bucket" {
  description = "Bucket receiving the S3 access logs of the dump bucket (under s3/)."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the task's log group."
  type        = number
  default     = 365
}

variable "force_destroy" {
  description = "Let `destroy` empty the dump bucket (emulator runs only)."
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
