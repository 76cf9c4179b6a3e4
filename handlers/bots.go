package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/mymmrac/telego"
	ta "github.com/mymmrac/telego/telegoapi"
)

// BotsConfig describes the bots a worker sends with.
type BotsConfig struct {
	// Tokens maps bot names to tokens. Tokens come only from the worker's
	// environment; they never enter Redis, a payload, a log line or an error.
	Tokens map[string]string
	// APIURL is the Bot API server; default [DefaultAPIURL].
	APIURL string
	// Timeout bounds one Bot API request (default 15s).
	Timeout time.Duration
}

// NewBots creates one sender per configured bot, once, sharing one
// connection pool. Errors name the bot, never the token.
//
// A sender speaks the Bot API with telego's types (SendMessageParams,
// Message, telegoapi.Response and the *telegoapi.Error of a refused call) over
// telequeue's fasthttp caller, but does not go through telego.Bot's generic
// request path: for every call that path encodes the whole response a second
// time for a debug log line (even with logging discarded) and decodes the full
// Message, and its go-json encoder grows each task goroutine's stack; together
// 15–20% of a worker's CPU in the 6 × 10 benchmark (BENCHMARKS.md).
func NewBots(cfg BotsConfig) (map[string]Sender, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	api := strings.TrimRight(cfg.APIURL, "/")
	if api == "" {
		api = DefaultAPIURL
	}
	c := newCaller(cfg.Timeout)
	bots := make(map[string]Sender, len(cfg.Tokens))
	names := make([]string, 0, len(cfg.Tokens))
	for name := range cfg.Tokens {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		token := cfg.Tokens[name]
		// telego's token check, so that a token it would refuse is refused
		// here too. Its errors do not quote the token, but do not rely on it.
		if _, err := telego.NewBot(token, telego.WithDiscardLogger()); err != nil {
			return nil, fmt.Errorf("bot %q: invalid token (want digits:35 characters)", name)
		}
		base := api + "/bot" + token + "/"
		bots[name] = &botClient{baseURL: base, sendMessageURL: base + "sendMessage", caller: c}
	}
	return bots, nil
}

// DefaultAPIURL is Telegram's Bot API server, used when APIURL is empty.
const DefaultAPIURL = "https://api.telegram.org"

// botClient is one bot's [Sender].
type botClient struct {
	// baseURL and sendMessageURL hold the token: they go to the caller
	// and nowhere else (the caller's errors never include it).
	baseURL, sendMessageURL string
	caller                  caller
}

var (
	_ Sender       = (*botClient)(nil)
	_ MethodCaller = (*botClient)(nil)
)

// CallMethod calls method with body and returns Telegram's result. Errors
// are as SendMessage's.
func (b *botClient) CallMethod(ctx context.Context, method string, body *ta.RequestData) (json.RawMessage, error) {
	resp, err := b.caller.Call(ctx, b.baseURL+method, body)
	if err != nil {
		return nil, callError(err)
	}
	if !resp.Ok {
		return nil, callError(resp.Error)
	}
	return resp.Result, nil
}

// SendMessage calls sendMessage. Its errors are those of telego.Bot's: a
// refused call wraps a *telegoapi.Error, anything else wraps the caller's
// [*TransportError].
func (b *botClient) SendMessage(ctx context.Context, params *telego.SendMessageParams) (*telego.Message, error) {
	data, err := sendMessageRequest(params)
	if err != nil {
		return nil, fmt.Errorf("internal execution: %w", err)
	}
	m, err := post(ctx, b.caller, b.sendMessageURL, data, readSentMessage)
	if err != nil {
		return nil, callError(err)
	}
	return m, nil
}

// callError wraps the error of a call as telego.Bot does: "api: " for a
// refused call (a *telegoapi.Error), "internal execution: " for the rest.
func callError(err error) error {
	if refused := (*ta.Error)(nil); errors.As(err, &refused) {
		return fmt.Errorf("api: %w", err)
	}
	return fmt.Errorf("internal execution: %w", err)
}

// jsonRequest encodes request parameters with encoding/json. The JSON is
// telego's (both follow the struct tags and telego's MarshalJSON methods)
// except that encoding/json honours the `omitzero` tags telego uses and its
// go-json encoder ignores: telego.Bot sends "reply_parameters":{"chat_id":""}
// for a reply within the same chat, telequeue leaves chat_id out.
func jsonRequest(parameters any) (*ta.RequestData, error) {
	data, err := json.Marshal(parameters)
	if err != nil {
		return nil, fmt.Errorf("encode json: %w", err)
	}
	return &ta.RequestData{ContentType: ta.ContentTypeJSON, BodyRaw: data}, nil
}
