// This file is not part of containerlab: scripts/install-containerlab.sh adds
// it to containerlab's runtime/docker package (and a call to
// tbctlUnprivileged before ContainerCreate) when it builds containerlab.
//
// containerlab creates every container with --privileged. Docker then asks
// runc for every capability the kernel knows, and runc fails ("unable to
// apply caps: operation not permitted") when the capability bounding set
// lacks one, as on sandboxes whose init drops CAP_SYS_RESOURCE. On such a
// host a node gets every capability but the missing ones, and no seccomp,
// AppArmor or SELinux confinement, instead of --privileged. Elsewhere
// nothing changes.

package docker

import (
	"os"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"
	log "github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// tbctlCapNames are the capabilities by number (linux/capability.h).
var tbctlCapNames = []string{
	"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL",
	"SETGID", "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE",
	"NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
	"SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
	"SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME",
	"SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL",
	"SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM",
	"BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
}

// tbctlMissingCaps returns the capabilities the kernel knows that are not in
// this process's bounding set.
func tbctlMissingCaps() []string {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return nil
	}
	last, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return nil
	}
	var missing []string
	for c := 0; c <= last && c < len(tbctlCapNames); c++ {
		if in, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0); err == nil && in == 0 {
			missing = append(missing, "CAP_"+tbctlCapNames[c])
		}
	}
	return missing
}

func tbctlUnprivileged(hc *container.HostConfig) {
	missing := tbctlMissingCaps()
	if !hc.Privileged || len(missing) == 0 {
		return
	}
	log.Debugf("capability bounding set lacks %v: creating the container with all other capabilities instead of --privileged", missing)
	hc.Privileged = false
	hc.CapAdd = append(hc.CapAdd, "ALL")
	hc.CapDrop = append(hc.CapDrop, missing...)
	hc.SecurityOpt = append(hc.SecurityOpt, "seccomp=unconfined", "apparmor=unconfined", "label=disable")
}
