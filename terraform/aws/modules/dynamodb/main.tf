locals {
  # Every key attribute of the table and its indexes, each declared once; all are strings.
  key_attributes = distinct(concat(
    [var.hash_key, var.range_key],
    flatten([for index in values(var.global_secondary_indexes) : [index.hash_key, index.range_key]]),
  ))
}

# On-demand results table: run and result items, two indexes for history queries, TTL, PITR and encryption
# at rest with a KMS key (AWS managed unless var.kms_key_arn is given).
resource "aws_dynamodb_table" "this" {
  name         = var.table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = var.hash_key
  range_key    = var.range_key

  deletion_protection_enabled = var.deletion_protection

  dynamic "attribute" {
    for_each = local.key_attributes
    content {
      name = attribute.value
      type = "S"
    }
  }

  dynamic "global_secondary_index" {
    for_each = var.global_secondary_indexes
    content {
      name            = global_secondary_index.key
      projection_type = global_secondary_index.value.projection_type

      # key_schema replaces the index's hash_key and range_key, deprecated in provider 6.x
      # (hashicorp/terraform-provider-aws#45357): the partition key first, then the sort key when there is one.
      dynamic "key_schema" {
        for_each = [
          for key in [
            { name = global_secondary_index.value.hash_key, type = "HASH" },
            { name = global_secondary_index.value.range_key, type = "RANGE" },
          ] : key if key.name != null
        ]
        content {
          attribute_name = key_schema.value.name
          key_type       = key_schema.value.type
        }
      }
    }
  }

  dynamic "ttl" {
    for_each = var.ttl_attribute == null ? [] : [var.ttl_attribute]
    content {
      attribute_name = ttl.value
      enabled        = true
    }
  }

  point_in_time_recovery {
    enabled = var.point_in_time_recovery
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  tags = var.tags
}
