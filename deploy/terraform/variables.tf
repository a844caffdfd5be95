variable "project" {
  description = "Google Cloud project id to deploy into."
  type        = string
}

variable "region" {
  description = "Region for every regional resource (Cloud SQL, Cloud Run, the function, BigQuery, Artifact Registry)."
  type        = string
  default     = "europe-west1"
}

variable "environment" {
  description = "Deployment environment: dev or prod. Prod gets a regional (HA) Cloud SQL instance."
  type        = string
  default     = "dev"

  validation {
    condition     = contains(["dev", "prod"], var.environment)
    error_message = "environment must be \"dev\" or \"prod\"."
  }
}

variable "db_tier" {
  description = "Cloud SQL machine type (Enterprise edition), e.g. db-custom-4-16384 = 4 vCPU / 16 GiB."
  type        = string
  default     = "db-custom-4-16384"
}

variable "db_disk_size_gb" {
  description = "Initial SSD size in GB (auto-grows). 10M users take about 10 GB with indexes; WAL needs headroom."
  type        = number
  default     = 100
}

variable "deletion_protection" {
  description = "Protect the Cloud SQL instance, the BigQuery table and the loader jobs from deletion. Set to false (and apply) before terraform destroy."
  type        = bool
  default     = true
}

variable "image" {
  description = "pgbulk container image (built from deploy/Dockerfile), e.g. europe-west1-docker.pkg.dev/PROJECT/pgbulk/pgbulk:0.1.0."
  type        = string
}

variable "shards" {
  description = "Number of Cloud Run Job tasks (task_count); each task loads chunk % shards == CLOUD_RUN_TASK_INDEX."
  type        = number
  default     = 4

  validation {
    condition     = var.shards >= 1 && var.shards <= 100 && floor(var.shards) == var.shards
    error_message = "shards must be an integer between 1 and 100."
  }
}

variable "users" {
  description = "Number of users to generate (pgbulk accepts suffixes such as 10M)."
  type        = string
  default     = "10M"
}

variable "loader_cpu" {
  description = "vCPUs per loader task (Cloud Run accepts 1, 2, 4, 8)."
  type        = string
  default     = "4"
}

variable "loader_workers" {
  description = "pgbulk worker processes (one connection each) per loader task; about one per vCPU."
  type        = number
  default     = 4
}

variable "loader_memory" {
  description = "Memory per loader task (4 vCPU needs at least 2Gi)."
  type        = string
  default     = "8Gi"
}

variable "loader_task_timeout" {
  description = "Maximum run time of one loader task attempt (a retried task resumes where it stopped)."
  type        = string
  default     = "10800s"
}

variable "subnet_cidr" {
  description = "CIDR of the subnet that Cloud Run jobs use for direct VPC egress."
  type        = string
  default     = "10.20.0.0/24"
}

variable "function_invokers" {
  description = "Principals allowed to call the events function (roles/run.invoker), e.g. [\"serviceAccount:relay@PROJECT.iam.gserviceaccount.com\"]. Empty: nobody but project owners."
  type        = list(string)
  default     = []
}

variable "events_secret_version" {
  description = "Version of the events secret the function takes as EVENTS_SECRET (the current one)."
  type        = string
  default     = "latest"
}

variable "events_secret_previous_version" {
  description = "During a rotation only: the version the relay still signs with, accepted as EVENTS_SECRET_PREVIOUS. Empty otherwise."
  type        = string
  default     = ""
}

variable "relay_events_secret_version" {
  description = "Version of the events secret the relay signs with (read when an instance starts)."
  type        = string
  default     = "latest"
}

variable "relay_retention" {
  description = "How long the relay keeps delivered events in the outbox before purging them (PostgreSQL interval)."
  type        = string
  default     = "7 days"
}

variable "hasura_static_secret" {
  description = "Accept Hasura's static events-secret header, with a secret of its own (HASURA_EVENTS_SECRET). Off: only HMAC-signed requests."
  type        = bool
  default     = false
}
