# Secret Manager: the database password (read by the loader jobs and the relay), the
# events HMAC secret (read by the function and the relay; rotated by adding a version,
# deploy/README.md) and, only when var.hasura_static_secret, Hasura's own static
# `events-secret` header value (never the HMAC key).
# Who may read which secret is in iam.tf.

resource "google_secret_manager_secret" "db_password" {
  project   = var.project
  secret_id = "${local.name}-db-password"

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_version" "db_password" {
  secret      = google_secret_manager_secret.db_password.id
  secret_data = random_password.db.result
}

resource "random_password" "events_secret" {
  length  = 48
  special = false
}

resource "google_secret_manager_secret" "events_secret" {
  project   = var.project
  secret_id = "${local.name}-events-secret"

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_version" "events_secret" {
  secret      = google_secret_manager_secret.events_secret.id
  secret_data = random_password.events_secret.result
}

# Opt-in: the secret Hasura sends in its `events-secret` header (HASURA_EVENTS_SECRET).
resource "random_password" "hasura_events_secret" {
  count   = var.hasura_static_secret ? 1 : 0
  length  = 48
  special = false
}

resource "google_secret_manager_secret" "hasura_events_secret" {
  count     = var.hasura_static_secret ? 1 : 0
  project   = var.project
  secret_id = "${local.name}-hasura-events-secret"

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_version" "hasura_events_secret" {
  count       = var.hasura_static_secret ? 1 : 0
  secret      = google_secret_manager_secret.hasura_events_secret[0].id
  secret_data = random_password.hasura_events_secret[0].result
}
