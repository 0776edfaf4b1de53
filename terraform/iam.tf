# Identities and what each may do. One service account per function, one for the scheduler, one
# for builds. Each grant sits on the resource it concerns (bucket, topic, secret, service,
# repository) except where the API has no such binding: those few project-level grants say why.

data "google_project" "this" {
  project_id = var.project_id
}

locals {
  pubsub_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

resource "google_service_account" "ingest" {
  account_id   = "fn-ingest"
  display_name = "ingest function"
  description  = "Runs the ingest function and is the identity of its Eventarc triggers: reads landing objects, writes rows to Firestore."

  depends_on = [google_project_service.enabled]
}

resource "google_service_account" "slices" {
  account_id   = "fn-slices"
  display_name = "slices API function"
  description  = "Runs the HTTP API: reads and writes Firestore, reads landing objects."

  depends_on = [google_project_service.enabled]
}

resource "google_service_account" "actions" {
  account_id   = "fn-actions"
  display_name = "actions function"
  description  = "Runs scheduled slice actions: writes Firestore, creates exports, publishes to slice-actions, signs webhooks."

  depends_on = [google_project_service.enabled]
}

resource "google_service_account" "scheduler" {
  account_id   = "actions-scheduler"
  display_name = "actions scheduler"
  description  = "Identity in the OIDC token Cloud Scheduler sends to the actions function; may invoke that function and nothing else."

  depends_on = [google_project_service.enabled]
}

resource "google_service_account" "builder" {
  account_id   = "fn-builder"
  display_name = "function builder"
  description  = "Cloud Build identity that turns the function sources into images."

  depends_on = [google_project_service.enabled]
}

# --- Firestore ---------------------------------------------------------------------------------
# Firestore has no per-collection or per-document IAM: roles/datastore.user on the project is the
# narrowest grant that lets a function read and write documents.
resource "google_project_iam_member" "firestore_user" {
  for_each = {
    ingest  = google_service_account.ingest.member
    slices  = google_service_account.slices.member
    actions = google_service_account.actions.member
  }

  project = var.project_id
  role    = "roles/datastore.user"
  member  = each.value
}

# --- ingest ------------------------------------------------------------------------------------
resource "google_storage_bucket_iam_member" "ingest_reads_landing" {
  bucket = google_storage_bucket.landing.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.ingest.member
}

# Eventarc checks this role on the trigger's identity; it exists only at project level.
resource "google_project_iam_member" "ingest_event_receiver" {
  project = var.project_id
  role    = "roles/eventarc.eventReceiver"
  member  = google_service_account.ingest.member
}

# The triggers deliver events as the ingest account, so it must be allowed to invoke itself.
resource "google_cloud_run_v2_service_iam_member" "ingest_invokes_ingest" {
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.ingest.name
  role     = "roles/run.invoker"
  member   = google_service_account.ingest.member
}

# Cloud Storage publishes object notifications to the Pub/Sub topics Eventarc creates and names
# itself, so the storage service agent needs publisher on the project.
resource "google_project_iam_member" "storage_agent_publishes_events" {
  project = var.project_id
  role    = "roles/pubsub.publisher"
  member  = data.google_storage_project_service_account.storage_agent.member
}

# --- slices (the API) --------------------------------------------------------------------------
resource "google_storage_bucket_iam_member" "slices_reads_landing" {
  bucket = google_storage_bucket.landing.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.slices.member
}

# Who may call the API: only the principals listed, never allUsers or allAuthenticatedUsers
# (variables.tf refuses them).
resource "google_cloud_run_v2_service_iam_member" "api_invokers" {
  for_each = toset(var.api_invoker_members)

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.slices.name
  role     = "roles/run.invoker"
  member   = each.value
}

# --- actions -----------------------------------------------------------------------------------
# objectCreator creates objects but cannot overwrite or delete them: an export named by its run
# id is written once (a retry sees the object exists, which is the idempotent outcome).
resource "google_storage_bucket_iam_member" "actions_writes_exports" {
  bucket = google_storage_bucket.exports.name
  role   = "roles/storage.objectCreator"
  member = google_service_account.actions.member
}

resource "google_pubsub_topic_iam_member" "actions_publishes" {
  topic  = google_pubsub_topic.slice_actions.id
  role   = "roles/pubsub.publisher"
  member = google_service_account.actions.member
}

resource "google_secret_manager_secret_iam_member" "actions_reads_signing_key" {
  secret_id = google_secret_manager_secret.webhook_signing_key.id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.actions.member
}

# --- scheduler ---------------------------------------------------------------------------------
resource "google_cloud_run_v2_service_iam_member" "scheduler_invokes_actions" {
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.actions.name
  role     = "roles/run.invoker"
  member   = google_service_account.scheduler.member
}

# --- builds ------------------------------------------------------------------------------------
# Build logs: Cloud Logging grants log writing only at project (or folder) level.
resource "google_project_iam_member" "builder_writes_logs" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = google_service_account.builder.member
}

resource "google_artifact_registry_repository_iam_member" "builder_pushes_images" {
  project    = var.project_id
  location   = google_artifact_registry_repository.functions.location
  repository = google_artifact_registry_repository.functions.name
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.builder.member
}

# The build reads the source from the bucket Cloud Functions stages it in (gcf-v2-sources-*,
# created and named by Cloud Functions, so no bucket binding can precede it) and from ours. The
# condition keeps the project-level grant to those buckets only.
resource "google_project_iam_member" "builder_reads_sources" {
  project = var.project_id
  role    = "roles/storage.objectViewer"
  member  = google_service_account.builder.member

  condition {
    title       = "function-sources-only"
    description = "Only the buckets holding function sources."
    expression = join(" || ", [
      "resource.name.startsWith(\"projects/_/buckets/gcf-v2-sources-${data.google_project.this.number}-${var.region}\")",
      "resource.name == \"projects/_/buckets/${google_storage_bucket.sources.name}\"",
      "resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.sources.name}/\")",
    ])
  }
}

# --- optional customer-managed key -------------------------------------------------------------
# With var.kms_key_name set, the service agents that encrypt on our behalf need the key.
resource "google_kms_crypto_key_iam_member" "storage_agent" {
  count = var.kms_key_name == null ? 0 : 1

  crypto_key_id = var.kms_key_name
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = data.google_storage_project_service_account.storage_agent.member
}

resource "google_kms_crypto_key_iam_member" "pubsub_agent" {
  count = var.kms_key_name == null ? 0 : 1

  crypto_key_id = var.kms_key_name
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = local.pubsub_agent
}
