# Pub/Sub: the function publishes change events (JSON, with ordering keys) to
# `events`. A BigQuery subscription streams them into the events table; an
# ordered pull subscription serves other consumers; anything undeliverable goes
# to the dead-letter topic, whose own subscription keeps it for inspection.
#
# No google_pubsub_schema: the message's old/new/diff fields are JSON text of
# arbitrary rows, which Avro/protobuf topic schemas cannot describe usefully.
# The contract is the BigQuery table schema (use_table_schema), generated from
# functions/schema/event-message.bq.json; messages that do not match it are
# dead-lettered instead of blocking the subscription.

resource "google_pubsub_topic" "events" {
  # checkov:skip=CKV_GCP_83: change events of synthetic data; Google-managed encryption, CMEK would need a KMS key and a Pub/Sub service-agent grant
  project                    = var.project
  name                       = "${local.name}-events"
  message_retention_duration = "604800s"

  depends_on = [google_project_service.apis]
}

resource "google_pubsub_topic" "events_dead_letter" {
  # checkov:skip=CKV_GCP_83: same data as the events topic; Google-managed encryption
  project                    = var.project
  name                       = "${local.name}-events-dead-letter"
  message_retention_duration = "604800s"

  depends_on = [google_project_service.apis]
}

resource "google_pubsub_subscription" "events_bigquery" {
  project = var.project
  name    = "${local.name}-events-bigquery"
  topic   = google_pubsub_topic.events.id

  bigquery_config {
    table            = "${google_bigquery_table.events.project}.${google_bigquery_table.events.dataset_id}.${google_bigquery_table.events.table_id}"
    use_table_schema = true
    write_metadata   = true
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.events_dead_letter.id
    max_delivery_attempts = 5
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  expiration_policy {
    ttl = ""
  }

  depends_on = [
    google_bigquery_dataset_iam_member.pubsub_writer,
    google_pubsub_topic_iam_member.dead_letter_publisher,
  ]
}

resource "google_pubsub_subscription" "events_ordered" {
  project                    = var.project
  name                       = "${local.name}-events-ordered"
  topic                      = google_pubsub_topic.events.id
  enable_message_ordering    = true
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.events_dead_letter.id
    max_delivery_attempts = 10
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  expiration_policy {
    ttl = ""
  }

  depends_on = [google_pubsub_topic_iam_member.dead_letter_publisher]
}

# Without a subscription, messages forwarded to the dead-letter topic are lost.
resource "google_pubsub_subscription" "events_dead_letter" {
  project                    = var.project
  name                       = "${local.name}-events-dead-letter"
  topic                      = google_pubsub_topic.events_dead_letter.id
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"
  retain_acked_messages      = true

  expiration_policy {
    ttl = ""
  }
}
