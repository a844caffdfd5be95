# Private network: Cloud SQL gets a private IP only (private services access),
# the Cloud Run loader jobs reach it through direct VPC egress into `run`.

resource "google_compute_network" "vpc" {
  project                 = var.project
  name                    = "${local.name}-vpc"
  auto_create_subnetworks = false

  depends_on = [google_project_service.apis]
}

resource "google_compute_subnetwork" "run" {
  project                  = var.project
  name                     = "${local.name}-run"
  region                   = var.region
  network                  = google_compute_network.vpc.id
  ip_cidr_range            = var.subnet_cidr
  private_ip_google_access = true

  log_config {
    aggregation_interval = "INTERVAL_5_MIN"
    flow_sampling        = 0.5
    metadata             = "INCLUDE_ALL_METADATA"
  }
}

# Range reserved for Google-managed services (Cloud SQL) peered into the VPC.
resource "google_compute_global_address" "private_services" {
  project       = var.project
  name          = "${local.name}-private-services"
  purpose       = "VPC_PEERING"
  address_type  = "INTERNAL"
  prefix_length = 20
  network       = google_compute_network.vpc.id
}

resource "google_service_networking_connection" "private_services" {
  network                 = google_compute_network.vpc.id
  service                 = "servicenetworking.googleapis.com"
  reserved_peering_ranges = [google_compute_global_address.private_services.name]
}

# Nothing needs to reach into the VPC: Cloud Run uses it for egress only and
# Cloud SQL sits in the peered services range. Deny all ingress explicitly and
# log any attempt.
resource "google_compute_firewall" "deny_all_ingress" {
  project   = var.project
  name      = "${local.name}-deny-all-ingress"
  network   = google_compute_network.vpc.id
  direction = "INGRESS"
  priority  = 65534

  source_ranges = ["0.0.0.0/0"]

  deny {
    protocol = "all"
  }

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}
