// Package all imports every role package so that their init functions
// register them. Import it for its side effect.
package all

import (
	_ "github.com/tbctl/tbctl/roles/mycroft"          // ring AllReduce training loop with Mycroft-style tracing
	_ "github.com/tbctl/tbctl/roles/mycroft/analyzer" // live diagnosis of a mycroft ring's hangs and slowdowns
	_ "github.com/tbctl/tbctl/roles/traffic"          // tcp, udp and rr traffic and its server
)
