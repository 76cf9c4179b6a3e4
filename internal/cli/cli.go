// Package cli implements the telequeue command: a subcommand dispatcher over
// the client package, run through [Main] so that tests drive it exactly as a
// shell does.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/internal/config"
	"github.com/telequeue/telequeue/internal/devmode"
)

// Exit statuses of [Main].
const (
	ExitOK      = 0
	ExitFailure = 1 // the command ran and failed (or some JSONL lines did)
	ExitUsage   = 2 // bad command line
)

// env is what a command may use of the process.
type env struct {
	lookup func(string) (string, bool)
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// command is one subcommand.
type command struct {
	name    string
	args    string // synopsis after the name
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

func commands() []command {
	return []command{
		{"send", "[flags] TEXT | --jsonl FILE|-", "queue a message, or one message per JSON line", runSend},
		{"call", "[flags] METHOD JSON|-", "queue a call of any Bot API method (sendPhoto, editMessageText, ...)", runCall},
		{"status", "[--json] ID", "show a task's state, attempts, last error and message_id", runStatus},
		{"broadcast", "--chats FILE TEXT | status ID | --cancel ID | --blocked ID", "send one message to many chats; progress, cancel, blocked chats", runBroadcast},
		{"dev", "", "run telequeue on this machine for development", runDev},
		{"help", "[COMMAND]", "show help", nil}, // handled by Main
	}
}

// usageError is a bad command line: Main prints it with the usage hint and
// exits with ExitUsage.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// errReported means the command already told the user what failed (e.g.
// per-line JSONL errors); Main only sets the exit status.
var errReported = errors.New("reported")

// Main runs the telequeue command with args (without the program name) and
// returns the process exit status. lookup reads the environment
// (os.LookupEnv in main).
func Main(ctx context.Context, args []string, lookup func(string) (string, bool), stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{lookup: lookup, stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		printUsage(stderr)
		return ExitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		return help(stdout, stderr, rest)
	}
	for _, cmd := range commands() {
		if cmd.name != name || cmd.run == nil {
			continue
		}
		err := cmd.run(ctx, e, rest)
		var uerr *usageError
		switch {
		case err == nil:
			return ExitOK
		case errors.Is(err, flag.ErrHelp):
			return ExitOK
		case errors.As(err, &uerr):
			fmt.Fprintf(stderr, "telequeue %s: %v\nRun 'telequeue help %s' for usage.\n", name, err, name)
			return ExitUsage
		case errors.Is(err, errReported):
			return ExitFailure
		default:
			fmt.Fprintf(stderr, "telequeue %s: %v\n", name, err)
			return ExitFailure
		}
	}
	fmt.Fprintf(stderr, "telequeue: unknown command %q\n", name)
	printUsage(stderr)
	return ExitUsage
}

func help(stdout, stderr io.Writer, args []string) int {
	if len(args) == 0 {
		printUsage(stdout)
		return ExitOK
	}
	for _, cmd := range commands() {
		if cmd.name == args[0] && cmd.run != nil {
			// Each command prints its own usage on -h.
			_ = cmd.run(context.Background(), &env{stdout: stdout, stderr: stdout}, []string{"-h"})
			return ExitOK
		}
	}
	fmt.Fprintf(stderr, "telequeue help: unknown command %q\n", args[0])
	return ExitUsage
}

func printUsage(w io.Writer) {
	var b strings.Builder
	b.WriteString("telequeue queues Telegram messages for telequeue workers through Redis.\n\nUsage:\n\n")
	for _, cmd := range commands() {
		b.WriteString(strings.TrimRight(fmt.Sprintf("  telequeue %-9s %s", cmd.name, cmd.args), " ") + "\n")
	}
	b.WriteString("\nCommands:\n\n")
	for _, cmd := range commands() {
		fmt.Fprintf(&b, "  %-9s %s\n", cmd.name, cmd.summary)
	}
	b.WriteString("\nConfiguration comes from the environment: REDIS_URL (required), TELEGRAM_BOTS /\n" +
		"TELEGRAM_BOT_TOKEN (known bot names; without them, the names the running workers\n" +
		"registered in Redis), MAX_RETRY, RESULT_RETENTION, LOG_LEVEL.\n" +
		"Run 'telequeue help COMMAND' for a command's flags.\n")
	_, _ = io.WriteString(w, b.String())
}

// flagSet is a command's flags and the usage text -h prints.
type flagSet struct {
	*flag.FlagSet
	out   io.Writer
	usage string
}

// newFlagSet returns a flag set that returns errors (Main prints them) and
// prints its usage to e.stderr on -h.
func newFlagSet(e *env, name, args, about string) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &flagSet{FlagSet: fs, out: e.stderr, usage: fmt.Sprintf("Usage: telequeue %s %s\n\n%s\n", name, args, about)}
}

func (fs *flagSet) printUsage() {
	fmt.Fprint(fs.out, fs.usage)
	var hasFlags bool
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		fmt.Fprintln(fs.out, "\nFlags:")
		fs.SetOutput(fs.out)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
}

// parseFlags parses args, allowing flags after positional arguments
// ("send 'hi' --chat 42"); "--" ends the flags.
func parseFlags(fs *flagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.printUsage()
				return nil, err
			}
			return nil, &usageError{msg: err.Error()}
		}
		rest := fs.Args()
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(positional, rest...), nil
		}
		if len(rest) == 0 {
			return positional, nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// reportDuplicate handles the outcome of a call that may repeat an
// idempotency key: for a *client.DuplicateError it prints the id of the
// first task or broadcast (what) on stdout and a note on stderr, and
// reports true with a nil error; other errors are returned as they are.
func reportDuplicate(e *env, cmd, what string, err error) (bool, error) {
	var dup *client.DuplicateError
	if !errors.As(err, &dup) {
		return false, err
	}
	fmt.Fprintf(e.stderr, "telequeue %s: key %q was already used by %s %s: nothing queued\n", cmd, dup.Key, what, dup.ID)
	fmt.Fprintln(e.stdout, dup.ID)
	return true, nil
}

// optionFlags name the flags behind the client's options.
var optionFlags = map[string]string{
	"Priority":             "--priority",
	"IdempotencyKey":       "--key",
	"SendIn":               "--in",
	"Ordered":              "--ordered",
	"BroadcastParallelism": "--parallelism",
}

// flagError restates a *client.OptionError as a usage error naming the
// flag behind the option; other errors are returned as they are.
func flagError(err error) error {
	var oe *client.OptionError
	if errors.As(err, &oe) {
		if flag, ok := optionFlags[oe.Option]; ok {
			return usagef("%s: %v", flag, oe.Err)
		}
	}
	return err
}

// newClient loads the configuration from the environment and connects.
func newClient(e *env) (*client.Client, error) {
	cfg, err := config.Load(e.lookup, true)
	if err != nil {
		return nil, err
	}
	rc, err := cfg.Redis()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	level, err := config.ParseLevel(cfg.LogLevel)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return client.New(client.Config{
		Redis:          rc,
		Bots:           cfg.ProducerBotNames(),
		Retention:      cfg.ResultRetention,
		MaxRetry:       cfg.MaxRetry,
		UploadMaxBytes: cfg.UploadMaxBytes,
		Logger:         slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level})),
	})
}

// runDev hands over to dev mode, which owns its flags and configuration.
func runDev(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "dev", "", "Runs telequeue on this machine for development (see the README).")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("dev takes no arguments")
	}
	return devmode.Run(ctx, e.lookup, e.stdout, e.stderr)
}
