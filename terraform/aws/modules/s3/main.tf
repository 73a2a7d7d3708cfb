# One private bucket: SSE-S3 (AES256) by default, versioning, object ownership enforced (no ACLs), all public
# access blocked, TLS required, a lifecycle for current and noncurrent versions and for abandoned multipart
# uploads, and optionally CORS for browser uploads through presigned URLs.
resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_18:Server access logging would need a second bucket (itself unlogged) for a demo stack; object-level auditing, when wanted, is CloudTrail S3 data events, which need no change here
  #checkov:skip=CKV_AWS_144:Cross-region replication does not fit: uploads expire after 30 days by design and the model artifact is rebuilt from the repository with `make model`
  #checkov:skip=CKV_AWS_145:SSE-S3 (AES256) is the required encryption (DESIGN.md, what the PoC had); SSE-KMS would add kms:Decrypt/GenerateDataKey to every reader and writer, including browser uploads through presigned URLs
  #checkov:skip=CKV2_AWS_62:Event notifications are configured where they are needed: the upload bucket notifies the Lambda function (modules/lambda, aws_s3_bucket_notification); the artifacts bucket has no consumer for events
  bucket        = var.bucket_name
  force_destroy = var.force_destroy
  tags          = var.tags
}

resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket = aws_s3_bucket.this.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    id     = var.expiration_days == null ? "expire-noncurrent" : "expire-uploads"
    status = "Enabled"

    # An empty filter applies the rule to every object in the bucket.
    filter {}

    dynamic "expiration" {
      for_each = var.expiration_days == null ? [] : [var.expiration_days]
      content {
        days = expiration.value
      }
    }

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = var.abort_incomplete_multipart_upload_days
    }
  }

  # Objects under some prefixes expire on their own schedule (the upload bucket's batch/ job files). Where
  # rules overlap, S3 expires an object at the earliest of their expirations.
  dynamic "rule" {
    for_each = var.prefix_expiration_days
    content {
      id     = "expire-prefix-${trimsuffix(replace(rule.key, "/", "-"), "-")}"
      status = "Enabled"

      filter {
        prefix = rule.key
      }

      expiration {
        days = rule.value
      }
    }
  }

  # Lifecycle rules on a bucket that is not yet versioned would be evaluated against the wrong state.
  depends_on = [aws_s3_bucket_versioning.this]
}

resource "aws_s3_bucket_cors_configuration" "this" {
  count = length(var.cors_allowed_origins) > 0 ? 1 : 0

  bucket = aws_s3_bucket.this.id

  cors_rule {
    allowed_headers = ["*"]
    allowed_methods = var.cors_allowed_methods
    allowed_origins = var.cors_allowed_origins
    expose_headers  = ["ETag"]
    max_age_seconds = var.cors_max_age_seconds
  }
}

# Requests over plain HTTP are refused; presigned URLs and the SDKs use HTTPS.
data "aws_iam_policy_document" "tls_only" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.this.arn,
      "${aws_s3_bucket.this.arn}/*",
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

resource "aws_s3_bucket_policy" "this" {
  bucket = aws_s3_bucket.this.id
  policy = data.aws_iam_policy_document.tls_only.json

  # A bucket policy put before the public access block could be judged public and be refused.
  depends_on = [aws_s3_bucket_public_access_block.this]
}
