output "sql_instance" {
  description = "Cloud SQL instance name."
  value       = google_sql_database_instance.main.name
}

output "sql_private_ip" {
  description = "Private IP of the Cloud SQL instance (reachable only from the VPC)."
  value       = google_sql_database_instance.main.private_ip_address
}

output "db_password_secret" {
  description = "Secret Manager secret holding the pgbulk database user's password."
  value       = google_secret_manager_secret.db_password.secret_id
}

output "events_secret" {
  description = "Secret Manager secret holding the events HMAC secret (the relay reads it; rotation: deploy/README.md)."
  value       = google_secret_manager_secret.events_secret.secret_id
}

output "function_uri" {
  description = "Internal-only URL of the events function."
  value       = google_cloudfunctions2_function.events.service_config[0].uri
}

output "events_topic" {
  description = "Pub/Sub topic the function publishes to."
  value       = google_pubsub_topic.events.id
}

output "bigquery_table" {
  description = "BigQuery table receiving the change events."
  value       = "${google_bigquery_table.events.project}.${google_bigquery_table.events.dataset_id}.${google_bigquery_table.events.table_id}"
}

output "load_job" {
  description = "Cloud Run job that runs the sharded load."
  value       = google_cloud_run_v2_job.load.name
}

output "finalize_job" {
  description = "Cloud Run job that builds constraints and indexes after all shards."
  value       = google_cloud_run_v2_job.finalize.name
}

output "image_repository" {
  description = "Artifact Registry path to push the pgbulk image to."
  value       = "${var.region}-docker.pkg.dev/${var.project}/${google_artifact_registry_repository.images.repository_id}"
}

output "service_accounts" {
  description = "Service account of each component."
  value = {
    loader         = google_service_account.loader.email
    function       = google_service_account.function.email
    function_build = google_service_account.function_build.email
  }
}

output "relay_service" {
  description = "Cloud Run service running `pgbulk relay` (one always-on instance)."
  value       = google_cloud_run_v2_service.relay.name
}

output "relay_service_account" {
  description = "The relay's identity: run.invoker on the function, cloudsql.client, two secrets."
  value       = google_service_account.relay.email
}

output "hasura_events_secret" {
  description = "Secret Manager secret for Hasura's events-secret header (null unless hasura_static_secret)."
  value       = one(google_secret_manager_secret.hasura_events_secret[*].secret_id)
}
