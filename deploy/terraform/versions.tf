terraform {
  required_version = ">= 1.5.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.4"
    }
  }

  # State holds the generated database password and event secret (random_password,
  # secret versions): keep it in an access-controlled, versioned GCS bucket, e.g.
  #   terraform init -backend-config="bucket=MY-TF-STATE" -backend-config="prefix=pgbulk/dev"
  # after uncommenting:
  # backend "gcs" {}
}

provider "google" {
  project = var.project
  region  = var.region

  default_labels = local.labels
}
