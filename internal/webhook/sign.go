// Package webhook delivers outcome events to an HTTP receiver: a
// [Dispatcher] reads the outcome stream in a consumer group and queues one
// asynq task per event ([tasks.TypeWebhook], on [tasks.QueueWebhooks]); a
// [Handler] POSTs it, signed, and fails the task on anything but a 2xx answer
// so that asynq retries it with backoff and archives it after MaxRetry, where
// the dashboard shows it.
//
// # Signatures
//
// Each request carries
//
//	Telequeue-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
//
// as Stripe signs its webhooks. A receiver recomputes the HMAC over the raw
// body, compares in constant time, and rejects a timestamp outside its
// replay window (5 minutes is usual: [DefaultTolerance]). Each delivery
// attempt is signed anew, so a retry an hour later still passes; the event id
// (Telequeue-Event-Id, also in the body) identifies a redelivery.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Headers of a delivery.
const (
	SignatureHeader = "Telequeue-Signature"
	EventIDHeader   = "Telequeue-Event-Id"
	AttemptHeader   = "Telequeue-Delivery-Attempt"
)

// DefaultTolerance is the replay window receivers should apply.
const DefaultTolerance = 5 * time.Minute

// Errors of [Verify].
var (
	ErrBadSignature = errors.New("webhook: signature does not match")
	ErrTooOld       = errors.New("webhook: timestamp outside the replay window")
	ErrMalformed    = errors.New("webhook: malformed signature header")
)

// Sign returns the signature header value for body sent at t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a signature header against body: one of its v1 signatures
// must match, and its timestamp must be within tolerance of now.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ErrMalformed
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			sig, err := hex.DecodeString(v)
			if err != nil {
				return ErrMalformed
			}
			sigs = append(sigs, sig)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrMalformed
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: %s old", ErrTooOld, d.Round(time.Second))
	}
	want := mac(secret, ts, body)
	for _, sig := range sigs {
		if hmac.Equal(sig, want) {
			return nil
		}
	}
	return ErrBadSignature
}
