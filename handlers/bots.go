package handlers

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/mymmrac/telego"
)

// BotsConfig describes the bots a worker sends with.
type BotsConfig struct {
	// Tokens maps bot names to tokens. Tokens come only from the worker's
	// environment; they never enter Redis, a payload, a log line or an error.
	Tokens map[string]string
	// APIURL is the Bot API server, e.g. https://api.telegram.org.
	APIURL string
	// Timeout bounds one Bot API request (default 15s).
	Timeout time.Duration
}

// NewBots creates one telego client per configured bot, once, sharing one
// connection pool. Errors name the bot, never the token.
func NewBots(cfg BotsConfig) (map[string]Sender, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	c := newCaller(cfg.Timeout)
	bots := make(map[string]Sender, len(cfg.Tokens))
	names := make([]string, 0, len(cfg.Tokens))
	for name := range cfg.Tokens {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		opts := []telego.BotOption{telego.WithAPICaller(c), telego.WithDiscardLogger()}
		if cfg.APIURL != "" {
			opts = append(opts, telego.WithAPIServer(strings.TrimRight(cfg.APIURL, "/")))
		}
		bot, err := telego.NewBot(cfg.Tokens[name], opts...)
		if err != nil {
			// telego's validation errors do not quote the token, but do not
			// rely on it.
			return nil, fmt.Errorf("bot %q: invalid token (want digits:35 characters)", name)
		}
		bots[name] = bot
	}
	return bots, nil
}
