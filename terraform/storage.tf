# Buckets: landing (where data arrives), exports (what slice actions write), function sources.
# All three are private: uniform bucket-level access (IAM only, no object ACLs) and public access
# prevention enforced, so no later binding or ACL can make an object public.

locals {
  landing_bucket_name = coalesce(var.landing_bucket_name, "${var.project_id}-landing")
  export_bucket_name  = "${var.project_id}-exports"
  source_bucket_name  = "${var.project_id}-function-sources"

  # Usage logs go to an existing bucket when one is given (never to the bucket itself).
  access_log = var.access_log_bucket == null ? [] : [var.access_log_bucket]
  # The optional customer-managed key of the data buckets and the topic.
  kms_keys = var.kms_key_name == null ? [] : [var.kms_key_name]
}

resource "google_storage_bucket" "landing" {
  #checkov:skip=CKV_GCP_62:Usage logs are optional (var.access_log_bucket); Cloud Audit Logs record access either way.
  name                        = local.landing_bucket_name
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  # An overwritten or deleted file stays recoverable; ingest subscribes to the `archived` event
  # that versioning emits instead of `deleted`.
  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      with_state                 = "ARCHIVED"
      days_since_noncurrent_time = var.landing_noncurrent_days
    }
    action {
      type = "Delete"
    }
  }

  dynamic "encryption" {
    for_each = local.kms_keys
    content {
      default_kms_key_name = encryption.value
    }
  }

  dynamic "logging" {
    for_each = local.access_log
    content {
      log_bucket = logging.value
    }
  }

  depends_on = [google_project_service.enabled, google_kms_crypto_key_iam_member.storage_agent]
}

resource "google_storage_bucket" "exports" {
  #checkov:skip=CKV_GCP_62:Usage logs are optional (var.access_log_bucket); Cloud Audit Logs record access either way.
  #checkov:skip=CKV_GCP_78:Exports are written once under a name derived from the action run; the writer may create but never overwrite or delete, so there is no older version to keep.
  name                        = local.export_bucket_name
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  dynamic "lifecycle_rule" {
    for_each = var.export_retention_days > 0 ? [var.export_retention_days] : []
    content {
      condition {
        age = lifecycle_rule.value
      }
      action {
        type = "Delete"
      }
    }
  }

  dynamic "encryption" {
    for_each = local.kms_keys
    content {
      default_kms_key_name = encryption.value
    }
  }

  dynamic "logging" {
    for_each = local.access_log
    content {
      log_bucket = logging.value
    }
  }

  depends_on = [google_project_service.enabled, google_kms_crypto_key_iam_member.storage_agent]
}

resource "google_storage_bucket" "sources" {
  #checkov:skip=CKV_GCP_62:Holds only the function zips that Terraform itself uploads; usage logs are optional (var.access_log_bucket).
  #checkov:skip=CKV_GCP_78:Objects are named by their content hash, so an object is never overwritten: a new build is a new name.
  name                        = local.source_bucket_name
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  # Only build inputs live here, and Terraform recreates them from dist/ on the next apply.
  force_destroy = true

  dynamic "logging" {
    for_each = local.access_log
    content {
      log_bucket = logging.value
    }
  }

  depends_on = [google_project_service.enabled]
}

# The Cloud Storage service agent: it publishes the landing bucket's object notifications for
# Eventarc and, with a customer-managed key, encrypts objects.
data "google_storage_project_service_account" "storage_agent" {
  project = var.project_id

  depends_on = [google_project_service.enabled]
}
