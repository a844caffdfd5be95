# Sharded bulk loads as Cloud Run Jobs. Every task of `load` runs the same
# command; pgbulk reads CLOUD_RUN_TASK_INDEX / CLOUD_RUN_TASK_COUNT and loads
# only its chunks (chunk % count == index), so `shards` tasks load one dataset
# together. `--if-exists resume` makes a retried or re-executed task skip the
# chunks already committed. `finalize` builds the constraints and indexes once
# all shards are done. Both connect to Cloud SQL's private IP over direct VPC
# egress with TLS (PGSSLMODE=require) and read the password from Secret Manager.

locals {
  loader_env = {
    PGHOST     = google_sql_database_instance.main.private_ip_address
    PGPORT     = "5432"
    PGDATABASE = google_sql_database.pgbulk.name
    PGUSER     = google_sql_user.pgbulk.name
    PGSSLMODE  = "require"
  }
}

resource "google_cloud_run_v2_job" "load" {
  project             = var.project
  name                = "${local.name}-load"
  location            = var.region
  deletion_protection = var.deletion_protection

  template {
    task_count = var.shards

    template {
      service_account = google_service_account.loader.email
      timeout         = var.loader_task_timeout
      max_retries     = 3

      containers {
        image = var.image
        args  = ["load", "--users", var.users, "--if-exists", "resume", "--workers", tostring(var.loader_workers)]

        resources {
          limits = {
            cpu    = var.loader_cpu
            memory = var.loader_memory
          }
        }

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
      }

      vpc_access {
        egress = "PRIVATE_RANGES_ONLY"
        network_interfaces {
          network    = google_compute_network.vpc.id
          subnetwork = google_compute_subnetwork.run.id
        }
      }
    }
  }

  depends_on = [
    google_secret_manager_secret_version.db_password,
    google_secret_manager_secret_iam_member.loader_db_password,
    google_sql_user.pgbulk,
  ]
}

resource "google_cloud_run_v2_job" "finalize" {
  project             = var.project
  name                = "${local.name}-finalize"
  location            = var.region
  deletion_protection = var.deletion_protection

  template {
    task_count = 1

    template {
      service_account = google_service_account.loader.email
      timeout         = var.loader_task_timeout
      max_retries     = 1

      containers {
        image = var.image
        args  = ["finalize"]

        resources {
          limits = {
            cpu    = var.loader_cpu
            memory = var.loader_memory
          }
        }

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
      }

      vpc_access {
        egress = "PRIVATE_RANGES_ONLY"
        network_interfaces {
          network    = google_compute_network.vpc.id
          subnetwork = google_compute_subnetwork.run.id
        }
      }
    }
  }

  depends_on = [
    google_secret_manager_secret_version.db_password,
    google_secret_manager_secret_iam_member.loader_db_password,
    google_sql_user.pgbulk,
  ]
}
