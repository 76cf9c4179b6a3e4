package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/telequeue/telequeue/internal/broadcast"
	"github.com/telequeue/telequeue/internal/sandbox"
	"github.com/telequeue/telequeue/tasks"
)

// TestBroadcastOfAnUploadedPhoto: a broadcast of any send-type method (here
// a photo upload with a caption) reaches every recipient once, and the
// photo is uploaded once although several chunks send at the same time:
// every other send goes by the file_id of the first. When the broadcast is
// done, the upload is removed.
func TestBroadcastOfAnUploadedPhoto(t *testing.T) {
	t.Parallel()
	e := setupCalls(t)
	ctx := context.Background()
	const id, recipients, lanes = "photo-bc", 1000, 4

	// Uploads are slow (Telegram takes the bytes): every chunk starts
	// while the first upload is still in flight.
	e.sandbox.AddRule(sandbox.Rule{Method: "sendPhoto", Kind: sandbox.KindLatency, Latency: 300 * time.Millisecond, Times: 4})
	u := e.put(t, id, bytes.Repeat([]byte("photo"), 4000), "offer.png")
	call := &tasks.Call{Version: tasks.CallVersion, Method: "sendPhoto",
		Params:  json.RawMessage(`{"photo":"attach://offer","caption":"50% off today"}`),
		Uploads: map[string]tasks.Upload{"offer": u}}
	if err := tasks.ValidateBroadcastCall(call); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(call)
	ids := make([]int64, recipients)
	for i := range ids {
		ids[i] = int64(3000 + i)
	}
	store := broadcast.NewStore(e.rdb)
	size := recipients / lanes
	if err := store.Create(ctx, &broadcast.Spec{ID: id, Bot: tasks.DefaultBot, Message: body, Recipients: ids,
		ChunkSize: size, Lanes: lanes, TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	for chunk := range lanes {
		task, err := tasks.NewBroadcastChunkTask(&tasks.BroadcastChunk{Broadcast: id, Chunk: chunk})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.client.Enqueue(task); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		info, err := store.Info(ctx, id)
		if err == nil && info.Pending() == 0 {
			if info.Sent != recipients {
				t.Fatalf("broadcast settled with %d sent of %d: %+v", info.Sent, recipients, info)
			}
			break
		}
		if time.Now().After(deadline) {
			for chunk := range lanes {
				ti, terr := e.inspector.GetTaskInfo(tasks.QueueBulk, tasks.BroadcastChunkTaskID(id, chunk))
				t.Logf("chunk %d: %v %v", chunk, stateOf(ti), terr)
			}
			t.Fatalf("broadcast not done within 30s: %+v, %v", info, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	st := e.sandbox.Stats()
	if st.Uploads != 1 {
		t.Errorf("the photo was uploaded %d times for %d recipients; want once", st.Uploads, recipients)
	}
	if n := st.Methods["sendPhoto"].OK; n != recipients {
		t.Errorf("%d photos delivered, want %d", n, recipients)
	}
	for _, chat := range []string{"3000", "3999"} {
		msgs := e.sandbox.ChatMessages(testBotID, chat)
		if len(msgs) != 1 || msgs[0].Kind != "photo" || msgs[0].Caption != "50% off today" {
			t.Errorf("chat %s holds %+v; want the one photo with its caption", chat, msgs)
		}
	}
	// The last chunk released the broadcast's hold: the bytes are gone.
	waitFor(t, 5*time.Second, func() bool {
		_, err := e.uploads.Open(ctx, u)
		return err != nil
	}, "the upload still stored after the broadcast finished")
}

func waitFor(t *testing.T, within time.Duration, ok func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
