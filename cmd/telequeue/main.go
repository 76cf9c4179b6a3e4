// Command telequeue queues Telegram messages and reports on them:
//
//	telequeue send --chat 42 "hello"
//	telequeue send --jsonl messages.jsonl
//	telequeue status ID
//	telequeue dev
//
// Run "telequeue help" for the details.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/telequeue/telequeue/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.LookupEnv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
