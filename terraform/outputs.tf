# What a deployer needs next: where to call the API and where data goes.

output "api_url" {
  description = "Base URL of the HTTP API (call it with an identity token: `gcloud auth print-identity-token`)."
  value       = google_cloudfunctions2_function.slices.service_config[0].uri
}

output "landing_bucket" {
  description = "Bucket to upload data rows, manifests (imports/*.ndjson) and predictions (model-runs/<run>/*) to."
  value       = google_storage_bucket.landing.name
}

output "export_bucket" {
  description = "Bucket the export action writes to."
  value       = google_storage_bucket.exports.name
}

output "source_bucket" {
  description = "Private bucket holding the function zips, named by content hash."
  value       = google_storage_bucket.sources.name
}

output "slice_actions_topic" {
  description = "Pub/Sub topic the publish action sends rows to."
  value       = google_pubsub_topic.slice_actions.id
}

output "webhook_signing_key_secret" {
  description = "Secret Manager secret holding the webhook HMAC key."
  value       = google_secret_manager_secret.webhook_signing_key.id
}

output "service_accounts" {
  description = "The service account of each function, the scheduler and the builder."
  value = {
    ingest    = google_service_account.ingest.email
    slices    = google_service_account.slices.email
    actions   = google_service_account.actions.email
    scheduler = google_service_account.scheduler.email
    builder   = google_service_account.builder.email
  }
}
