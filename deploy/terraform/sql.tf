# Cloud SQL for PostgreSQL 15 (the version of the original project and of the
# integration tests): private IP only, TLS required, backups with point-in-time
# recovery, deletion protection, the audit/log flags scanners expect, and flags
# that speed up bulk loads without giving up durability (fsync stays on).

resource "google_sql_database_instance" "main" {
  # checkov:skip=CKV_GCP_79: POSTGRES_15 on purpose: the dataset, the seed project and the integration tests target PostgreSQL 15
  # checkov:skip=CKV_GCP_6: ssl_mode ENCRYPTED_ONLY requires TLS on every connection; client certificates (TRUSTED_CLIENT_CERTIFICATE_REQUIRED) cannot be handed to Cloud Run tasks safely, they authenticate with a Secret Manager password over the private network
  project             = var.project
  name                = "${local.name}-pg"
  region              = var.region
  database_version    = "POSTGRES_15"
  deletion_protection = var.deletion_protection

  settings {
    tier                        = var.db_tier
    edition                     = "ENTERPRISE"
    availability_type           = var.environment == "prod" ? "REGIONAL" : "ZONAL"
    disk_type                   = "PD_SSD"
    disk_size                   = var.db_disk_size_gb
    disk_autoresize             = true
    deletion_protection_enabled = var.deletion_protection
    user_labels                 = local.labels

    ip_configuration {
      ipv4_enabled    = false
      private_network = google_compute_network.vpc.id
      ssl_mode        = "ENCRYPTED_ONLY"
    }

    backup_configuration {
      enabled                        = true
      start_time                     = "02:00"
      point_in_time_recovery_enabled = true
      transaction_log_retention_days = 7

      backup_retention_settings {
        retained_backups = 14
        retention_unit   = "COUNT"
      }
    }

    maintenance_window {
      day          = 7
      hour         = 3
      update_track = "stable"
    }

    insights_config {
      query_insights_enabled  = true
      record_application_tags = true
      record_client_address   = false
    }

    # --- logging and audit flags (CIS / checkov) ---
    database_flags {
      name  = "log_checkpoints"
      value = "on"
    }
    database_flags {
      name  = "log_connections"
      value = "on"
    }
    database_flags {
      name  = "log_disconnections"
      value = "on"
    }
    database_flags {
      name  = "log_lock_waits"
      value = "on"
    }
    database_flags {
      name  = "log_hostname"
      value = "on"
    }
    database_flags {
      name  = "log_min_messages"
      value = "warning"
    }
    database_flags {
      name  = "log_min_error_statement"
      value = "error"
    }
    database_flags {
      name  = "log_duration"
      value = "on"
    }
    database_flags {
      name  = "log_min_duration_statement"
      value = "-1"
    }
    database_flags {
      name  = "log_temp_files"
      value = "0"
    }
    # DDL only: a bulk load is thousands of COPY statements that need no audit trail.
    database_flags {
      name  = "log_statement"
      value = "ddl"
    }
    database_flags {
      name  = "cloudsql.enable_pgaudit"
      value = "on"
    }

    # --- bulk-load friendly, durability-preserving flags ---
    # Index and constraint builds after the load (KB: 1 GiB).
    database_flags {
      name  = "maintenance_work_mem"
      value = "1048576"
    }
    database_flags {
      name  = "max_parallel_maintenance_workers"
      value = "4"
    }
    # Fewer forced checkpoints while COPY streams WAL (MB: 16 GiB).
    database_flags {
      name  = "max_wal_size"
      value = "16384"
    }
    database_flags {
      name  = "checkpoint_timeout"
      value = "900"
    }
  }

  depends_on = [google_service_networking_connection.private_services]
}

resource "google_sql_database" "pgbulk" {
  project  = var.project
  name     = "pgbulk"
  instance = google_sql_database_instance.main.name
}

resource "random_password" "db" {
  length  = 32
  special = false
}

resource "google_sql_user" "pgbulk" {
  project  = var.project
  name     = "pgbulk"
  instance = google_sql_database_instance.main.name
  password = random_password.db.result
}
