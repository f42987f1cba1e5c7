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
  default     = "tbctl-efa"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,39}$", var.name))
    error_message = "name must be lower-case letters, digits and '-', start with a letter, at most 40 characters (host names must be DNS labels)."
  }
}

variable "region" {
  description = "AWS region"
  type        = string
  default     = "us-east-1"
}

variable "availability_zone" {
  description = "availability zone of the subnet and the placement group; null picks the first zone (by name) that offers instance_type"
  type        = string
  default     = null
}

variable "instance_type" {
  description = "an EFA-capable instance type (c5n.18xlarge; p4d.24xlarge or p5.48xlarge for GPUs, which need an Ubuntu image with the NVIDIA driver)"
  type        = string
  default     = "c5n.18xlarge"
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
  description = "public key (authorized_keys form) that may log in as ssh_user"
  type        = string
}

variable "identity" {
  description = "path of the matching private key on the controller; passed through to the hosts output. null leaves it to the SSH agent"
  type        = string
  default     = null
}

variable "ssh_user" {
  description = "login user; the Ubuntu AMI's default user is ubuntu"
  type        = string
  default     = "ubuntu"
}

variable "root_volume_gb" {
  description = "size of the root volume (gp3)"
  type        = number
  default     = 64
}

variable "install_efa_software" {
  description = "run the AWS EFA installer from cloud-init at first boot (libfabric, rdma-core, Open MPI under /opt/amazon)"
  type        = bool
  default     = true
}

variable "efa_installer_version" {
  description = "version of aws-efa-installer to download from efa-installer.amazonaws.com (\"latest\" is also accepted)"
  type        = string
  default     = "1.48.0"

  validation {
    condition     = can(regex("^(latest|[0-9]+\\.[0-9]+\\.[0-9]+)$", var.efa_installer_version))
    error_message = "efa_installer_version must be X.Y.Z or latest."
  }
}

variable "vpc_cidr" {
  description = "address range of the new VPC; the subnet is a /24 inside it"
  type        = string
  default     = "10.42.0.0/16"
}
