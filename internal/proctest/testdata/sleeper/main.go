// Command sleeper is proctest's test subject: it prints "ready", burns CPU
// when given -spin, and exits with status 3 on SIGTERM.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	spin := flag.Duration("spin", 0, "busy-loop this long after start")
	flag.Parse()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	fmt.Fprintln(os.Stderr, "ready", os.Getenv("PROCTEST_VALUE"))
	for end := time.Now().Add(*spin); time.Now().Before(end); {
	}
	<-sig
	fmt.Fprintln(os.Stderr, "terminating")
	os.Exit(3)
}
