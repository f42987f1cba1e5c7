# H4D instances with Cloud RDMA for tbctl's remote provider. Each instance
# has two network interfaces, as Google's Cloud RDMA guide requires: a GVNIC
# on an ordinary VPC (SSH, internet) and an IRDMA on a VPC created with the
# zone's Falcon network profile. A compact placement policy keeps the
# instances on one fabric. Each instance gets an ed25519 host key generated
# here, installed by cloud-init when the image runs it and by a startup
# script otherwise, so the `hosts` output can pin it. See README.md. Not
# applied in CI.
#
# Everything uses the google-beta provider: the IRDMA nic_type and the
# network_profile argument were found documented there (since 6.13); whether
# the GA provider accepts them as well was not checked.

terraform {
  required_version = ">= 1.6"

  required_providers {
    google-beta = {
      source  = "hashicorp/google-beta"
      version = "~> 7.31"
    }
    tls = {
      source  = "hashicorp/tls"
      version = "~> 4.1"
    }
  }
}

provider "google-beta" {
  project = var.project
  region  = local.region
  zone    = var.zone
}

locals {
  names  = toset([for i in range(var.hosts) : "${var.name}-${i + 1}"])
  region = regex("^(.*)-[a-z]$", var.zone)[0]
}

# The ordinary network: SSH from the controller, everything between the
# instances, internet through each instance's external address.
resource "google_compute_network" "gvnic" {
  provider                = google-beta
  name                    = "${var.name}-net"
  auto_create_subnetworks = false
}

resource "google_compute_subnetwork" "gvnic" {
  provider      = google-beta
  name          = "${var.name}-sub"
  network       = google_compute_network.gvnic.id
  region        = local.region
  ip_cidr_range = var.gvnic_cidr
}

resource "google_compute_firewall" "ssh" {
  provider      = google-beta
  name          = "${var.name}-ssh"
  network       = google_compute_network.gvnic.id
  direction     = "INGRESS"
  source_ranges = [var.ssh_cidr]

  allow {
    protocol = "tcp"
    ports    = ["22"]
  }
}

resource "google_compute_firewall" "internal" {
  provider      = google-beta
  name          = "${var.name}-internal"
  network       = google_compute_network.gvnic.id
  direction     = "INGRESS"
  source_ranges = [var.gvnic_cidr]

  allow {
    protocol = "all"
  }
}

# The RDMA network: a VPC with the zone's Falcon profile (it only exists in
# zones that offer Cloud RDMA) and MTU 8896, as Google's guide says.
resource "google_compute_network" "rdma" {
  provider                = google-beta
  name                    = "${var.name}-irdma"
  auto_create_subnetworks = false
  mtu                     = 8896
  network_profile         = "projects/${var.project}/global/networkProfiles/${var.zone}-vpc-falcon"
}

resource "google_compute_subnetwork" "rdma" {
  provider      = google-beta
  name          = "${var.name}-irdma-sub"
  network       = google_compute_network.rdma.id
  region        = local.region
  ip_cidr_range = var.rdma_cidr
}

resource "google_compute_resource_policy" "placement" {
  provider = google-beta
  count    = var.compact_placement ? 1 : 0
  name     = "${var.name}-placement"
  region   = local.region

  group_placement_policy {
    collocation  = "COLLOCATED"
    max_distance = var.placement_max_distance
  }
}

# The host key: known before the instance boots, so the first connection
# is verified like every other.
resource "tls_private_key" "host" {
  for_each  = local.names
  algorithm = "ED25519"
}

