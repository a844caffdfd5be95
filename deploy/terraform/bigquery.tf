# BigQuery: one day-partitioned table of change events, written by the Pub/Sub
# BigQuery subscription. Its columns are the message fields, read from the same
# schema file that the function's tests check messages against, followed by the
# metadata columns Pub/Sub fills when write_metadata = true.

locals {
  pubsub_metadata_columns = [
    {
      name        = "subscription_name"
      type        = "STRING"
      mode        = "NULLABLE"
      description = "Pub/Sub subscription that wrote the row."
    },
    {
      name        = "message_id"
      type        = "STRING"
      mode        = "NULLABLE"
      description = "Pub/Sub message id (a republished event gets a new one; deduplicate on event_id)."
    },
    {
      name        = "publish_time"
      type        = "TIMESTAMP"
      mode        = "NULLABLE"
      description = "When Pub/Sub accepted the message; the partitioning column."
    },
    {
      name        = "attributes"
      type        = "JSON"
      mode        = "NULLABLE"
      description = "Message attributes (operation, table, field_changes, event_id) and the ordering key."
    },
  ]
}

resource "google_bigquery_dataset" "events" {
  # checkov:skip=CKV_GCP_81: synthetic change events; Google-managed encryption, CMEK would need a KMS key and a BigQuery service-account grant
  project                    = var.project
  dataset_id                 = replace("${local.name}_events", "-", "_")
  location                   = var.region
  description                = "pgbulk change events streamed from Pub/Sub"
  delete_contents_on_destroy = false

  depends_on = [google_project_service.apis]
}

resource "google_bigquery_table" "events" {
  # checkov:skip=CKV_GCP_80: same data as the dataset; Google-managed encryption
  project             = var.project
  dataset_id          = google_bigquery_dataset.events.dataset_id
  table_id            = "events"
  description         = "One row per change event published by the events function."
  deletion_protection = var.deletion_protection

  time_partitioning {
    type  = "DAY"
    field = "publish_time"
  }

  clustering = ["table", "operation"]

  schema = jsonencode(concat(
    jsondecode(file("${path.module}/../../functions/schema/event-message.bq.json")),
    local.pubsub_metadata_columns,
  ))
}
