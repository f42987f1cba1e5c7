output "hosts" {
  description = "the hosts in the shape of tbctl's inventory (docs/remote.md): address, user, port, identity, pinned host key, labels"
  value = {
    for n in local.names : n => {
      address  = azurerm_public_ip.host[n].ip_address
      user     = azurerm_linux_virtual_machine.host[n].admin_username
      port     = 22
      identity = var.identity
      host_key = trimspace(tls_private_key.host[n].public_key_openssh)
      labels = {
        rdma    = "infiniband"
        vm_size = azurerm_linux_virtual_machine.host[n].size
      }
    }
  }
}