locals {
  host_pub = { for n in local.names : n => trimspace(tls_private_key.host[n].public_key_openssh) }

  # For images that run cloud-init (the metadata key is user-data).
  user_data = {
    for n in local.names : n => join("\n", ["#cloud-config", yamlencode({
      ssh_deletekeys = true
      ssh_keys = {
        ed25519_private = "${trimspace(tls_private_key.host[n].private_key_openssh)}\n"
        ed25519_public  = local.host_pub[n]
      }
    })])
  }

  # For images without cloud-init, such as the HPC Rocky Linux image: the
  # guest agent generates host keys on first boot; this script, run by the
  # agent at every boot, puts the pinned key back, tells the agent not to
  # generate keys again, and restarts sshd when it changed something.
  startup_script = {
    for n in local.names : n => <<-EOT
      #!/bin/bash
      set -eu
      cfg=/etc/default/instance_configs.cfg
      if [ ! -e "$cfg" ]; then
        printf '[InstanceSetup]\nset_host_keys = false\n' > "$cfg"
      fi
      key=/etc/ssh/ssh_host_ed25519_key
      tmp=$(mktemp)
      trap 'rm -f "$tmp"' EXIT
      echo '${base64encode("${trimspace(tls_private_key.host[n].private_key_openssh)}\n")}' | base64 -d > "$tmp"
      if ! cmp -s "$tmp" "$key"; then
        install -m 600 -o root -g root "$tmp" "$key"
        echo '${local.host_pub[n]}' > "$key.pub"
        chmod 644 "$key.pub"
        if command -v restorecon > /dev/null; then restorecon "$key" "$key.pub"; fi
        systemctl restart sshd 2> /dev/null || systemctl restart ssh
      fi
    EOT
  }
}

resource "google_compute_instance" "host" {
  provider     = google-beta
  for_each     = local.names
  name         = each.key
  zone         = var.zone
  machine_type = var.machine_type

  boot_disk {
    initialize_params {
      image = var.image
      size  = var.boot_disk_gb
      type  = "hyperdisk-balanced"
    }
  }

  network_interface {
    subnetwork = google_compute_subnetwork.gvnic.id
    nic_type   = "GVNIC"
    stack_type = "IPV4_ONLY"

    access_config {} # an ephemeral external address
  }

  network_interface {
    subnetwork = google_compute_subnetwork.rdma.id
    nic_type   = "IRDMA"
    stack_type = "IPV4_ONLY"
  }

  # H4D does not live-migrate.
  scheduling {
    on_host_maintenance = "TERMINATE"
    automatic_restart   = true
  }

  resource_policies = var.compact_placement ? [google_compute_resource_policy.placement[0].self_link] : []

  dynamic "reservation_affinity" {
    for_each = var.reservation == null ? [] : [var.reservation]
    content {
      type = "SPECIFIC_RESERVATION"
      specific_reservation {
        key    = "compute.googleapis.com/reservation-name"
        values = [reservation_affinity.value]
      }
    }
  }

  metadata = {
    user-data      = local.user_data[each.key]
    ssh-keys       = "${var.ssh_user}:${trimspace(var.ssh_public_key)}"
    enable-oslogin = "FALSE"
  }
  metadata_startup_script = local.startup_script[each.key]

  depends_on = [google_compute_firewall.ssh]
}

# Apply ends only when every host presents its pinned key: a key is only
# compared here, never trusted.
resource "terraform_data" "host_key" {
  for_each         = var.wait_for_host_key ? local.names : toset([])
  triggers_replace = google_compute_instance.host[each.key].instance_id

  provisioner "local-exec" {
    interpreter = ["/bin/sh", "-c"]
    command     = <<-EOT
      deadline=$(( $(date +%s) + $TIMEOUT ))
      until ssh-keyscan -T 5 -t ed25519 "$ADDR" 2> /dev/null | grep -qF "$KEY"; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
          echo "$ADDR did not present its pinned ed25519 key within $TIMEOUT seconds" >&2
          exit 1
        fi
        sleep 10
      done
    EOT
    environment = {
      ADDR    = google_compute_instance.host[each.key].network_interface[0].access_config[0].nat_ip
      KEY     = local.host_pub[each.key]
      TIMEOUT = tostring(var.wait_timeout_seconds)
    }
  }
}
