# The topic the "publish" slice action sends rows to. Subscribers are the consumers' business;
# the topic keeps a day of messages so that a subscription created later can seek back.
resource "google_pubsub_topic" "slice_actions" {
  #checkov:skip=CKV_GCP_83:A customer-managed key is optional (var.kms_key_name); Google-managed encryption applies otherwise.
  name                       = "slice-actions"
  message_retention_duration = "86400s"
  kms_key_name               = var.kms_key_name

  message_storage_policy {
    allowed_persistence_regions = [var.region]
  }

  depends_on = [google_project_service.enabled, google_kms_crypto_key_iam_member.pubsub_agent]
}
