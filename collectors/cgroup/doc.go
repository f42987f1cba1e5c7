// Package cgroup accounts the CPU time and memory of each lab node through
// cgroups: the runner makes one group per node, <root>/tbctl/<lab>/<node>,
// and moves every role process it starts on the node into it; a [Sampler]
// then reads each group's cumulative CPU time (cpu_usage_ns) and memory
// (memory_bytes, and memory_max_bytes when limited). Sampling only reads;
// the package changes nothing but its own groups ([Create], [Group.Add],
// [Group.Remove], [RemoveLab]).
//
// The hierarchy is found in /proc/self/mountinfo: cgroup v2 when a cgroup2
// mount offers the cpu and memory controllers (Create then enables them in
// cgroup.subtree_control of the root, tbctl and tbctl/<lab>, which hold no
// processes themselves), otherwise the cgroup v1 hierarchies with the
// cpuacct controller and, if mounted, the memory controller. A cgroup2
// mount without controllers, as in systemd's hybrid mode, is not used.
//
// Under cgroup v1, memory a process allocated before it was added stays
// charged to its former group; add processes as early as possible.
//
// The fault engine's CPU-cap ("straggler") fault, testbed/fault, moves a
// node's processes into a group of its own, tbctl-<lab>-<node>-<time> at
// the root of the hierarchy with the cpu controller, and back when the
// fault is undone. Where that hierarchy is not the one CPU time is read
// from (cgroup v1 with cpu and cpuacct mounted apart), the node's
// accounting is unaffected. Where it is (cgroup v2, or v1 with cpu and
// cpuacct mounted together), the Sampler adds the CPU time of the node's
// cap groups to the node's, and under v2 their memory, and carries the
// CPU time of a cap group on once it is removed, so cpu_usage_ns stays
// cumulative; what the processes used between the last sample and the
// group's removal is lost. Under v2, memory charged while capped stays
// with the cap group and goes to the root when it is removed, so the
// node's memory_bytes drops by that much. The cap groups are told apart by
// name only: labs "a" and "a-b" with nodes "b-c" and "c" would be mixed.
package cgroup
