output "hosts" {
  description = "the hosts in the shape of tbctl's inventory (docs/remote.md): address, user, port, identity, pinned host key, labels"
  value = {
    for n in local.names : n => {
      address  = google_compute_instance.host[n].network_interface[0].access_config[0].nat_ip
      user     = var.ssh_user
      port     = 22
      identity = var.identity
      host_key = local.host_pub[n]
      labels = {
        rack         = var.compact_placement ? google_compute_resource_policy.placement[0].name : var.zone
        machine_type = google_compute_instance.host[n].machine_type
        rdma         = "irdma"
      }
    }
  }

  # With wait_for_host_key, the hosts are listed only once each presents
  # its pinned key.
  depends_on = [terraform_data.host_key]
}
