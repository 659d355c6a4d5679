variable "name" {
  description = "Name of the task family, service, log group and roles, carrying the environment (e.g. berth-staging-rates)."
  type        = string
}

variable "cluster_arn" {
  description = "The ECS cluster."
  type        = string
}

variable "cluster_name" {
  description = "The ECS cluster's name (autoscaling resource id)."
  type        = string
}

variable "image" {
  description = "The berth image, by digest (REGISTRY/REPO@sha256:...)."
  type        = string
  validation {
    condition     = can(regex("@sha256:[0-9a-f]{64}$", var.image))
    error_message = "image must be pinned by digest: REGISTRY/REPO@sha256:<64 hex digits>."
  }
}

variable "command" {
  description = "The berth command, e.g. [\"serve\", \"rates\"] or [\"worker\", \"multivac\"]."
  type        = list(string)
}

variable "port" {
  description = "The container port serving the API (or, for a worker, /healthcheck and /metrics)."
  type        = number
}

variable "environment" {
  description = "Plain, non-secret settings (BERTH_* variables)."
  type        = map(string)
  default     = {}
}

variable "secrets" {
  description = "Secret settings: variable name => Secrets Manager reference (a secret ARN, or ARN:json-key:: for one key of a JSON secret)."
  type        = map(string)
  default     = {}
}

variable "secret_arns" {
  description = "The secrets (plain ARNs) the execution role may read: those behind var.secrets."
  type        = list(string)
  default     = []
}

variable "kms_key_arn" {
  description = "KMS key of the secrets and the log group."
  type        = string
}

variable "cpu" {
  description = "Task CPU units (256 = 1/4 vCPU)."
  type        = number
  default     = 256
}

variable "memory" {
  description = "Task memory, MiB."
  type        = number
  default     = 512
}

variable "cpu_architecture" {
  description = "X86_64 or ARM64: the architecture the image was built for."
  type        = string
  default     = "X86_64"
}

variable "desired_count" {
  description = "Tasks at creation; autoscaling owns the count afterwards."
  type        = number
  default     = 2
}

variable "min_capacity" {
  description = "Autoscaling lower bound (2 or more keeps a replica through a task's loss)."
  type        = number
  default     = 2
}

variable "max_capacity" {
  description = "Autoscaling upper bound."
  type        = number
  default     = 6
}

variable "autoscaling" {
  description = "Target-tracking autoscaling on CPU and on ALB requests per target (off only on an emulator without the Application Auto Scaling tagging API)."
  type        = bool
  default     = true
}

variable "cpu_target_percent" {
  description = "Target-tracking: average CPU utilisation to hold."
  type        = number
  default     = 60
}

variable "requests_per_target" {
  description = "Target-tracking: ALB requests per target per minute to hold (services behind the load balancer)."
  type        = number
  default     = 3000
}

variable "vpc_id" {
  description = "The VPC."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the tasks (no public IP)."
  type        = list(string)
}

variable "security_group_id" {
  description = "The tasks' security group (made by the caller, so that the stores can admit it before the service exists); this module adds its rules."
  type        = string
}

variable "egress" {
  description = "Where the tasks may connect: one rule each, to a CIDR, a prefix list or a security group."
  type = map(object({
    port                         = number
    cidr_ipv4                    = optional(string)
    prefix_list_id               = optional(string)
    referenced_security_group_id = optional(string)
  }))
  default = {}
}

variable "load_balancer" {
  description = "The ALB in front of the service (null for a worker): its HTTPS listener, security group, ARN suffix, the host name the rule matches and the rule's priority."
  type = object({
    listener_arn      = string
    security_group_id = string
    arn_suffix        = string
    host              = string
    priority          = number
  })
  default = null
}

variable "drain_timeout_seconds" {
  description = "BERTH_DRAIN_TIMEOUT: how long berth lets in-flight requests finish after SIGTERM. The target group's deregistration delay is set to it."
  type        = number
  default     = 10
}

variable "shutdown_delay_seconds" {
  description = "BERTH_SHUTDOWN_DELAY: after SIGTERM, /healthcheck answers 503 while berth keeps serving this long, so no load balancer node still sends it new requests when it stops listening."
  type        = number
  default     = 5
  validation {
    condition     = var.shutdown_delay_seconds >= 0
    error_message = "shutdown_delay_seconds must not be negative."
  }
}

variable "health_check_grace_seconds" {
  description = "How long ECS ignores failing load-balancer health checks of a new task."
  type        = number
  default     = 30
}

variable "log_retention_days" {
  description = "Retention of the service's log group."
  type        = number
  default     = 365
}

variable "wait_for_steady_state" {
  description = "Make `apply` wait until the deployment is stable (and fail when the circuit breaker rolls it back)."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}

variable "start_after" {
  description = "Ids of things the service must not start before (the stores' secrets written, the database init run)."
  type        = list(string)
  default     = []
}
