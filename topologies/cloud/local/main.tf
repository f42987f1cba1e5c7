# A module that creates nothing outside OpenTofu's state: each host it is
# given becomes a terraform_data resource, and the output `hosts` lists them
# in the shape of tbctl's inventory (docs/remote.md). tbctl's tests use it to
# go through init, apply, output and destroy offline with hosts that already
# exist (SSH servers in network namespaces); cloud modules beside it have the
# same output.

variable "hosts" {
  description = "hosts by name: address, SSH port and user, key file, pinned host key, tunnel address, labels"
  type = map(object({
    address        = string
    tunnel_address = optional(string)
    port           = optional(number, 22)
    user           = string
    identity       = optional(string)
    host_key       = string
    labels         = optional(map(string), {})
  }))
}

resource "terraform_data" "host" {
  for_each = var.hosts
  input    = each.value
}

output "hosts" {
  description = "the inventory's hosts"
  value       = { for name, h in terraform_data.host : name => h.output }
}
