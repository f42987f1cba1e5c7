# InfiniBand VMs (HBv3, HDR 200 Gb/s) for tbctl's remote provider: one
# resource group, one virtual network and subnet, a network security group
# that admits SSH from ssh_cidr, and one availability set holding all VMs
# (InfiniBand connects VMs of the same availability set). Each VM gets an
# ed25519 host key generated here and installed by cloud-init, so the `hosts`
# output can pin it. See README.md. Not applied in CI.

terraform {
  required_version = ">= 1.6"

  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 4.54"
    }
    tls = {
      source  = "hashicorp/tls"
      version = "~> 4.1"
    }
  }
}

provider "azurerm" {
  features {}
  subscription_id = var.subscription_id
}

locals {
  names = toset([for i in range(var.hosts) : "${var.name}-${i + 1}"])
}

resource "azurerm_resource_group" "rg" {
  name     = "${var.name}-rg"
  location = var.location
}

resource "azurerm_virtual_network" "net" {
  name                = var.name
  location            = azurerm_resource_group.rg.location
  resource_group_name = azurerm_resource_group.rg.name
  address_space       = [var.vnet_cidr]
}

resource "azurerm_subnet" "hosts" {
  name                 = "hosts"
  resource_group_name  = azurerm_resource_group.rg.name
  virtual_network_name = azurerm_virtual_network.net.name
  address_prefixes     = [cidrsubnet(var.vnet_cidr, 8, 1)]
}

# Traffic inside the virtual network is allowed by Azure's default rules;
# from outside, only SSH from ssh_cidr. InfiniBand does not pass through
# the NSG.
resource "azurerm_network_security_group" "hosts" {
  name                = var.name
  location            = azurerm_resource_group.rg.location
  resource_group_name = azurerm_resource_group.rg.name

  security_rule {
    name                       = "ssh-from-controller"
    priority                   = 100
    direction                  = "Inbound"
    access                     = "Allow"
    protocol                   = "Tcp"
    source_port_range          = "*"
    destination_port_range     = "22"
    source_address_prefix      = var.ssh_cidr
    destination_address_prefix = "*"
  }
}

resource "azurerm_subnet_network_security_group_association" "hosts" {
  subnet_id                 = azurerm_subnet.hosts.id
  network_security_group_id = azurerm_network_security_group.hosts.id
}

# One fault and one update domain: the VMs may share hardware faults, which
# is fine for a testbed and keeps them close on the InfiniBand fabric.
resource "azurerm_availability_set" "ib" {
  name                         = "${var.name}-ib"
  location                     = azurerm_resource_group.rg.location
  resource_group_name          = azurerm_resource_group.rg.name
  platform_fault_domain_count  = 1
  platform_update_domain_count = 1
  managed                      = true
}

resource "azurerm_public_ip" "host" {
  for_each            = local.names
  name                = each.key
  location            = azurerm_resource_group.rg.location
  resource_group_name = azurerm_resource_group.rg.name
  allocation_method   = "Static"
  sku                 = "Standard"
}

resource "azurerm_network_interface" "host" {
  for_each                       = local.names
  name                           = each.key
  location                       = azurerm_resource_group.rg.location
  resource_group_name            = azurerm_resource_group.rg.name
  accelerated_networking_enabled = true

  ip_configuration {
    name                          = "primary"
    subnet_id                     = azurerm_subnet.hosts.id
    private_ip_address_allocation = "Dynamic"
    public_ip_address_id          = azurerm_public_ip.host[each.key].id
  }
}

# The host key: known before the VM boots, so the first connection is
# verified like every other.
resource "tls_private_key" "host" {
  for_each  = local.names
  algorithm = "ED25519"
}

locals {
  custom_data = {
    for n in local.names : n => join("\n", ["#cloud-config", yamlencode({
      ssh_deletekeys = true
      ssh_keys = {
        ed25519_private = "${trimspace(tls_private_key.host[n].private_key_openssh)}\n"
        ed25519_public  = trimspace(tls_private_key.host[n].public_key_openssh)
      }
    })])
  }
}

resource "azurerm_linux_virtual_machine" "host" {
  for_each              = local.names
  name                  = each.key
  location              = azurerm_resource_group.rg.location
  resource_group_name   = azurerm_resource_group.rg.name
  size                  = var.vm_size
  availability_set_id   = azurerm_availability_set.ib.id
  network_interface_ids = [azurerm_network_interface.host[each.key].id]

  admin_username                  = var.admin_username
  disable_password_authentication = true

  admin_ssh_key {
    username   = var.admin_username
    public_key = trimspace(var.ssh_public_key)
  }

  custom_data = base64encode(local.custom_data[each.key])

  os_disk {
    caching              = "ReadWrite"
    storage_account_type = "Premium_LRS"
    disk_size_gb         = var.os_disk_gb
  }

  source_image_reference {
    publisher = var.image.publisher
    offer     = var.image.offer
    sku       = var.image.sku
    version   = var.image.version
  }

  depends_on = [azurerm_subnet_network_security_group_association.hosts]
}
