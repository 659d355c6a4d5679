output "repository_url" {
  description = "The repository's URL (REGISTRY/NAME), to push to and to pull by digest."
  value       = aws_ecr_repository.this.repository_url
}

output "repository_arn" {
  description = "The repository's ARN."
  value       = aws_ecr_repository.this.arn
}
