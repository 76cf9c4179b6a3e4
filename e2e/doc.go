// Package e2e runs telequeue the way a deployment does: worker processes
// built from cmd/worker on one real redis-server, messages enqueued by the
// telequeue CLI, Telegram played by the sandbox.
package e2e
