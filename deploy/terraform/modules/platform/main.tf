# What every service shares: the ECS cluster, the internet-facing load balancer
# (HTTPS only; HTTP answers with a redirect), its certificate, WAF and access logs,
# and the DNS names.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}
data "aws_elb_service_account" "current" {}

resource "aws_ecs_cluster" "this" {
  name = var.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  tags = var.tags
}

resource "aws_ecs_cluster_capacity_providers" "this" {
  cluster_name       = aws_ecs_cluster.this.name
  capacity_providers = ["FARGATE"]

  default_capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
  }
}

# ---------------------------------------------------------------- access logs

# Load balancer access logs (and the S3 access logs of the other buckets). ALB
# writes its logs only into buckets encrypted with S3-managed keys (SSE-S3), not
# KMS.
resource "aws_s3_bucket" "logs" {
  #checkov:skip=CKV_AWS_145:ALB access logs can only be delivered to SSE-S3 (AES256) buckets, not SSE-KMS
  #checkov:skip=CKV_AWS_18:this is the access-log bucket itself; logging it into itself would loop
  #checkov:skip=CKV_AWS_144:cross-region replication of access logs is a cost decision left to the operator
  #checkov:skip=CKV2_AWS_62:nothing consumes events of new log objects
  bucket        = local.logs_bucket
  force_destroy = var.force_destroy
  tags          = var.tags
}

