variable "hosts" {
  description = "number of instances"
  type        = number
  default     = 2

  validation {
    condition     = var.hosts >= 1 && var.hosts <= 32 && floor(var.hosts) == var.hosts
    error_message = "hosts must be a whole number from 1 to 32."
  }
}

variable "name" {
  description = "prefix of every resource name and of the host names (host names are NAME-1, NAME-2, ...)"
  type        = string
  default     = "tbctl-rdma"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,39}$", var.name))
    error_message = "name must be lower-case letters, digits and '-', start with a letter, at most 40 characters (host names must be DNS labels)."
  }
}

variable "project" {
  description = "Google Cloud project ID"
  type        = string
}

variable "zone" {
  description = "zone with H4D capacity and a Falcon network profile (ZONE-vpc-falcon), e.g. us-central1-a or europe-west4-b"
  type        = string
  default     = "us-central1-a"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+-[a-z]$", var.zone))
    error_message = "zone must look like us-central1-a."
  }
}

variable "machine_type" {
  description = "an H4D machine type: h4d-standard-192, h4d-highmem-192 or h4d-highmem-192-lssd (Cloud RDMA is only offered on H4D)"
  type        = string
  default     = "h4d-standard-192"

  validation {
    condition     = startswith(var.machine_type, "h4d-")
    error_message = "Cloud RDMA (IRDMA network interfaces) is only offered on the H4D series; machine_type must start with h4d-."
  }
}

variable "image" {
  description = "boot image; Google's HPC Rocky Linux 8 image family is the one its Cloud RDMA guide uses"
  type        = string
  default     = "projects/cloud-hpc-image-public/global/images/family/hpc-rocky-linux-8"
}

variable "boot_disk_gb" {
  description = "size of the boot disk (Hyperdisk Balanced, which H4D requires)"
  type        = number
  default     = 50
}

variable "reservation" {
  description = "name of a specific reservation to consume; null takes on-demand capacity or any matching open reservation"
  type        = string
  default     = null
}

variable "compact_placement" {
  description = "attach a compact placement policy so the instances land on one cluster fabric (Google's guide for Cloud RDMA asks for one)"
  type        = bool
  default     = true
}

variable "placement_max_distance" {
  description = "max_distance of the compact placement policy; Google's guide asks for 3 or lower (lower is closer and harder to get)"
  type        = number
  default     = 3
}

variable "ssh_cidr" {
  description = "CIDR allowed to reach port 22 (the controller's address, e.g. 198.51.100.7/32)"
  type        = string

  validation {
    condition     = can(cidrhost(var.ssh_cidr, 0))
    error_message = "ssh_cidr must be an IPv4 CIDR such as 198.51.100.7/32."
  }
}

variable "ssh_public_key" {
  description = "public key (authorized_keys form) that may log in as ssh_user; installed through the ssh-keys metadata"
  type        = string
}

variable "identity" {
  description = "path of the matching private key on the controller; passed through to the hosts output. null leaves it to the SSH agent"
  type        = string
  default     = null
}

variable "ssh_user" {
  description = "login user, created by the guest agent from the ssh-keys metadata"
  type        = string
  default     = "tbctl"
}

variable "wait_for_host_key" {
  description = "make apply wait until every host presents its pinned ed25519 key on port 22 (checked with ssh-keyscan on the machine running tofu)"
  type        = bool
  default     = true
}

variable "wait_timeout_seconds" {
  description = "how long apply waits per host for the pinned key"
  type        = number
  default     = 900
}

variable "gvnic_cidr" {
  description = "subnet of the ordinary (gVNIC) network"
  type        = string
  default     = "10.44.0.0/24"
}

variable "rdma_cidr" {
  description = "subnet of the Falcon (IRDMA) network"
  type        = string
  default     = "10.45.0.0/24"
}
