# Identities and every IAM grant of the stack, in one place.
# One service account per component, least privilege, no primitive roles, no keys.
#
#   loader          Cloud Run jobs load/finalize  secretAccessor on the db password
#   events-fn       function runtime              publisher on the events topic,
#                                                 secretAccessor on the events secret
#   relay           Cloud Run relay service       run.invoker on the function's service only,
#                                                 cloudsql.client (project), secretAccessor
#                                                 on the db password and the events secret
#   fn-build        function build (Cloud Build)  logWriter + objectViewer (project),
#                                                 writer on the images repository
#   Pub/Sub agent   (Google-managed)              dataEditor on the events dataset,
#                                                 publisher on the dead-letter topic,
#                                                 subscriber on the dead-lettering subscriptions

resource "google_service_account" "loader" {
  project      = var.project
  account_id   = "${local.name}-loader"
  display_name = "pgbulk loader jobs (${var.environment})"
}

resource "google_service_account" "function" {
  project      = var.project
  account_id   = "${local.name}-events-fn"
  display_name = "pgbulk events function runtime (${var.environment})"
}

resource "google_service_account" "relay" {
  project      = var.project
  account_id   = "${local.name}-relay"
  display_name = "pgbulk relay (${var.environment})"
}

resource "google_service_account" "function_build" {
  project      = var.project
  account_id   = "${local.name}-fn-build"
  display_name = "pgbulk events function build (${var.environment})"
}

# --- loader ---

resource "google_secret_manager_secret_iam_member" "loader_db_password" {
  project   = var.project
  secret_id = google_secret_manager_secret.db_password.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.loader.email}"
}

# --- relay ---
# It calls the function (Cloud Run checks its ID token against this binding, on the
# function's own service, not the project), connects to Cloud SQL and reads two
# secrets. Nothing else.

resource "google_cloud_run_v2_service_iam_member" "relay_invokes_function" {
  project  = var.project
  location = google_cloudfunctions2_function.events.location
  name     = google_cloudfunctions2_function.events.name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.relay.email}"
}

resource "google_project_iam_member" "relay_cloudsql_client" {
  project = var.project
  role    = "roles/cloudsql.client"
  member  = "serviceAccount:${google_service_account.relay.email}"
}

resource "google_secret_manager_secret_iam_member" "relay_db_password" {
  project   = var.project
  secret_id = google_secret_manager_secret.db_password.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.relay.email}"
}

resource "google_secret_manager_secret_iam_member" "relay_events_secret" {
  project   = var.project
  secret_id = google_secret_manager_secret.events_secret.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.relay.email}"
}

# --- function runtime ---

resource "google_secret_manager_secret_iam_member" "function_events_secret" {
  project   = var.project
  secret_id = google_secret_manager_secret.events_secret.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.function.email}"
}

resource "google_secret_manager_secret_iam_member" "function_hasura_secret" {
  count = var.hasura_static_secret ? 1 : 0

  project   = var.project
  secret_id = google_secret_manager_secret.hasura_events_secret[0].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.function.email}"
}

resource "google_pubsub_topic_iam_member" "function_publisher" {
  project = var.project
  topic   = google_pubsub_topic.events.name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${google_service_account.function.email}"
}

# --- function build ---
# Cloud Build reads the source copied into a Google-managed bucket (hence the
# project-level objectViewer) and writes build logs.

resource "google_project_iam_member" "function_build" {
  for_each = toset([
    "roles/logging.logWriter",
    "roles/storage.objectViewer",
  ])

  project = var.project
  role    = each.value
  member  = "serviceAccount:${google_service_account.function_build.email}"
}

resource "google_artifact_registry_repository_iam_member" "function_build_writer" {
  project    = var.project
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${google_service_account.function_build.email}"
}

# --- Pub/Sub service agent ---

resource "google_bigquery_dataset_iam_member" "pubsub_writer" {
  project    = var.project
  dataset_id = google_bigquery_dataset.events.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = local.pubsub_service_agent
}

resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  project = var.project
  topic   = google_pubsub_topic.events_dead_letter.name
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "dead_letter_subscriber" {
  for_each = {
    bigquery = google_pubsub_subscription.events_bigquery.name
    ordered  = google_pubsub_subscription.events_ordered.name
  }

  project      = var.project
  subscription = each.value
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}
