output "hosts" {
  description = "the hosts in the shape of tbctl's inventory (docs/remote.md): address, user, port, identity, pinned host key, labels"
  value = {
    for n in local.names : n => {
      address  = aws_eip.host[n].public_ip
      user     = var.ssh_user
      port     = 22
      identity = var.identity
      host_key = trimspace(tls_private_key.host[n].public_key_openssh)
      labels = {
        rack          = aws_placement_group.cluster.name
        instance_type = aws_instance.host[n].instance_type
        rdma          = "efa"
      }
    }
  }
}