resource "aws_s3_bucket_public_access_block" "logs" {
  bucket                  = aws_s3_bucket.logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "logs" {
  bucket = aws_s3_bucket.logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

#trivy:ignore:AVD-AWS-0132 ALB access logs can only be delivered to SSE-S3 buckets, not customer-managed KMS keys
resource "aws_s3_bucket_server_side_encryption_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    id     = "expire"
    status = "Enabled"
    filter {}
    expiration {
      days = var.log_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

locals {
  # Built from the name, not read from the bucket, so the policy is known when
  # planning (and checked then: deploy/terraform/tests).
  logs_bucket     = "${var.name}-logs-${data.aws_caller_identity.current.account_id}"
  logs_bucket_arn = "arn:${data.aws_partition.current.partition}:s3:::${local.logs_bucket}"
}

data "aws_iam_policy_document" "logs" {
  statement {
    sid       = "ElbAccessLogs"
    actions   = ["s3:PutObject"]
    resources = ["${local.logs_bucket_arn}/alb/AWSLogs/${data.aws_caller_identity.current.account_id}/*"]
    principals {
      type        = "AWS"
      identifiers = [data.aws_elb_service_account.current.arn]
    }
  }
  statement {
    sid       = "ElbLogDelivery"
    actions   = ["s3:PutObject"]
    resources = ["${local.logs_bucket_arn}/alb/AWSLogs/${data.aws_caller_identity.current.account_id}/*"]
    principals {
      type        = "Service"
      identifiers = ["logdelivery.elasticloadbalancing.amazonaws.com"]
    }
  }
  statement {
    sid       = "S3ServerAccessLogs"
    actions   = ["s3:PutObject"]
    resources = ["${local.logs_bucket_arn}/s3/*"]
    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
  dynamic "statement" {
    for_each = var.tls_only_policy ? [1] : []
    content {
      sid     = "TlsOnly"
      effect  = "Deny"
      actions = ["s3:*"]
      resources = [
        local.logs_bucket_arn,
        "${local.logs_bucket_arn}/*",
      ]
      principals {
        type        = "*"
        identifiers = ["*"]
      }
      condition {
        test     = "Bool"
        variable = "aws:SecureTransport"
        values   = ["false"]
      }
    }
  }
}

resource "aws_s3_bucket_policy" "logs" {
  bucket     = aws_s3_bucket.logs.id
  policy     = data.aws_iam_policy_document.logs.json
  depends_on = [aws_s3_bucket_public_access_block.logs]
}

# ---------------------------------------------------------------- load balancer

resource "aws_security_group" "alb" {
  name        = "${var.name}-alb"
  description = "The public load balancer: HTTP and HTTPS from anywhere, out to the tasks only"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-alb" })
}

#trivy:ignore:AVD-AWS-0107 the internet-facing load balancer must accept HTTP (to redirect it) from anywhere
resource "aws_security_group_rule" "alb_http" {
  #checkov:skip=CKV_AWS_260:port 80 only answers with a redirect to HTTPS (aws_lb_listener.http); no service is reachable over HTTP
  security_group_id = aws_security_group.alb.id
  description       = "HTTP from anywhere: answered with a redirect to HTTPS"
  protocol          = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_blocks       = ["0.0.0.0/0"]
  type              = "ingress"
}

#trivy:ignore:AVD-AWS-0107 the internet-facing load balancer must accept HTTPS from anywhere
resource "aws_security_group_rule" "alb_https" {
  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from anywhere"
  protocol          = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_blocks       = ["0.0.0.0/0"]
  type              = "ingress"
}

resource "aws_security_group_rule" "alb_targets" {
  for_each          = toset([for p in var.target_ports : tostring(p)])
  security_group_id = aws_security_group.alb.id
  description       = "to the tasks on port ${each.key}"
  protocol          = "tcp"
  from_port         = tonumber(each.key)
  to_port           = tonumber(each.key)
  cidr_blocks       = [var.vpc_cidr_block]
  type              = "egress"
}

#trivy:ignore:AVD-AWS-0053 this load balancer is the public entry point of the services, so it is internet-facing by design
resource "aws_lb" "this" {
  #checkov:skip=CKV2_AWS_76:the web ACL (aws_wafv2_web_acl.this) runs AWSManagedRulesKnownBadInputsRuleSet, which holds the Log4j rules; checkov does not follow the counted association
  #checkov:skip=CKV_AWS_150:deletion protection is the variable deletion_protection: on in staging and production, off only for the emulator run that must destroy
  name                       = substr(var.name, 0, 32)
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = var.public_subnet_ids
  security_groups            = [aws_security_group.alb.id]
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection
  idle_timeout               = 60

  access_logs {
    bucket  = aws_s3_bucket.logs.id
    prefix  = "alb"
    enabled = true
  }

  tags       = var.tags
  depends_on = [aws_s3_bucket_policy.logs]
}

# ---------------------------------------------------------------- certificate and DNS

resource "aws_acm_certificate" "this" {
  count                     = var.certificate_arn == null ? 1 : 0
  domain_name               = var.domain_name
  subject_alternative_names = ["*.${var.domain_name}"]
  validation_method         = "DNS"
  tags                      = var.tags

  lifecycle {
    create_before_destroy = true
    precondition {
      condition     = var.dns_zone != null
      error_message = "Without certificate_arn, dns_zone is needed to validate the certificate requested for ${var.domain_name}."
    }
  }
}

locals {
  # Keyed by domain (known at plan time); the apex and the wildcard share one
  # record, hence allow_overwrite.
  validation_records = var.certificate_arn == null ? {
    for o in aws_acm_certificate.this[0].domain_validation_options : o.domain_name => o
  } : {}
}

resource "aws_route53_record" "validation" {
  for_each        = local.validation_records
  zone_id         = var.dns_zone.zone_id
  name            = each.value.resource_record_name
  type            = each.value.resource_record_type
  records         = [each.value.resource_record_value]
  ttl             = 300
  allow_overwrite = true
}

resource "aws_acm_certificate_validation" "this" {
  count                   = var.certificate_arn == null ? 1 : 0
  certificate_arn         = aws_acm_certificate.this[0].arn
  validation_record_fqdns = [for r in aws_route53_record.validation : r.fqdn]
}

locals {
  certificate_arn = var.certificate_arn != null ? var.certificate_arn : aws_acm_certificate_validation.this[0].certificate_arn
}

resource "aws_route53_record" "service" {
  for_each = var.dns_zone == null ? toset([]) : toset(var.hostnames)
  zone_id  = var.dns_zone.zone_id
  name     = each.key
  type     = "A"

  alias {
    name                   = aws_lb.this.dns_name
    zone_id                = aws_lb.this.zone_id
    evaluate_target_health = true
  }
}

# ---------------------------------------------------------------- listeners

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"
    redirect {
      protocol    = "HTTPS"
      port        = "443"
      status_code = "HTTP_301"
    }
  }

  tags = var.tags
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = local.certificate_arn

  # Each service adds a rule for its host name; anything else is a 404.
  default_action {
    type = "fixed-response"
    fixed_response {
      content_type = "application/json"
      message_body = jsonencode({ type = "about:blank", title = "Not Found", status = 404, detail = "no berth service answers on this host name" })
      status_code  = "404"
    }
  }

  tags = var.tags
}

# ---------------------------------------------------------------- WAF

resource "aws_cloudwatch_log_group" "waf" {
  count = var.enable_waf ? 1 : 0
  # WAF logs only into groups whose name starts with aws-waf-logs-.
  name              = "aws-waf-logs-${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_wafv2_web_acl" "this" {
  count       = var.enable_waf ? 1 : 0
  name        = var.name
  description = "berth's public load balancer: AWS managed rules and a per-IP rate limit"
  scope       = "REGIONAL"

  default_action {
    allow {}
  }

  rule {
    name     = "aws-common"
    priority = 10
    override_action {
      none {}
    }
    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesCommonRuleSet"
        # rates' POST /prices takes batches up to 16 MiB and kv values up to
        # 1 MiB: the rule set's 8 KiB body limit only counts, berth enforces its own.
        rule_action_override {
          name = "SizeRestrictions_BODY"
          action_to_use {
            count {}
          }
        }
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-aws-common"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "aws-known-bad-inputs"
    priority = 20
    override_action {
      none {}
    }
    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesKnownBadInputsRuleSet"
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-aws-known-bad-inputs"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "per-ip-rate-limit"
    priority = 30
    action {
      block {}
    }
    statement {
      rate_based_statement {
        limit              = var.waf_rate_limit
        aggregate_key_type = "IP"
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-per-ip-rate-limit"
      sampled_requests_enabled   = true
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = var.name
    sampled_requests_enabled   = true
  }

  tags = var.tags
}

resource "aws_wafv2_web_acl_association" "this" {
  count        = var.enable_waf ? 1 : 0
  resource_arn = aws_lb.this.arn
  web_acl_arn  = aws_wafv2_web_acl.this[0].arn
}

resource "aws_wafv2_web_acl_logging_configuration" "this" {
  count                   = var.enable_waf ? 1 : 0
  resource_arn            = aws_wafv2_web_acl.this[0].arn
  log_destination_configs = [aws_cloudwatch_log_group.waf[0].arn]

  # Authorization headers carry the API tokens: never in the WAF logs.
  redacted_fields {
    single_header {
      name = "authorization"
    }
  }
}
