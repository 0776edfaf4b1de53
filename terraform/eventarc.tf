# Landing-bucket events to the ingest function. The bucket keeps versions, so a delete or an
# overwrite emits `archived` for the old live generation instead of `deleted`: ingest subscribes
# to all three and treats `archived` like a delete of that generation.
# Eventarc delivers at least once and retries failures (ingest raises only on transient errors).

locals {
  landing_event_types = {
    finalized = "google.cloud.storage.object.v1.finalized"
    deleted   = "google.cloud.storage.object.v1.deleted"
    archived  = "google.cloud.storage.object.v1.archived"
  }
}

resource "google_eventarc_trigger" "landing" {
  for_each = local.landing_event_types

  name = "ingest-${each.key}"
  # A Cloud Storage trigger lives where its bucket lives.
  location        = lower(google_storage_bucket.landing.location)
  service_account = google_service_account.ingest.email

  matching_criteria {
    attribute = "type"
    value     = each.value
  }

  matching_criteria {
    attribute = "bucket"
    value     = google_storage_bucket.landing.name
  }

  destination {
    cloud_run_service {
      service = google_cloudfunctions2_function.ingest.name
      region  = var.region
    }
  }

  depends_on = [
    google_project_iam_member.ingest_event_receiver,
    google_cloud_run_v2_service_iam_member.ingest_invokes_ingest,
    google_project_iam_member.storage_agent_publishes_events,
  ]
}
