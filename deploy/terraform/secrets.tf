# Secret Manager: the database password (read by the loader jobs) and the
# events shared secret (read by the function; give it to the relay / Hasura).
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
