# Terraform and provider versions. 1.11 is the first Terraform with write-only arguments, which
# keep the webhook signing key out of the state. Commit .terraform.lock.hcl after the first
# `terraform init` so every machine installs the same provider builds.
terraform {
  required_version = ">= 1.11.0, < 2.0.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 7.45"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.7"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region

  # Every label set here lands on every resource that takes labels.
  default_labels = merge(var.labels, { app = "dynamic-slices" })
}
