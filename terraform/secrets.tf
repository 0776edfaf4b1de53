# The key the actions function signs webhook calls with (HMAC). Terraform generates it as an
# ephemeral value and writes it through a write-only argument, so it is in neither the plan nor
# the state. Only the actions service account may read it (iam.tf); a receiver that verifies
# signatures is granted access to this secret separately.

resource "google_secret_manager_secret" "webhook_signing_key" {
  secret_id = "webhook-signing-key"

  replication {
    user_managed {
      replicas {
        location = var.region
      }
    }
  }

  depends_on = [google_project_service.enabled]
}

ephemeral "random_password" "webhook_signing_key" {
  length  = 64
  special = false
}

resource "google_secret_manager_secret_version" "webhook_signing_key" {
  secret = google_secret_manager_secret.webhook_signing_key.id
  # Changing the version number writes a new key; the function pins the version it reads.
  secret_data_wo         = ephemeral.random_password.webhook_signing_key.result
  secret_data_wo_version = var.webhook_signing_key_version
}
