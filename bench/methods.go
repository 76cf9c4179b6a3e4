package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/internal/files"
	"github.com/telequeue/telequeue/internal/keys"
	"github.com/telequeue/telequeue/tasks"
)

// Figures of issue 11 (every Bot API method): Redis memory per pending
// photo task, and the end-to-end rate of a mixed workload beside
// sendMessage alone.

// sandboxBotID is the numeric prefix of botToken: the bot the sandbox files
// messages under.
const sandboxBotID = 123456789

// fileID73 is a file_id of the length Telegram gives photos (73–90
// characters); pending tasks are never sent, so the sandbox need not know
// it.
var fileID73 = "AgACAgIAAxkBAAIBZ2XyQk3vT9" + strings.Repeat("x", 47)

// enqueueCalls enqueues n tasks, build(i) each, from 32 goroutines;
// before, if set, runs first with the task's id (to store its upload).
func (b *bench) enqueueCalls(ctx context.Context, n int, build func(i int) *tasks.Call, before func(id string, c *tasks.Call) error) error {
	ac := asynq.NewClient(asynq.RedisClientOpt{Addr: b.redis.Addr()})
	defer ac.Close()
	var next atomic.Int64
	var mu sync.Mutex
	var firstErr error
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil {
			firstErr = err
		}
	}
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				c := build(i)
				id := strings.ToLower(rand.Text())
				if before != nil {
					if err := before(id, c); err != nil {
						fail(err)
						return
					}
				}
				t, err := tasks.NewCallTask(c, asynq.TaskID(id), asynq.Retention(client.DefaultRetention))
				if err == nil {
					_, err = ac.EnqueueContext(ctx, t)
				}
				if err != nil {
					fail(fmt.Errorf("%s: %w", c.Method, err))
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return firstErr
}

func params(format string, args ...any) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(format, args...))
}

// measureMethods reports the memory and throughput figures of issue 11.
func (b *bench) measureMethods(ctx context.Context) error {
	if err := b.methodMemory(ctx); err != nil {
		return err
	}
	return b.methodThroughput(ctx)
}

// methodMemory measures used_memory per pending sendPhoto task by file_id,
// and per pending sendPhoto task sharing one uploaded 1 MB file.
func (b *bench) methodMemory(ctx context.Context) error {
	const sec = "methods"
	n := b.size.memory
	perPhoto, err := b.memoryPer(ctx, n, func() error {
		return b.enqueueCalls(ctx, n, func(i int) *tasks.Call {
			return &tasks.Call{Method: "sendPhoto", Params: params(`{"chat_id":%d,"photo":%q}`, 1_000_000+i, fileID73)}
		}, nil)
	})
	if err != nil {
		return err
	}
	b.report.add(sec, fmt.Sprintf("used_memory per pending sendPhoto by file_id (%d tasks, %d-char file_id, no caption)", n, len(fileID73)),
		fmt.Sprintf("%.0f B", perPhoto), "", nil)

	// One 1 MB upload shared by every task, each task a holder (as a
	// broadcast-like fan-out stores it). The bytes are stored first, by a
	// client closed before the measurement so that the query buffer they
	// passed through is gone; each task's Put then only adds its holder.
	const nUp = 2000
	photo := bytes.Repeat([]byte("1 MB photo;"), 1_000_000/11+1)[:1_000_000]
	if err := b.flush(ctx); err != nil {
		return err
	}
	seedClient := redis.NewClient(&redis.Options{Addr: b.redis.Addr()})
	seed, err := files.NewStore(seedClient, files.Config{})
	if err != nil {
		return err
	}
	u, err := seed.Put(ctx, "seed", bytes.NewReader(photo), "photo.jpg", "image/jpeg", tasks.MaxPhotoBytes)
	_ = seedClient.Close()
	if err != nil {
		return err
	}
	data, err := b.rdb.MemoryUsage(ctx, keys.UploadOf(u.SHA256).Data()).Result()
	if err != nil {
		return err
	}
	store, err := files.NewStore(b.rdb, files.Config{})
	if err != nil {
		return err
	}
	time.Sleep(500 * time.Millisecond)
	before, err := b.usedMemory(ctx)
	if err != nil {
		return err
	}
	err = b.enqueueCalls(ctx, nUp, func(i int) *tasks.Call {
		return &tasks.Call{Method: "sendPhoto", Params: params(`{"chat_id":%d,"photo":"attach://photo"}`, 1_000_000+i)}
	}, func(id string, c *tasks.Call) error {
		u, err := store.Put(ctx, id, bytes.NewReader(photo), "photo.jpg", "image/jpeg", tasks.MaxPhotoBytes)
		c.Uploads = map[string]tasks.Upload{"photo": u}
		return err
	})
	if err != nil {
		return err
	}
	if got, err := b.pending(ctx, queue); err != nil || int(got) != nUp {
		return fmt.Errorf("pending %d of %d (%v)", got, nUp, err)
	}
	time.Sleep(200 * time.Millisecond)
	after, err := b.usedMemory(ctx)
	if err != nil {
		return err
	}
	perTask := float64(after-before) / nUp
	b.report.add(sec, fmt.Sprintf("used_memory per pending sendPhoto sharing one uploaded 1 MB file (%d tasks), file included", nUp),
		fmt.Sprintf("%.0f B", perTask+float64(data)/nUp), "", nil)
	b.report.add(sec, "  the file, stored once (MEMORY USAGE of its key)", fmt.Sprintf("%d B", data), "", nil)
	b.report.add(sec, "  per task beyond the file (its task, its holder entry)", fmt.Sprintf("%.0f B", perTask), "", nil)
	return b.flush(ctx)
}

