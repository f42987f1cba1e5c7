// Command gostream is a reference for bench/mycroft-busbw.sh: the
// plainest Go program that moves bytes around a ring. It listens for its
// left neighbour, dials its right one, then for a fixed time writes
// chunks to the right (walking a buffer as large as the AllReduce's)
// while reading from the left, through Go's net package with its
// defaults, and prints what it sent and received in GB/s. It does no
// reduction, no acknowledgement and has no dependencies between the two
// directions: what separates it from iperf3 is Go's default TCP path.
// The collective's transport differs from it by its work (reduction,
// acknowledgements, dependencies between steps) and by one tuning, the
// receive low-water mark (SO_RCVLOWAT) its reads set.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

func main() {
	listen := flag.String("listen", ":7700", "address to accept the left neighbour on")
	right := flag.String("right", "", "address of the right neighbour (host:port)")
	size := flag.Int("size", 64<<20, "bytes of the buffer the sender walks and the receiver fills")
	chunk := flag.Int("chunk", 512<<10, "bytes per write and per read")
	dur := flag.Duration("t", 5*time.Second, "how long to send")
	flag.Parse()
	if *right == "" || *chunk <= 0 || *size < *chunk {
		fmt.Fprintln(os.Stderr, "gostream: -right is required, and 0 < chunk <= size")
		os.Exit(2)
	}
	if err := run(*listen, *right, *size, *chunk, *dur); err != nil {
		fmt.Fprintln(os.Stderr, "gostream:", err)
		os.Exit(1)
	}
}

func run(listen, right string, size, chunk int, dur time.Duration) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	var out net.Conn
	deadline := time.Now().Add(10 * time.Second) // the neighbour may start later
	for {
		if out, err = net.Dial("tcp", right); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	var in net.Conn
	select {
	case c, ok := <-accepted:
		if !ok {
			return fmt.Errorf("accepting on %s failed", listen)
		}
		in = c
	case <-time.After(10 * time.Second):
		return fmt.Errorf("no left neighbour on %s within 10 s", listen)
	}
	defer in.Close()

	send, recv := make([]byte, size), make([]byte, size)
	for i := range send {
		send[i] = byte(i)
	}
	start := time.Now()
	sent := make(chan int64, 1)
	go func() {
		var n int64
		for off := 0; time.Since(start) < dur; off = (off + chunk) % (size - size%chunk) {
			w, err := out.Write(send[off : off+chunk])
			n += int64(w)
			if err != nil {
				break
			}
		}
		out.Close() // the right neighbour's reads end
		sent <- n
	}()
	var got int64
	for off := 0; ; off = (off + chunk) % (size - size%chunk) {
		r, err := io.ReadFull(in, recv[off:off+chunk])
		got += int64(r)
		if err != nil {
			break
		}
	}
	n := <-sent
	secs := time.Since(start).Seconds()
	fmt.Printf("%.4f %.4f\n", float64(n)/secs/1e9, float64(got)/secs/1e9)
	return nil
}
