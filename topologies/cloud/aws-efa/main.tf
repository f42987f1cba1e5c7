# EFA-capable EC2 instances for tbctl's remote provider: one VPC, one public
# subnet, one cluster placement group, one security group that lets the
# instances exchange all traffic (EFA needs that), and one EFA network
# interface per instance. Each instance gets an ed25519 host key generated
# here and installed by cloud-init, so the `hosts` output can pin it.
# See README.md. Not applied in CI.

terraform {
  required_version = ">= 1.6"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # primary_network_interface exists from 6.10 on.
      version = "~> 6.22"
    }
    tls = {
      source  = "hashicorp/tls"
      version = "~> 4.1"
    }
  }
}

provider "aws" {
  region = var.region
}

locals {
  names = toset([for i in range(var.hosts) : "${var.name}-${i + 1}"])
  az    = coalesce(var.availability_zone, try(sort(data.aws_ec2_instance_type_offerings.zones.locations)[0], "none"))
}

# Zones of the region that offer the instance type.
data "aws_ec2_instance_type_offerings" "zones" {
  location_type = "availability-zone"

  filter {
    name   = "instance-type"
    values = [var.instance_type]
  }
}

# Ubuntu 22.04, the newest image published by Canonical.
data "aws_ami" "ubuntu" {
  most_recent = true
  owners      = ["099720109477"] # Canonical

  filter {
    name   = "name"
    values = ["ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-*"]
  }

  filter {
    name   = "virtualization-type"
    values = ["hvm"]
  }
}

resource "aws_vpc" "net" {
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = { Name = var.name }
}

resource "aws_internet_gateway" "gw" {
  vpc_id = aws_vpc.net.id
  tags   = { Name = var.name }
}

resource "aws_subnet" "hosts" {
  vpc_id            = aws_vpc.net.id
  cidr_block        = cidrsubnet(var.vpc_cidr, 8, 1)
  availability_zone = local.az
  tags              = { Name = var.name }

  lifecycle {
    precondition {
      condition     = var.availability_zone != null || length(data.aws_ec2_instance_type_offerings.zones.locations) > 0
      error_message = "No availability zone of ${var.region} offers ${var.instance_type}; choose another region or instance type."
    }
  }
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.net.id

  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.gw.id
  }

  tags = { Name = var.name }
}

resource "aws_route_table_association" "hosts" {
  subnet_id      = aws_subnet.hosts.id
  route_table_id = aws_route_table.public.id
}

# EFA traffic only flows when the security group allows all protocols
# inbound from itself and outbound to itself.
resource "aws_security_group" "hosts" {
  name_prefix = "${var.name}-"
  description = "tbctl ${var.name}: SSH from ssh_cidr, everything within the group (EFA)"
  vpc_id      = aws_vpc.net.id
  tags        = { Name = var.name }
}

resource "aws_vpc_security_group_ingress_rule" "ssh" {
  security_group_id = aws_security_group.hosts.id
  description       = "SSH from the controller"
  cidr_ipv4         = var.ssh_cidr
  ip_protocol       = "tcp"
  from_port         = 22
  to_port           = 22
}

resource "aws_vpc_security_group_ingress_rule" "self" {
  security_group_id            = aws_security_group.hosts.id
  description                  = "all traffic from the group (EFA)"
  referenced_security_group_id = aws_security_group.hosts.id
  ip_protocol                  = "-1"
}

resource "aws_vpc_security_group_egress_rule" "self" {
  security_group_id            = aws_security_group.hosts.id
  description                  = "all traffic to the group (EFA)"
  referenced_security_group_id = aws_security_group.hosts.id
  ip_protocol                  = "-1"
}

resource "aws_vpc_security_group_egress_rule" "internet" {
  security_group_id = aws_security_group.hosts.id
  description       = "packages and the EFA installer"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "-1"
}

resource "aws_placement_group" "cluster" {
  name     = "${var.name}-pg"
  strategy = "cluster"
}

resource "aws_network_interface" "efa" {
  for_each        = local.names
  subnet_id       = aws_subnet.hosts.id
  security_groups = [aws_security_group.hosts.id]
  interface_type  = "efa"
  description     = "EFA of ${each.key}"
  tags            = { Name = each.key }
}

resource "aws_eip" "host" {
  for_each          = local.names
  domain            = "vpc"
  network_interface = aws_network_interface.efa[each.key].id
  tags              = { Name = each.key }

  depends_on = [aws_internet_gateway.gw]
}

# The host key: known before the instance boots, so the first connection
# is verified like every other.
resource "tls_private_key" "host" {
  for_each  = local.names
  algorithm = "ED25519"
}

locals {
  efa_tarball = "aws-efa-installer-${var.efa_installer_version}.tar.gz"

  efa_install = var.install_efa_software ? [
    ["sh", "-c", join(" && ", [
      "cd /tmp",
      "curl -fsSL --retry 5 -o ${local.efa_tarball} https://efa-installer.amazonaws.com/${local.efa_tarball}",
      "tar -xf ${local.efa_tarball}",
      "cd aws-efa-installer",
      "./efa_installer.sh -y",
    ])],
  ] : []

  user_data = {
    for n in local.names : n => join("\n", ["#cloud-config", yamlencode({
      ssh_deletekeys = true
      ssh_keys = {
        ed25519_private = "${trimspace(tls_private_key.host[n].private_key_openssh)}\n"
        ed25519_public  = trimspace(tls_private_key.host[n].public_key_openssh)
      }
      ssh_authorized_keys = [trimspace(var.ssh_public_key)]
      runcmd              = local.efa_install
    })])
  }
}

resource "aws_instance" "host" {
  for_each        = local.names
  ami             = data.aws_ami.ubuntu.id
  instance_type   = var.instance_type
  placement_group = aws_placement_group.cluster.name

  primary_network_interface {
    network_interface_id = aws_network_interface.efa[each.key].id
  }

  user_data                   = local.user_data[each.key]
  user_data_replace_on_change = true

  root_block_device {
    volume_type = "gp3"
    volume_size = var.root_volume_gb
  }

  metadata_options {
    http_tokens = "required"
  }

  tags = { Name = each.key }

  depends_on = [aws_route_table_association.hosts]
}