// mixShare is the mixed workload: per 20 tasks, by kind.
var mixShare = []struct {
	method string
	per20  int
}{
	{"sendMessage", 4},
	{"sendPhoto", 3}, // by file_id
	{"sendDocument", 1},
	{"sendMediaGroup", 1}, // two photos by file_id
	{"sendLocation", 1},
	{"editMessageText", 5},
	{"deleteMessage", 2},
	{"answerCallbackQuery", 3},
}

// mixMethod returns the method of the i-th task of the mix.
func mixMethod(i int) string {
	k := i % 20
	for _, m := range mixShare {
		if k < m.per20 {
			return m.method
		}
		k -= m.per20
	}
	panic("mixShare does not add up to 20")
}

// methodThroughput runs the mixed workload and sendMessage alone, 6 × 10
// with limits off, -repeat times each, interleaved.
func (b *bench) methodThroughput(ctx context.Context) error {
	const sec = "methods"
	n := b.size.mixed
	var mixed, alone []float64
	var mixedCPU, aloneCPU []cpuSnap
	for r := range b.opts.repeat {
		b.progress(fmt.Sprintf("methods %d/%d: mixed workload, 6 processes × 10, %d tasks", r+1, b.opts.repeat, n))
		v, c, err := b.mixedRun(ctx, n)
		if err != nil {
			return fmt.Errorf("mixed: %w", err)
		}
		b.progress(fmt.Sprintf("  %.0f tasks/s; CPU per task: %s; load average %s", v, c, loadavg()))
		mixed, mixedCPU = append(mixed, v), append(mixedCPU, c)

		b.progress(fmt.Sprintf("methods %d/%d: sendMessage alone, 6 processes × 10, %d tasks", r+1, b.opts.repeat, n))
		res, err := b.throughputRun(ctx, "telequeue", 6, n, r, nil)
		if err != nil {
			return fmt.Errorf("sendMessage: %w", err)
		}
		v, c = res.rate, res.cpu
		b.progress(fmt.Sprintf("  %.0f msgs/s; CPU per task: %s; load average %s", v, c, loadavg()))
		alone, aloneCPU = append(alone, v), append(aloneCPU, c)
	}
	var mix []string
	for _, m := range mixShare {
		mix = append(mix, fmt.Sprintf("%d%% %s", m.per20*5, m.method))
	}
	b.report.add(sec, "mixed workload end to end, 6 × 10, limits off", fmt.Sprintf("%.0f tasks/s%s", median(mixed), runList(mixed)), "", nil)
	b.report.add(sec, "  mix: "+strings.Join(mix, ", "), "", "", nil)
	b.report.add(sec, "sendMessage alone, same run, 6 × 10, limits off", fmt.Sprintf("%.0f msgs/s%s", median(alone), runList(alone)), "", nil)
	b.report.add(sec, "mixed ÷ sendMessage alone", fmt.Sprintf("%.2f", median(mixed)/median(alone)), "", nil)
	b.report.add(sec, "  CPU per task, mixed", meanCPU(mixedCPU).String(), "", nil)
	b.report.add(sec, "  CPU per task, sendMessage alone", meanCPU(aloneCPU).String(), "", nil)
	return nil
}

