package client_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/tasks"
)

// A webhook receiver: verify the signature over the raw body, then act on
// the outcome.
func ExampleVerifyWebhook() {
	secret := []byte("the workers' WEBHOOK_SECRET")
	receiver := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		if err := client.VerifyWebhook(secret, r.Header.Get(client.WebhookSignatureHeader), body); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var e tasks.Event
		if err := json.Unmarshal(body, &e); err != nil {
			http.Error(w, "bad event", http.StatusBadRequest)
			return
		}
		if e.Outcome == tasks.OutcomeBlocked {
			fmt.Println("mark chat", e.Chat, "inactive:", e.Description)
		}
	})

	// What a telequeue worker sends:
	body := []byte(`{"id":"1733212345678-0","outcome":"blocked","task_id":"t1","method":"sendMessage","type":"telegram:send_message","bot":"default","chat":"42","error_code":403,"description":"Forbidden: bot was blocked by the user","time":"2026-12-03T08:00:00Z"}`)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts + "."))
	m.Write(body)
	for _, sig := range []string{hex.EncodeToString(m.Sum(nil)), "forged"} {
		req := httptest.NewRequest("POST", "/telequeue/events", strings.NewReader(string(body)))
		req.Header.Set(client.WebhookSignatureHeader, "t="+ts+",v1="+sig)
		rec := httptest.NewRecorder()
		receiver.ServeHTTP(rec, req)
		fmt.Println(rec.Code)
	}
	// Output:
	// mark chat 42 inactive: Forbidden: bot was blocked by the user
	// 200
	// 401
}
