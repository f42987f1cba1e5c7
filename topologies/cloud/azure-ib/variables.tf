variable "hosts" {
  description = "number of VMs"
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
  default     = "tbctl-ib"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,39}$", var.name))
    error_message = "name must be lower-case letters, digits and '-', start with a letter, at most 40 characters (host names must be DNS labels)."
  }
}

variable "subscription_id" {
  description = "Azure subscription; null uses ARM_SUBSCRIPTION_ID from the environment"
  type        = string
  default     = null
}

variable "location" {
  description = "Azure region that offers vm_size (e.g. eastus, southcentralus, westeurope)"
  type        = string
  default     = "eastus"
}

variable "vm_size" {
  description = "an InfiniBand-capable size (the r in the name)"
  type        = string
  default     = "Standard_HB120rs_v3"
}

variable "image" {
  description = "marketplace image: Microsoft's Ubuntu 22.04 HPC image, with the InfiniBand (DOCA/MOFED) drivers and MPI libraries installed"
  type = object({
    publisher = string
    offer     = string
    sku       = string
    version   = string
  })
  default = {
    publisher = "microsoft-dsvm"
    offer     = "ubuntu-hpc"
    sku       = "2204"
    version   = "latest"
  }
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
  description = "public key (ssh-ed25519 or ssh-rsa of at least 2048 bits, authorized_keys form) that may log in as admin_username"
  type        = string
}

variable "identity" {
  description = "path of the matching private key on the controller; passed through to the hosts output. null leaves it to the SSH agent"
  type        = string
  default     = null
}

variable "admin_username" {
  description = "login user created on every VM"
  type        = string
  default     = "tbctl"
}

variable "os_disk_gb" {
  description = "size of the OS disk (Premium SSD); null keeps the image's size"
  type        = number
  default     = null
}

variable "vnet_cidr" {
  description = "address range of the new virtual network; the subnet is a /24 inside it"
  type        = string
  default     = "10.43.0.0/16"
}
