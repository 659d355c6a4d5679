variable "name" {
  description = "Repository name, carrying the environment (e.g. berth-staging)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key encrypting the images."
  type        = string
}

variable "keep_tagged_images" {
  description = "How many tagged images to keep; older ones expire (deploys go by digest, so keep enough for rollbacks)."
  type        = number
  default     = 100
}

variable "untagged_expiry_days" {
  description = "Days after which untagged images expire."
  type        = number
  default     = 14
}

variable "force_delete" {
  description = "Let `destroy` delete a repository that still holds images (emulator runs only)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
