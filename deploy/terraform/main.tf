locals {
  name = "pgbulk-${var.environment}"

  labels = {
    app         = "pgbulk"
    environment = var.environment
    managed-by  = "terraform"
  }

  # Google-managed Pub/Sub service agent: writes the BigQuery subscription and
  # forwards undeliverable messages to the dead-letter topic.
  pubsub_service_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"

  apis = toset([
    "artifactregistry.googleapis.com",
    "bigquery.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "compute.googleapis.com",
    "iam.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "servicenetworking.googleapis.com",
    "sqladmin.googleapis.com",
    "storage.googleapis.com",
  ])
}

data "google_project" "this" {
  project_id = var.project
}

resource "google_project_service" "apis" {
  for_each = local.apis

  project            = var.project
  service            = each.value
  disable_on_destroy = false
}

# Container images: the pgbulk loader image (pushed by you, see README) and the
# function's build output (written by the function build service account).
resource "google_artifact_registry_repository" "images" {
  # checkov:skip=CKV_GCP_84: images hold no secrets or data; Google-managed encryption is enough and CMEK would need a KMS key plus an Artifact Registry service-agent grant
  project       = var.project
  location      = var.region
  repository_id = "pgbulk"
  format        = "DOCKER"
  description   = "pgbulk loader image and events function builds"

  depends_on = [google_project_service.apis]
}
