# The relay (`pgbulk relay`): reads the outbox in Cloud SQL over the VPC and posts
# the events to the function with a Google ID token (its own service account) and
# the HMAC signature.
#
# Why a Cloud Run *service* with exactly one instance and CPU always allocated:
# the relay is a long-running loop woken by LISTEN/NOTIFY, not a request handler,
# so it needs its CPU when no request comes in (cpu_idle = false) and an instance
# that is never scaled to zero (min = 1); max = 1 because one relay moves
# thousands of events per second and a second one only adds a lease race (several
# relays are safe, see docs/events.md, but buy nothing here). A Cloud Run worker
# pool fits "no requests" even better but is a Beta resource of the google-beta
# provider; a Cloud Run job ends, and a VM would need patching. The service
# serves only GET /healthz for Cloud Run's probes; ingress is internal and nobody
# holds roles/run.invoker on it, so nothing can call it.

resource "google_cloud_run_v2_service" "relay" {
  project             = var.project
  name                = "${local.name}-relay"
  location            = var.region
  description         = "pgbulk relay: Cloud SQL outbox -> events function, signed, with ID tokens."
  ingress             = "INGRESS_TRAFFIC_INTERNAL_ONLY"
  deletion_protection = var.deletion_protection

  template {
    service_account                  = google_service_account.relay.email
    max_instance_request_concurrency = 1
    timeout                          = "10s"

    scaling {
      min_instance_count = 1
      max_instance_count = 1
    }

    containers {
      image = var.image
      args = [
        "relay",
        "--url", google_cloudfunctions2_function.events.service_config[0].uri,
        "--google-auth",
        "--retention", var.relay_retention,
        "--health-host", "0.0.0.0",
        "--health-port", "8080",
      ]

      ports {
        container_port = 8080
      }

      resources {
        cpu_idle          = false # the relay works between requests: CPU always allocated
        startup_cpu_boost = false
        limits = {
          cpu    = "1"
          memory = "512Mi"
        }
      }

      startup_probe {
        http_get {
          path = "/healthz"
          port = 8080
        }
        period_seconds    = 5
        failure_threshold = 12
      }

      liveness_probe {
        http_get {
          path = "/healthz"
          port = 8080
        }
        period_seconds = 30
      }

      # The loader's connection settings: Cloud SQL's private IP, TLS.
      dynamic "env" {
        for_each = local.loader_env
        content {
          name  = env.key
          value = env.value
        }
      }

      env {
        name = "PGPASSWORD"
        value_source {
          secret_key_ref {
            secret  = google_secret_manager_secret.db_password.secret_id
            version = "latest"
          }
        }
      }

      # Read when an instance starts: after a rotation's step 2, deploy a new
      # revision (docs: deploy/README.md, "Rotating the events secret").
      env {
        name = "PGBULK_EVENTS_SECRET"
        value_source {
          secret_key_ref {
            secret  = google_secret_manager_secret.events_secret.secret_id
            version = var.relay_events_secret_version
          }
        }
      }
    }

    # Direct VPC egress for all traffic: Cloud SQL's private IP, and the function,
    # whose internal-only ingress admits requests that come from the VPC.
    vpc_access {
      egress = "ALL_TRAFFIC"
      network_interfaces {
        network    = google_compute_network.vpc.id
        subnetwork = google_compute_subnetwork.run.id
      }
    }
  }

  depends_on = [
    google_secret_manager_secret_version.db_password,
    google_secret_manager_secret_version.events_secret,
    google_secret_manager_secret_iam_member.relay_db_password,
    google_secret_manager_secret_iam_member.relay_events_secret,
    google_cloud_run_v2_service_iam_member.relay_invokes_function,
    google_project_iam_member.relay_cloudsql_client,
    google_sql_user.pgbulk,
  ]
}
