package remote

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/tbctl/tbctl/collectors"
	"github.com/tbctl/tbctl/testbed/lab"
	"github.com/tbctl/tbctl/testbed/provider/remote/sshx"
)

// Collect runs `tbctl remote collect` on every host of the lab, which
// samples the host's nodes (interface counters, qdisc statistics) every
// interval and streams the samples back; each round goes to write as it
// arrives. stop ends the streams and returns the errors the hosts
// reported.
func (p *Provider) Collect(l *lab.Lab, rec *lab.Record, interval time.Duration, sources []string, write func([]collectors.Sample) error) (stop func() error, err error) {
	st, err := loadState(l)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, errNotDeployed(l.Name)
	}
	var streams []*sshx.Stream
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	stopAll := func() error {
		for _, s := range streams {
			s.Stdin.Close()
		}
		wg.Wait()
		for _, s := range streams {
			s.Session.Wait()
			s.Close()
		}
		mu.Lock()
		defer mu.Unlock()
		return errors.Join(errs...)
	}
	for _, h := range st.Hosts {
		c, err := p.connections().Client(context.Background(), h.Target)
		if err == nil {
			var s *sshx.Stream
			s, err = c.StartStream(HostBin, "remote", "collect", "--lab", h.Sub, "--interval", interval.String(), "--sources", strings.Join(sources, ","))
			if err == nil {
				streams = append(streams, s)
				wg.Add(1)
				go func(host string) {
					defer wg.Done()
					sc := bufio.NewScanner(s.Stdout)
					sc.Buffer(make([]byte, 64<<10), 16<<20)
					for sc.Scan() {
						var round []collectors.Sample
						var e struct{ Error string }
						var werr error
						switch {
						case json.Unmarshal(sc.Bytes(), &round) == nil:
							werr = write(round)
						case json.Unmarshal(sc.Bytes(), &e) == nil && e.Error != "":
							werr = errors.New(e.Error)
						}
						if werr != nil {
							mu.Lock()
							errs = append(errs, fmt.Errorf("%s: %w", host, werr))
							mu.Unlock()
						}
					}
				}(h.Target.Name)
			}
		}
		if err != nil {
			stopAll()
			return nil, err
		}
	}
	return stopAll, nil
}
