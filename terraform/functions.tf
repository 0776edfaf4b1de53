# The three Cloud Functions (2nd gen, Python 3.11), their sources and the repository of their
# images. `make package` builds dist/<function>.zip reproducibly; each zip is uploaded under a
# name that carries its content hash, so a changed zip is a new object (and a redeploy) and an
# unchanged one is no change at all.

locals {
  function_names = toset(["ingest", "slices", "actions"])
  dist_dir       = startswith(var.dist_dir, "/") ? var.dist_dir : "${path.module}/${var.dist_dir}"

  runtime_env = {
    GOOGLE_CLOUD_PROJECT = var.project_id
    LANDING_BUCKET       = google_storage_bucket.landing.name
  }
}

resource "google_storage_bucket_object" "source" {
  for_each = local.function_names

  bucket       = google_storage_bucket.sources.name
  name         = "${each.key}-${filemd5("${local.dist_dir}/${each.key}.zip")}.zip"
  source       = "${local.dist_dir}/${each.key}.zip"
  content_type = "application/zip"
}

resource "google_artifact_registry_repository" "functions" {
  #checkov:skip=CKV_GCP_84:Holds only images built from this repository's code; Google-managed encryption applies.
  location      = var.region
  repository_id = "function-images"
  format        = "DOCKER"
  description   = "Images Cloud Build makes from the function sources."

  # Old builds are of no use once replaced: keep the ten newest versions of each image and drop
  # anything else older than 30 days.
  cleanup_policy_dry_run = false
  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 10
    }
  }
  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      older_than = "2592000s"
    }
  }

  depends_on = [google_project_service.enabled]
}

resource "google_cloudfunctions2_function" "ingest" {
  name        = "ingest"
  location    = var.region
  description = "Turns landing-bucket object events into data rows, imports and predictions."

  build_config {
    runtime           = "python311"
    entry_point       = "ingest"
    service_account   = google_service_account.builder.id
    docker_repository = google_artifact_registry_repository.functions.id
    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.source["ingest"].name
      }
    }
  }

  service_config {
    service_account_email = google_service_account.ingest.email
    # Only Eventarc (inside the project) calls it.
    ingress_settings               = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision = true
    available_memory               = var.functions["ingest"].memory
    available_cpu                  = var.functions["ingest"].cpu
    timeout_seconds                = var.functions["ingest"].timeout_seconds
    max_instance_count             = var.functions["ingest"].max_instances
    min_instance_count             = var.functions["ingest"].min_instances
    environment_variables          = local.runtime_env
  }

  # The triggers are in eventarc.tf: a function's own event_trigger block holds one event type,
  # and ingest needs three.

  depends_on = [
    google_project_iam_member.builder_writes_logs,
    google_artifact_registry_repository_iam_member.builder_pushes_images,
    google_project_iam_member.builder_reads_sources,
  ]
}

resource "google_cloudfunctions2_function" "slices" {
  name        = "slices"
  location    = var.region
  description = "The HTTP API: datasets, data rows, slices, model runs, actions."

  build_config {
    runtime           = "python311"
    entry_point       = "slices"
    service_account   = google_service_account.builder.id
    docker_repository = google_artifact_registry_repository.functions.id
    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.source["slices"].name
      }
    }
  }

  service_config {
    #checkov:skip=CKV_GCP_124:The API's callers are people and tools outside Google Cloud; IAM (run.invoker for var.api_invoker_members only) is the gate. var.api_ingress narrows it behind a load balancer.
    service_account_email          = google_service_account.slices.email
    ingress_settings               = var.api_ingress
    all_traffic_on_latest_revision = true
    available_memory               = var.functions["slices"].memory
    available_cpu                  = var.functions["slices"].cpu
    timeout_seconds                = var.functions["slices"].timeout_seconds
    max_instance_count             = var.functions["slices"].max_instances
    min_instance_count             = var.functions["slices"].min_instances
    # The API validates a new webhook action's host against the same allowlist the actions
    # function enforces when it sends.
    environment_variables = merge(local.runtime_env, {
      WEBHOOK_ALLOWED_HOSTS = join(",", var.webhook_allowed_hosts)
    })
  }

  depends_on = [
    google_project_iam_member.builder_writes_logs,
    google_artifact_registry_repository_iam_member.builder_pushes_images,
    google_project_iam_member.builder_reads_sources,
  ]
}

resource "google_cloudfunctions2_function" "actions" {
  name        = "actions"
  location    = var.region
  description = "Runs due slice actions and advances slice builds; called by Cloud Scheduler."

  build_config {
    runtime           = "python311"
    entry_point       = "actions"
    service_account   = google_service_account.builder.id
    docker_repository = google_artifact_registry_repository.functions.id
    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.source["actions"].name
      }
    }
  }

  service_config {
    service_account_email = google_service_account.actions.email
    # Only Cloud Scheduler (inside the project) calls it.
    ingress_settings               = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision = true
    available_memory               = var.functions["actions"].memory
    available_cpu                  = var.functions["actions"].cpu
    timeout_seconds                = var.functions["actions"].timeout_seconds
    max_instance_count             = var.functions["actions"].max_instances
    min_instance_count             = var.functions["actions"].min_instances
    environment_variables = merge(local.runtime_env, {
      EXPORT_BUCKET         = google_storage_bucket.exports.name
      SLICE_ACTIONS_TOPIC   = google_pubsub_topic.slice_actions.id
      WEBHOOK_ALLOWED_HOSTS = join(",", var.webhook_allowed_hosts)
    })

    # A pinned version: a rotation (var.webhook_signing_key_version) redeploys the function.
    secret_environment_variables {
      key        = "WEBHOOK_SIGNING_KEY"
      project_id = var.project_id
      secret     = google_secret_manager_secret.webhook_signing_key.secret_id
      version    = google_secret_manager_secret_version.webhook_signing_key.version
    }
  }

  depends_on = [
    google_project_iam_member.builder_writes_logs,
    google_artifact_registry_repository_iam_member.builder_pushes_images,
    google_project_iam_member.builder_reads_sources,
    # The deployment checks that the runtime account can read the secret.
    google_secret_manager_secret_iam_member.actions_reads_signing_key,
  ]
}
