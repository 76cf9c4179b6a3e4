package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client drives a sandbox in another process through its admin API.
type Client struct {
	base string
	hc   *http.Client
}

// NewClient returns a Client for the sandbox at baseURL (as printed by
// cmd/sandbox or returned by [Sandbox.Start]). hc nil means
// http.DefaultClient.
func NewClient(baseURL string, hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), hc: hc}
}

// ErrWaitTimeout is returned by [Client.WaitFor] when the sandbox's wait
// ended before enough messages arrived.
var ErrWaitTimeout = errors.New("sandbox: wait timed out")

func (c *Client) do(ctx context.Context, method, path string, in, out any, want ...int) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("sandbox client: encode: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("sandbox client: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("sandbox client: %s %s: %w", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	ok := false
	for _, code := range want {
		ok = ok || resp.StatusCode == code
	}
	if !ok {
		var e adminErr
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		if resp.StatusCode == http.StatusRequestTimeout {
			return ErrWaitTimeout
		}
		return fmt.Errorf("sandbox client: %s %s: %s: %s", method, path, resp.Status, e.Error)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("sandbox client: %s %s: decode: %w", method, path, err)
	}
	return nil
}

// Messages returns the delivered messages, all of them if chat is "",
// otherwise those sent to chat ("123" or "@name").
func (c *Client) Messages(ctx context.Context, chat string) ([]Received, error) {
	path := "/sandbox/messages"
	if chat != "" {
		path += "?chat=" + url.QueryEscape(chat)
	}
	var out []Received
	err := c.do(ctx, http.MethodGet, path, nil, &out, http.StatusOK)
	return out, err
}

// Message returns the current state of message id that bot sent to chat
// ("123" or "@name").
func (c *Client) Message(ctx context.Context, bot int64, chat string, id int64) (MessageState, error) {
	q := url.Values{"bot": {strconv.FormatInt(bot, 10)}, "chat": {chat}, "id": {strconv.FormatInt(id, 10)}}
	var m MessageState
	err := c.do(ctx, http.MethodGet, "/sandbox/state?"+q.Encode(), nil, &m, http.StatusOK)
	return m, err
}

// ChatMessages returns the state of every message bot sent to chat, by
// message id.
func (c *Client) ChatMessages(ctx context.Context, bot int64, chat string) ([]MessageState, error) {
	q := url.Values{"bot": {strconv.FormatInt(bot, 10)}, "chat": {chat}}
	var out []MessageState
	err := c.do(ctx, http.MethodGet, "/sandbox/state?"+q.Encode(), nil, &out, http.StatusOK)
	return out, err
}

// Stats returns the sandbox's statistics.
func (c *Client) Stats(ctx context.Context) (Stats, error) {
	var st Stats
	err := c.do(ctx, http.MethodGet, "/sandbox/stats", nil, &st, http.StatusOK)
	return st, err
}

// AddRule installs r and returns its id.
func (c *Client) AddRule(ctx context.Context, r Rule) (int, error) {
	var id ruleID
	err := c.do(ctx, http.MethodPost, "/sandbox/rules", r, &id, http.StatusCreated)
	return id.ID, err
}

// RemoveRule removes the rule with the given id.
func (c *Client) RemoveRule(ctx context.Context, id int) error {
	return c.do(ctx, http.MethodDelete, "/sandbox/rules/"+strconv.Itoa(id), nil, nil, http.StatusNoContent)
}

// ClearRules removes every rule.
func (c *Client) ClearRules(ctx context.Context) error {
	return c.do(ctx, http.MethodDelete, "/sandbox/rules", nil, nil, http.StatusNoContent)
}

// Reset forgets messages, statistics and limit state; rules and limits stay.
func (c *Client) Reset(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/sandbox/reset", nil, nil, http.StatusNoContent)
}

// SetLimits replaces the limits in force.
func (c *Client) SetLimits(ctx context.Context, l Limits) error {
	return c.do(ctx, http.MethodPut, "/sandbox/limits", l, nil, http.StatusOK)
}

// WaitFor blocks until the sandbox has delivered at least n messages or ctx
// ends, long-polling the admin API.
func (c *Client) WaitFor(ctx context.Context, n int) error {
	for {
		timeout := defaultWaitTimeout
		if dl, ok := ctx.Deadline(); ok {
			timeout = min(timeout, time.Until(dl))
		}
		if timeout <= 0 {
			return context.DeadlineExceeded
		}
		path := fmt.Sprintf("/sandbox/wait?n=%d&timeout=%s", n, timeout)
		err := c.do(ctx, http.MethodGet, path, nil, nil, http.StatusOK)
		if !errors.Is(err, ErrWaitTimeout) {
			if err != nil && ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}
