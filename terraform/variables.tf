# Inputs of the deployment. Each has a type, a description and, where a bad value would only
# fail late inside a Google API call, a validation that fails at plan time instead.

variable "project_id" {
  type        = string
  description = "The Google Cloud project to deploy into (one deployment per project)."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project ID: 6 to 30 lowercase letters, digits or hyphens."
  }
}

variable "region" {
  type        = string
  description = "Region of the functions, the buckets, the triggers and the scheduler job. The landing bucket is regional here so that its Eventarc triggers can live in the same region."
  default     = "europe-west1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must be a Google Cloud region such as europe-west1 or us-central1."
  }
}

variable "firestore_location" {
  type        = string
  description = "Location of the Firestore database: a region (europe-west1) or a multi-region (eur3, nam5). Null means the same as region. It cannot change once the database exists."
  default     = null

  validation {
    condition     = var.firestore_location == null || can(regex("^([a-z]+-[a-z]+[0-9]|[a-z]+[0-9])$", var.firestore_location))
    error_message = "firestore_location must be a region (europe-west1) or a multi-region (eur3, nam5)."
  }
}

variable "manage_firestore_database" {
  type        = bool
  description = "Create the (default) Firestore database. Set false when the project already has one (or import it: see docs/deployment.md)."
  default     = true
}

variable "firestore_delete_protection" {
  type        = bool
  description = "Refuse to delete the Firestore database, whatever Terraform asks."
  default     = true
}

variable "firestore_point_in_time_recovery" {
  type        = bool
  description = "Keep 7 days of Firestore versions, so that a bad write or import can be read back as it was."
  default     = true
}

variable "firestore_ttl_fields" {
  type = list(object({
    collection = string
    field      = string
  }))
  description = "Optional TTL policies: documents of the collection group are deleted once the timestamp in field has passed. Empty by default: the code writes no expiry field yet."
  default     = []

  validation {
    condition = alltrue([
      for ttl in var.firestore_ttl_fields :
      can(regex("^[A-Za-z_][A-Za-z0-9_]*$", ttl.collection)) && can(regex("^[A-Za-z_][A-Za-z0-9_]*$", ttl.field))
    ])
    error_message = "firestore_ttl_fields: collection and field must be plain identifiers (a TTL field cannot be nested)."
  }
}

variable "landing_bucket_name" {
  type        = string
  description = "Name of the landing bucket, where data rows, manifests and predictions arrive. Null means <project_id>-landing."
  default     = null

  validation {
    condition     = var.landing_bucket_name == null || can(regex("^[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]$", var.landing_bucket_name))
    error_message = "landing_bucket_name must be a bucket name: 3 to 63 lowercase letters, digits, hyphens or underscores."
  }
}

variable "landing_noncurrent_days" {
  type        = number
  description = "Days an overwritten or deleted landing object stays recoverable (the bucket keeps versions) before it is removed for good."
  default     = 30

  validation {
    condition     = var.landing_noncurrent_days >= 1 && var.landing_noncurrent_days <= 3650 && floor(var.landing_noncurrent_days) == var.landing_noncurrent_days
    error_message = "landing_noncurrent_days must be a whole number of days from 1 to 3650."
  }
}

variable "export_retention_days" {
  type        = number
  description = "Days an export written by a slice action is kept; 0 keeps exports until someone deletes them."
  default     = 90

  validation {
    condition     = var.export_retention_days >= 0 && floor(var.export_retention_days) == var.export_retention_days
    error_message = "export_retention_days must be a whole number, 0 or more."
  }
}

variable "kms_key_name" {
  type        = string
  description = "Optional Cloud KMS key (projects/P/locations/L/keyRings/R/cryptoKeys/K) that encrypts the landing and export buckets and the slice-actions topic. Null uses Google-managed keys. The key must be in the buckets' region."
  default     = null

  validation {
    condition     = var.kms_key_name == null || can(regex("^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$", var.kms_key_name))
    error_message = "kms_key_name must be a key resource name: projects/P/locations/L/keyRings/R/cryptoKeys/K."
  }
}

variable "access_log_bucket" {
  type        = string
  description = "Optional existing bucket that receives the usage logs of the landing and export buckets. Null turns bucket usage logs off (Cloud Audit Logs still record access)."
  default     = null

  validation {
    condition     = var.access_log_bucket == null || can(regex("^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$", var.access_log_bucket))
    error_message = "access_log_bucket must be a bucket name."
  }
}

variable "api_invoker_members" {
  type        = list(string)
  description = "Principals allowed to call the HTTP API, as IAM members (user:, group:, serviceAccount:, domain:, principal:, principalSet:). allUsers and allAuthenticatedUsers are refused: the API is never public."
  default     = []

  validation {
    condition = alltrue([
      for member in var.api_invoker_members :
      can(regex("^(user|group|serviceAccount|domain|principal|principalSet):.+$", member))
    ])
    error_message = "api_invoker_members: each entry must be an IAM member such as user:ana@example.com or group:ml-team@example.com; allUsers and allAuthenticatedUsers are not allowed."
  }
}