// mixedRun starts 6 workers with limits off, sends the messages the mix
// edits and deletes, then pauses the queues, enqueues n tasks of the mix,
// unpauses them and measures as throughputRun does, over both queues
// (default and callbacks).
func (b *bench) mixedRun(ctx context.Context, n int) (float64, cpuSnap, error) {
	if err := b.flush(ctx); err != nil {
		return 0, cpuSnap{}, err
	}
	g, err := b.startWorkers(ctx, 6, limitsOff, b.taskCheck, "", nil)
	if err != nil {
		return 0, cpuSnap{}, err
	}
	defer g.stop()

	// Preparation: message 1 in each chat that an edit or delete of the
	// mix acts on (chat 2_000_000+i for task i), and a photo whose file_id
	// the mix sends.
	var targets []int
	for i := range n {
		if m := mixMethod(i); m == "editMessageText" || m == "deleteMessage" {
			targets = append(targets, i)
		}
	}
	err = b.enqueueCalls(ctx, len(targets)+1, func(k int) *tasks.Call {
		if k == len(targets) {
			return &tasks.Call{Method: "sendPhoto", Params: params(`{"chat_id":1,"photo":"https://example.com/p.jpg"}`)}
		}
		return &tasks.Call{Method: "sendMessage", Params: params(`{"chat_id":%d,"text":"to be edited or deleted"}`, 2_000_000+targets[k])}
	}, nil)
	if err != nil {
		return 0, cpuSnap{}, err
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := b.sb.WaitFor(wctx, len(targets)+1); err != nil {
		return 0, cpuSnap{}, fmt.Errorf("preparation: %d of %d sent: %w", b.sb.Count(), len(targets)+1, err)
	}
	msgs := b.sb.ChatMessages(sandboxBotID, "1")
	if len(msgs) != 1 || msgs[0].FileID == "" {
		return 0, cpuSnap{}, errors.New("preparation: no photo file_id")
	}
	photo := msgs[0].FileID
	before := b.sb.Stats()

	queues := []string{queue, tasks.QueueCallbacks}
	for _, q := range queues {
		if err := b.insp.PauseQueue(q); err != nil {
			return 0, cpuSnap{}, err
		}
	}
	err = b.enqueueCalls(ctx, n, func(i int) *tasks.Call {
		chat := 1_000_000 + i
		var p json.RawMessage
		switch m := mixMethod(i); m {
		case "sendMessage":
			p = params(`{"chat_id":%d,"text":%q}`, chat, text150(fmt.Sprint("m", i)))
		case "sendPhoto":
			p = params(`{"chat_id":%d,"photo":%q,"caption":"photo %d"}`, chat, photo, i)
		case "sendDocument":
			p = params(`{"chat_id":%d,"document":"https://example.com/doc-%d.pdf"}`, chat, i)
		case "sendMediaGroup":
			p = params(`{"chat_id":%d,"media":[{"type":"photo","media":%q,"caption":"album %d"},{"type":"photo","media":%q}]}`, chat, photo, i, photo)
		case "sendLocation":
			p = params(`{"chat_id":%d,"latitude":52.5,"longitude":13.4}`, chat)
		case "editMessageText":
			p = params(`{"chat_id":%d,"message_id":1,"text":%q}`, 2_000_000+i, text150(fmt.Sprint("e", i)))
		case "deleteMessage":
			p = params(`{"chat_id":%d,"message_id":1}`, 2_000_000+i)
		case "answerCallbackQuery":
			p = params(`{"callback_query_id":"q%d","text":"done"}`, i)
		}
		return &tasks.Call{Method: mixMethod(i), Params: p}
	}, nil)
	if err != nil {
		return 0, cpuSnap{}, err
	}
	c0, err := b.cpu(ctx, g)
	if err != nil {
		return 0, cpuSnap{}, err
	}
	v, err := b.drainQueues(ctx, g, n, nil, queues...)
	if err != nil {
		return 0, cpuSnap{}, err
	}
	c1, err := b.cpu(ctx, g)
	if err != nil {
		return 0, cpuSnap{}, err
	}
	// Every call made once and answered with success.
	after := b.sb.Stats()
	want := map[string]int{}
	for i := range n {
		want[mixMethod(i)]++
	}
	for m, w := range want {
		req, ok := after.Methods[m].Requests-before.Methods[m].Requests, after.Methods[m].OK-before.Methods[m].OK
		if req != w || ok != w {
			return 0, cpuSnap{}, fmt.Errorf("%s: %d tasks, the sandbox got %d requests, %d successful", m, w, req, ok)
		}
	}
	return v, c0.perMessage(c1, n), nil
}
