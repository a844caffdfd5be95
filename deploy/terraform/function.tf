# The events Cloud Function (gen2, Node.js 20) built from ../../functions:
# zipped by Terraform, uploaded to a private bucket, built by its own build
# service account, run by its own runtime service account that can only publish
# to the events topic and read the events secret. Ingress is internal only:
# callers must be inside the VPC and hold roles/run.invoker: the relay (relay.tf)
# gets it in iam.tf, others (Hasura) through var.function_invokers.

data "archive_file" "function_source" {
  type        = "zip"
  source_dir  = "${path.module}/../../functions"
  output_path = "${path.module}/.build/function-source.zip"
  excludes = [
    "node_modules/**",
    "dist/**",
    "coverage/**",
    "*.tsbuildinfo",
  ]
}

resource "google_storage_bucket" "function_source" {
  # checkov:skip=CKV_GCP_62: the bucket only holds function source zips uploaded by Terraform; access logging would need a second log bucket (itself unlogged)
  project                     = var.project
  name                        = "${var.project}-${local.name}-function-source"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 30
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_storage_bucket_object" "function_source" {
  # The content hash in the name makes a source change redeploy the function.
  name   = "events-${data.archive_file.function_source.output_md5}.zip"
  bucket = google_storage_bucket.function_source.name
  source = data.archive_file.function_source.output_path
}

resource "google_cloudfunctions2_function" "events" {
  project     = var.project
  name        = "${local.name}-events"
  location    = var.region
  description = "Authenticates change events (HMAC; Hasura's events-secret header if enabled) and publishes them to Pub/Sub."

  build_config {
    runtime           = "nodejs20"
    entry_point       = "events"
    service_account   = google_service_account.function_build.id
    docker_repository = google_artifact_registry_repository.images.id

    source {
      storage_source {
        bucket = google_storage_bucket.function_source.name
        object = google_storage_bucket_object.function_source.name
      }
    }
  }

  service_config {
    available_memory                 = "256M"
    timeout_seconds                  = 60
    max_instance_count               = 10
    min_instance_count               = 0
    ingress_settings                 = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision   = true
    service_account_email            = google_service_account.function.email
    max_instance_request_concurrency = 1

    environment_variables = {
      EVENTS_TOPIC = google_pubsub_topic.events.id
      NODE_ENV     = "production" # also forced by the code: no stack trace reaches a client
    }

    # The current HMAC secret and, during a rotation, the previous one: both are
    # accepted, the relay signs with the current (deploy/README.md).
    secret_environment_variables {
      key        = "EVENTS_SECRET"
      project_id = var.project
      secret     = google_secret_manager_secret.events_secret.secret_id
      version    = var.events_secret_version
    }

    dynamic "secret_environment_variables" {
      for_each = var.events_secret_previous_version == "" ? [] : [var.events_secret_previous_version]
      content {
        key        = "EVENTS_SECRET_PREVIOUS"
        project_id = var.project
        secret     = google_secret_manager_secret.events_secret.secret_id
        version    = secret_environment_variables.value
      }
    }

    dynamic "secret_environment_variables" {
      for_each = google_secret_manager_secret.hasura_events_secret
      content {
        key        = "HASURA_EVENTS_SECRET"
        project_id = var.project
        secret     = secret_environment_variables.value.secret_id
        version    = "latest"
      }
    }
  }

  depends_on = [
    google_secret_manager_secret_version.events_secret,
    google_secret_manager_secret_iam_member.function_events_secret,
    google_secret_manager_secret_iam_member.function_hasura_secret,
    google_pubsub_topic_iam_member.function_publisher,
    google_project_iam_member.function_build,
    google_artifact_registry_repository_iam_member.function_build_writer,
  ]
}

# The function's HTTP endpoint is its Cloud Run service (same name as the function).
resource "google_cloud_run_v2_service_iam_member" "function_invokers" {
  for_each = toset(var.function_invokers)

  project  = var.project
  location = google_cloudfunctions2_function.events.location
  name     = google_cloudfunctions2_function.events.name
  role     = "roles/run.invoker"
  member   = each.value
}
