package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"

	ta "github.com/mymmrac/telego/telegoapi"
	"github.com/valyala/fasthttp"
)

// TransportError is a failed Bot API call that got no usable answer: a
// network error, a timeout, a 5xx status or an unreadable body. Its text never
// includes the request URL (which holds the token).
type TransportError struct {
	// Kind is "timeout", "network", "server" or "response".
	Kind string
	// StatusCode is the HTTP status for Kind "server".
	StatusCode int
	err        error
}

func (e *TransportError) Error() string {
	switch e.Kind {
	case "server":
		return fmt.Sprintf("telegram: server error %d", e.StatusCode)
	case "timeout":
		return "telegram: request timed out"
	case "response":
		return "telegram: unreadable response"
	default:
		return "telegram: network error: " + networkSummary(e.err)
	}
}

// Unwrap exposes the cause for errors.Is (e.g. fasthttp.ErrTimeout). Its
// text is never used.
func (e *TransportError) Unwrap() error { return e.err }

// networkSummary describes a network error without any URL.
func networkSummary(err error) string {
	var opErr *net.OpError
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr):
		return "DNS lookup failed"
	case errors.As(err, &opErr):
		if opErr.Err != nil {
			var sysErr interface{ Timeout() bool }
			if errors.As(opErr.Err, &sysErr) && sysErr.Timeout() {
				return opErr.Op + " timed out"
			}
			return opErr.Op + ": " + opErr.Err.Error()
		}
		return opErr.Op + " failed"
	case errors.Is(err, fasthttp.ErrConnectionClosed):
		return "connection closed by server"
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		return "no free connections"
	case errors.Is(err, context.Canceled):
		return "canceled"
	default:
		return "connection failed"
	}
}

// caller is a telegoapi.Caller over fasthttp that returns [*TransportError]
// for everything that is not a Bot API answer, so that no error text can carry
// the URL.
type caller struct {
	client *fasthttp.Client
}

var _ ta.Caller = caller{}

func newCaller(timeout time.Duration) caller {
	return caller{client: &fasthttp.Client{
		Name:                          "telequeue",
		MaxConnsPerHost:               1024,
		MaxIdleConnDuration:           90 * time.Second,
		ReadTimeout:                   timeout,
		WriteTimeout:                  timeout,
		NoDefaultUserAgentHeader:      false,
		DisableHeaderNamesNormalizing: false,
		// Never resend a sendMessage on our own: Telegram may have got it.
		RetryIfErr: func(*fasthttp.Request, int, error) (resetTimeout, retry bool) { return false, false },
	}}
}

func (c caller) Call(ctx context.Context, url string, data *ta.RequestData) (*ta.Response, error) {
	return post(ctx, c, url, data, decodeAnswer)
}

// post sends data to url and returns what read makes of the answer's HTTP
// status and body; the body is valid only during read. Everything that is
// not an answer is a [*TransportError].
func post[T any](ctx context.Context, c caller, url string, data *ta.RequestData, read func(status int, body []byte) (T, error)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, &TransportError{Kind: "network", err: err}
	}
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)

	req.SetRequestURI(url)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType(data.ContentType)
	switch {
	case data.BodyRaw != nil:
		req.SetBodyRaw(data.BodyRaw)
	case data.BodyStream != nil:
		req.SetBodyStream(data.BodyStream, -1)
	default:
		return zero, &TransportError{Kind: "network", err: errors.New("no request body")}
	}

	var err error
	if deadline, ok := ctx.Deadline(); ok {
		err = c.client.DoDeadline(req, resp, deadline)
	} else {
		err = c.client.Do(req, resp)
	}
	if err != nil {
		if errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, fasthttp.ErrDialTimeout) || errors.Is(err, fasthttp.ErrTLSHandshakeTimeout) {
			return zero, &TransportError{Kind: "timeout", err: err}
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return zero, &TransportError{Kind: "timeout", err: err}
		}
		return zero, &TransportError{Kind: "network", err: err}
	}
	return read(resp.StatusCode(), resp.Body())
}

// decodeAnswer decodes a Bot API answer. A body that is not one, or a 5xx
// status without a successful answer, is a [*TransportError]; a refused call
// is a Response with Ok false and its Error set.
func decodeAnswer(status int, body []byte) (*ta.Response, error) {
	var apiResp ta.Response
	if jsonErr := json.Unmarshal(body, &apiResp); jsonErr != nil || (!apiResp.Ok && apiResp.Error == nil) {
		if status >= 500 {
			return nil, &TransportError{Kind: "server", StatusCode: status}
		}
		return nil, &TransportError{Kind: "response", StatusCode: status}
	}
	if status >= 500 && !apiResp.Ok {
		// A 5xx that carries a Bot API error body is still transient.
		return nil, &TransportError{Kind: "server", StatusCode: status}
	}
	return &apiResp, nil
}