variable "api_ingress" {
  type        = string
  description = "Ingress of the HTTP API. ALLOW_ALL (the default) lets IAM decide who gets in: people and tools call it from outside Google Cloud with an identity token. ALLOW_INTERNAL_AND_GCLB when the API sits behind a load balancer (with IAP or Cloud Armor); ALLOW_INTERNAL_ONLY when only callers inside the project's network use it."
  default     = "ALLOW_ALL"

  validation {
    condition     = contains(["ALLOW_ALL", "ALLOW_INTERNAL_AND_GCLB", "ALLOW_INTERNAL_ONLY"], var.api_ingress)
    error_message = "api_ingress must be ALLOW_ALL, ALLOW_INTERNAL_AND_GCLB or ALLOW_INTERNAL_ONLY."
  }
}

variable "actions_schedule" {
  type        = string
  description = "How often Cloud Scheduler calls the actions function (unix cron, five fields). Each call runs due slice actions and advances slice builds."
  default     = "*/5 * * * *"

  validation {
    condition     = length(split(" ", trimspace(var.actions_schedule))) == 5
    error_message = "actions_schedule must be a five-field cron expression such as */5 * * * *."
  }
}

variable "actions_time_zone" {
  type        = string
  description = "Time zone of actions_schedule (tz database name)."
  default     = "Etc/UTC"

  validation {
    condition     = can(regex("^[A-Za-z_]+(/[A-Za-z0-9_+-]+)*$", var.actions_time_zone))
    error_message = "actions_time_zone must be a tz database name such as Etc/UTC or Europe/Paris."
  }
}

variable "webhook_allowed_hosts" {
  type        = list(string)
  description = "Host names that webhook actions may call (https only; the function refuses any other host and any private or link-local address). Host names only: no scheme, port or path."
  default     = []

  validation {
    condition = alltrue([
      for host in var.webhook_allowed_hosts :
      can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", host))
    ])
    error_message = "webhook_allowed_hosts: each entry must be a lowercase DNS host name such as hooks.example.com (no scheme, port, path or IP address)."
  }
}

variable "webhook_signing_key_version" {
  type        = number
  description = "Generation of the webhook HMAC key. Terraform generates the key without storing it in its state; raise this number to rotate it (the actions function then redeploys with the new version)."
  default     = 1

  validation {
    condition     = var.webhook_signing_key_version >= 1 && floor(var.webhook_signing_key_version) == var.webhook_signing_key_version
    error_message = "webhook_signing_key_version must be a whole number, 1 or more."
  }
}

variable "functions" {
  type = map(object({
    memory          = string
    cpu             = string
    timeout_seconds = number
    max_instances   = number
    min_instances   = number
  }))
  description = "Size and scaling of each function (keys: ingest, slices, actions). Ingest is called per object event, slices per API request, actions per scheduler tick."
  default = {
    ingest  = { memory = "1Gi", cpu = "1", timeout_seconds = 540, max_instances = 20, min_instances = 0 }
    slices  = { memory = "1Gi", cpu = "1", timeout_seconds = 60, max_instances = 10, min_instances = 0 }
    actions = { memory = "1Gi", cpu = "1", timeout_seconds = 540, max_instances = 3, min_instances = 0 }
  }

  validation {
    condition     = length(setsubtract(["ingest", "slices", "actions"], keys(var.functions))) == 0 && length(var.functions) == 3
    error_message = "functions must have exactly the keys ingest, slices and actions."
  }

  validation {
    # Event-driven functions stop at 9 minutes; HTTP functions at 60.
    condition     = var.functions["ingest"].timeout_seconds <= 540 && alltrue([for f in values(var.functions) : f.timeout_seconds >= 1 && f.timeout_seconds <= 3600])
    error_message = "timeout_seconds must be 1 to 3600, and at most 540 for ingest (an event-driven function)."
  }

  validation {
    # The scheduler waits at most 30 minutes for an answer.
    condition     = var.functions["actions"].timeout_seconds <= 1800
    error_message = "functions.actions.timeout_seconds must be at most 1800 (Cloud Scheduler's longest attempt deadline)."
  }

  validation {
    condition     = alltrue([for f in values(var.functions) : f.min_instances >= 0 && f.max_instances >= 1 && f.min_instances <= f.max_instances])
    error_message = "Each function needs 0 <= min_instances <= max_instances and max_instances >= 1."
  }

  validation {
    condition     = alltrue([for f in values(var.functions) : can(regex("^[0-9]+(Mi|Gi|M|G)$", f.memory)) && can(regex("^[0-9.]+$", f.cpu))])
    error_message = "memory must look like 512Mi or 1Gi, and cpu like 1 or 0.5."
  }
}

variable "dist_dir" {
  type        = string
  description = "Directory holding the function zips that `make package` builds (relative to the terraform directory, or absolute)."
  default     = "../dist"

  validation {
    condition     = length(trimspace(var.dist_dir)) > 0
    error_message = "dist_dir must not be empty."
  }
}

variable "enable_apis" {
  type        = bool
  description = "Enable the Google APIs the deployment needs. Set false when the project's APIs are managed elsewhere."
  default     = true
}

variable "labels" {
  type        = map(string)
  description = "Labels added to every resource that takes labels (the provider adds app = dynamic-slices)."
  default     = {}

  validation {
    condition = alltrue([
      for key, value in var.labels :
      can(regex("^[a-z][a-z0-9_-]{0,62}$", key)) && can(regex("^[a-z0-9_-]{0,63}$", value))
    ])
    error_message = "labels: keys start with a lowercase letter; keys and values use lowercase letters, digits, _ and -, at most 63 characters."
  }
}
