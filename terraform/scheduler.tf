# Cloud Scheduler calls the actions function every few minutes. The call carries an OIDC
# identity token for the scheduler's own service account, the one principal with run.invoker on
# that function. A failed tick is not retried: the next tick comes soon, and leases in Firestore
# keep two overlapping ticks from running one action twice.

resource "google_cloud_scheduler_job" "actions_tick" {
  name             = "actions-tick"
  description      = "Runs due slice actions and advances slice builds."
  region           = var.region
  schedule         = var.actions_schedule
  time_zone        = var.actions_time_zone
  attempt_deadline = "${max(15, var.functions["actions"].timeout_seconds)}s"

  retry_config {
    retry_count = 0
  }

  http_target {
    http_method = "POST"
    uri         = google_cloudfunctions2_function.actions.service_config[0].uri
    headers = {
      "Content-Type" = "application/json"
    }
    body = base64encode("{}")

    oidc_token {
      service_account_email = google_service_account.scheduler.email
      audience              = google_cloudfunctions2_function.actions.service_config[0].uri
    }
  }

  depends_on = [google_cloud_run_v2_service_iam_member.scheduler_invokes_actions]
}
