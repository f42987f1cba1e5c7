// Package integration holds tests that deploy real labs on this machine. They
// need root and network namespaces; without them they skip and say why. They
// drive the engine through package testbed and, where the CLI contract is
// what is tested (exit statuses, stdio, SIGKILL), through the tbctl binary
// named by TBCTL_BIN (make test sets it).
package integration
