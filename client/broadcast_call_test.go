package client_test

import (
	"context"
	"errors"
	"testing"

	"github.com/mymmrac/telego"
	tu "github.com/mymmrac/telego/telegoutil"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/internal/broadcast"
	"github.com/telequeue/telequeue/tasks"
)

// TestBroadcastCall: a broadcast of a photo upload stores the call once
// (without a chat) and the file once, held by the broadcast; a chat_id, an
// invalid parameter or a method that sends nothing is refused, storing
// nothing.
func TestBroadcastCall(t *testing.T) {
	t.Parallel()
	b := setup(t, client.Config{Bots: []string{"default", "promo"}})
	ctx := context.Background()
	photo := []byte("a photo of 25 bytes......")
	r, err := b.c.BroadcastCall(ctx, &telego.SendPhotoParams{Photo: file(photo, "offer.png"), Caption: "50% off"},
		[]int64{1, 2, 3, 2}, client.Bot("promo"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Total != 3 || r.Duplicates != 1 {
		t.Errorf("receipt %+v", r)
	}
	raw, _, err := broadcast.NewStore(b.rdb).Message(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	call, err := tasks.ParseBroadcastCall(raw)
	if err != nil {
		t.Fatalf("stored call %s: %v", raw, err)
	}
	if call.Bot != "promo" || call.Method != "sendPhoto" || len(call.Uploads) != 1 {
		t.Errorf("stored call %s", raw)
	}
	for _, u := range call.Uploads {
		if u.Size != int64(len(photo)) {
			t.Errorf("upload %+v", u)
		}
		b.stored(t, photo, r.ID) // held by the broadcast
	}

	// A retry with the broadcast's idempotency key is refused as a
	// duplicate and leaves the live broadcast's hold on the file: both
	// name the broadcast by the key.
	keyed, err := b.c.BroadcastCall(ctx, &telego.SendPhotoParams{Photo: file(photo, "offer.png")}, []int64{7, 8},
		client.Bot("promo"), client.IdempotencyKey("spring-sale"))
	if err != nil {
		t.Fatal(err)
	}
	var de *client.DuplicateError
	if _, err := b.c.BroadcastCall(ctx, &telego.SendPhotoParams{Photo: file(photo, "offer.png")}, []int64{7, 8},
		client.Bot("promo"), client.IdempotencyKey("spring-sale")); !errors.As(err, &de) || de.ID != keyed.ID {
		t.Fatalf("retry with the key: %v, want a DuplicateError naming %s", err, keyed.ID)
	}
	b.stored(t, photo, r.ID, keyed.ID)

	before := b.uploadKeys(t)
	for _, tc := range []struct {
		name   string
		params any
		field  string
	}{
		{"a chat", &telego.SendPhotoParams{ChatID: tu.ID(5), Photo: file(photo, "x.png")}, "chat_id"},
		{"caption too long", &telego.SendPhotoParams{Photo: file(photo, "x.png"), Caption: string(make([]byte, 2000))}, "caption"},
		{"not a send", &telego.DeleteMessageParams{MessageID: 3}, "method"},
	} {
		var ve *tasks.ValidationError
		if _, err := b.c.BroadcastCall(ctx, tc.params, []int64{1}); !errors.As(err, &ve) || ve.Field != tc.field {
			t.Errorf("%s: %v, want a ValidationError on %s", tc.name, err, tc.field)
		}
	}
	if after := b.uploadKeys(t); len(after) != len(before) {
		t.Errorf("refused broadcasts stored uploads: %v -> %v", before, after)
	}
}
