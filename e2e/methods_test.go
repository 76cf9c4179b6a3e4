package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/files"
	"github.com/telequeue/telequeue/internal/keys"
	"github.com/telequeue/telequeue/internal/proctest"
	"github.com/telequeue/telequeue/internal/redistest"
	"github.com/telequeue/telequeue/internal/sandbox"
	"github.com/telequeue/telequeue/tasks"
)

// botID is the numeric prefix of token: the bot the sandbox files
// messages under.
const botID = 123456789

// job is one task of a run: a call, the files it uploads, and once it is
// final, its result.
type job struct {
	id     string
	method string
	params string
	chat   int64 // 0: no chat (answerCallbackQuery)
	// files are uploaded with the task: attach name → content.
	files map[string][]byte
	// cost is what the call counts against the bot's budget (sends only).
	cost int

	uploads map[string]tasks.Upload
	res     outcome
}

// outcome is a completed task's result: a [tasks.SendResult] for
// sendMessage, a [tasks.CallResult] for the rest.
type outcome struct {
	MessageID   int64    `json:"message_id"`
	MessageIDs  []int64  `json:"message_ids"`
	ChatID      int64    `json:"chat_id"`
	FileIDs     []string `json:"file_ids"`
	NotModified bool     `json:"not_modified"`
	AlreadyGone bool     `json:"already_gone"`
}

// ids returns the messages the call made or changed.
func (o outcome) ids() []int64 {
	if o.MessageID != 0 {
		return []int64{o.MessageID}
	}
	return o.MessageIDs
}

// cluster is a redis-server, the sandbox and worker processes.
type cluster struct {
	rdb     *redis.Client
	sb      *sandbox.Sandbox
	client  *asynq.Client
	insp    *asynq.Inspector
	uploads *files.Store
	ports   []int
}

// startCluster starts workers worker processes with WORKER_CONCURRENCY=10
// and env (TELEGRAM_RATE_*), against a sandbox with limits.
func startCluster(t *testing.T, workers int, limits sandbox.Limits, env ...string) *cluster {
	t.Helper()
	bin := proctest.Binary(t, "./cmd/worker")
	rds := redistest.Start(t)
	sb, err := sandbox.New(sandbox.Config{Limits: limits})
	if err != nil {
		t.Fatal(err)
	}
	sbURL, err := sb.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	c := &cluster{rdb: rds.Client(t), sb: sb}
	if c.uploads, err = files.NewStore(c.rdb, files.Config{}); err != nil {
		t.Fatal(err)
	}
	common := append([]string{
		"REDIS_URL=" + rds.URL(),
		"TELEGRAM_BOT_TOKEN=" + token,
		"TELEGRAM_API_URL=" + sbURL,
		"WORKER_CONCURRENCY=10",
		"LOG_LEVEL=warn",
	}, env...)
	c.ports = make([]int, workers)
	for i := range c.ports {
		if c.ports[i], err = redistest.FreePort(); err != nil {
			t.Fatal(err)
		}
		proctest.Start(t, bin, proctest.Options{
			Name: fmt.Sprintf("worker-%d", i+1),
			Env:  append([]string{"METRICS_PORT=" + strconv.Itoa(c.ports[i])}, common...),
		})
	}
	for _, port := range c.ports {
		waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/healthz", port), 30*time.Second)
	}
	opt := asynq.RedisClientOpt{Addr: rds.Addr()}
	c.client, c.insp = asynq.NewClient(opt), asynq.NewInspector(opt)
	t.Cleanup(func() { _ = c.client.Close(); _ = c.insp.Close() })
	return c
}

// enqueue stores j's files, with the task's id as their holder, and queues
// its task.
func (c *cluster) enqueue(ctx context.Context, j *job) error {
	if len(j.files) > 0 {
		j.uploads = map[string]tasks.Upload{}
		for name, data := range j.files {
			u, err := c.uploads.Put(ctx, j.id, bytes.NewReader(data), name+".png", "image/png", tasks.MaxPhotoBytes)
			if err != nil {
				return fmt.Errorf("%s: put %s: %w", j.id, name, err)
			}
			j.uploads[name] = u
		}
	}
	task, err := tasks.NewCallTask(&tasks.Call{Method: j.method, Params: json.RawMessage(j.params), Uploads: j.uploads},
		asynq.TaskID(j.id), asynq.Retention(time.Hour))
	if err != nil {
		return fmt.Errorf("%s %s %s: %w", j.id, j.method, j.params, err)
	}
	if _, err := c.client.EnqueueContext(ctx, task); err != nil {
		return fmt.Errorf("%s: enqueue: %w", j.id, err)
	}
	return nil
}

// await waits until every job is completed and reads its result. It fails
// at once if a task is archived.
func (c *cluster) await(t *testing.T, jobs []*job, within time.Duration) {
	t.Helper()
	byID := make(map[string]*job, len(jobs))
	for _, j := range jobs {
		byID[j.id] = j
	}
	done := map[string]bool{}
	deadline := time.Now().Add(within)
	for len(done) < len(jobs) {
		for _, q := range []string{tasks.QueueDefault, tasks.QueueCallbacks} {
			for page := 1; ; page++ {
				infos, err := c.insp.ListCompletedTasks(q, asynq.PageSize(1000), asynq.Page(page))
				if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
					t.Fatal(err)
				}
				for _, info := range infos {
					j, ok := byID[info.ID]
					if !ok || done[info.ID] {
						continue
					}
					if err := json.Unmarshal(info.Result, &j.res); err != nil {
						t.Fatalf("%s (%s): result %q: %v", j.id, j.method, info.Result, err)
					}
					done[info.ID] = true
				}
				if len(infos) < 1000 {
					break
				}
			}
			archived, _ := c.insp.ListArchivedTasks(q, asynq.PageSize(20))
			for _, a := range archived {
				t.Errorf("task %s (%s) archived: %s", a.ID, a.Type, a.LastErr)
			}
			if len(archived) > 0 {
				t.FailNow()
			}
		}
		if time.Now().After(deadline) {
			var missing []string
			for _, j := range jobs {
				if !done[j.id] && len(missing) < 10 {
					missing = append(missing, j.id+" "+j.method)
				}
			}
			t.Fatalf("%d of %d tasks completed within %s; e.g. not %q", len(done), len(jobs), within, missing)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// urls are the media the sandbox accepts without fetching, per send
// method, and the field that takes them.
var mediaSends = []struct{ method, field, url string }{
	{"sendVideo", "video", "https://example.com/a.mp4"},
	{"sendAnimation", "animation", "https://example.com/a.gif"},
	{"sendAudio", "audio", "https://example.com/a.mp3"},
	{"sendDocument", "document", "https://example.com/a.pdf"},
	{"sendVoice", "voice", "https://example.com/a.ogg"},
	{"sendVideoNote", "video_note", "https://example.com/n.mp4"},
	{"sendSticker", "sticker", "https://example.com/s.webp"},
}

// TestEveryMethodUnderLimits is the acceptance run of issue 11: 6 worker
// processes × 10 senders send a shuffled mix of every method of
// tasks.Methods through the sandbox enforcing Telegram's limits (30/s per
// bot, 1/s per chat, 20/min per group), and the workers the same limits.
// Phase 1 sends the messages that phase 2's edits, deletes, pins, copies
// and forwards act on; phase 2 is every method, shuffled, enqueued at about
// the pace the bot's budget allows (a bot's traffic arrives over time; a
// backlog of minutes would only make sendChatAction and
// answerCallbackQuery miss their deadlines, which other tests cover).
// Uploads go through the upload store with the task's id as holder.
//
// Asserted: every task completed, once: the sandbox saw exactly as many
// successful calls of each method as there were tasks of it and no other
// request, each send's result names a message the sandbox made by that
// method, and each task's sent marker holds its result; the sandbox's
// state shows every edit, delete and pin; 0 limit violations, 0 early
// retries; each upload was uploaded once and released.
func TestEveryMethodUnderLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes; skipped with -short")
	}
	const (
		workers     = 6
		privates    = 60 // chats of the mix
		perChange   = 24 // tasks of each edit, delete and pin method
		perSend     = 12 // tasks of each send method in phase 2
		actions     = 30 // sendChatAction, to chats of their own
		drafts      = 12 // sendMessageDraft, to chats of their own
		callbacks   = 120
		groupChats  = 2
		pacePerSec  = 20.0 // phase 2's budgeted sends enqueued per second
		rateMargin  = "0.1"
		globalLimit = 30
	)
	c := startCluster(t, workers, sandbox.Limits{Global: globalLimit, Chat: 1, Group: 20},
		"TELEGRAM_RATE_GLOBAL=30", "TELEGRAM_RATE_CHAT=1", "TELEGRAM_RATE_GROUP=20", "TELEGRAM_RATE_PAID=0",
		"TELEGRAM_RATE_MARGIN="+rateMargin)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(11, 11))

	seq := 0
	newJob := func(method string, chat int64, cost int, format string, args ...any) *job {
		seq++
		return &job{id: fmt.Sprintf("%s-%d", method, seq), method: method, chat: chat, cost: cost, params: fmt.Sprintf(format, args...)}
	}
	content := func() []byte {
		seq++
		return bytes.Repeat([]byte(fmt.Sprintf("upload %d;", seq)), 200)
	}
	chats := make([]int64, privates)
	for i := range chats {
		chats[i] = int64(5000 + i)
	}
	next := 0
	chat := func() int64 { next++; return chats[next%len(chats)] }

	// Phase 1: the messages phase 2 acts on.
	type change struct {
		method  string
		chat    int64
		targets []*job
	}
	var phase1 []*job
	text := func(chat int64, what string) *job {
		j := newJob("sendMessage", chat, 1, `{"chat_id":%d,"text":"phase 1: %s"}`, chat, what)
		phase1 = append(phase1, j)
		return j
	}
	photo := func(chat int64, what string) *job {
		j := newJob("sendPhoto", chat, 1, `{"chat_id":%d,"photo":"https://example.com/%s.png","caption":"phase 1: %s"}`, chat, what, what)
		phase1 = append(phase1, j)
		return j
	}
	changeMethods := []string{"editMessageText", "editMessageCaption", "editMessageMedia", "editMessageReplyMarkup",
		"deleteMessage", "deleteMessages", "pinChatMessage", "unpinChatMessage"}
	var changes []change
	for k := range perChange {
		for _, m := range changeMethods {
			ch := chat()
			what := fmt.Sprintf("%s %d", m, k)
			var targets []*job
			switch m {
			case "editMessageCaption", "editMessageMedia":
				targets = []*job{photo(ch, strings.ReplaceAll(what, " ", "-"))}
			case "deleteMessages":
				targets = []*job{text(ch, what+" a"), text(ch, what+" b")}
			default:
				targets = []*job{text(ch, what)}
			}
			changes = append(changes, change{m, ch, targets})
		}
	}
	// Sources of copies and forwards: two messages in every chat.
	sources := map[int64][2]*job{}
	for _, ch := range chats {
		sources[ch] = [2]*job{text(ch, "source a"), text(ch, "source b")}
	}
	// Groups: a few calls each, within 20 per minute.
	groups := make([]int64, groupChats)
	type groupTargets struct{ edit, del *job }
	gt := map[int64]groupTargets{}
	for i := range groups {
		groups[i] = -int64(7000 + i)
		gt[groups[i]] = groupTargets{text(groups[i], "group edit"), text(groups[i], "group delete")}
	}

	start := time.Now()
	for _, j := range phase1 {
		if err := c.enqueue(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	c.await(t, phase1, 90*time.Second)
	phase1Took := time.Since(start)
	idOf := func(j *job) int64 {
		ids := j.res.ids()
		if len(ids) != 1 {
			t.Fatalf("%s: result %+v: want one message id", j.id, j.res)
		}
		return ids[0]
	}
	var fileID string // a photo's file_id the sandbox issued
	for _, j := range phase1 {
		if j.method == "sendPhoto" && len(j.res.FileIDs) == 1 {
			fileID = j.res.FileIDs[0]
			break
		}
	}
	if fileID == "" {
		t.Fatal("no phase 1 photo result carries a file_id")
	}

	// Phase 2: every method, shuffled.
	type expect struct {
		chat  int64
		id    int64
		check func(sandbox.MessageState) error
	}
	var phase2 []*job
	var expects []expect
	add := func(j *job) { phase2 = append(phase2, j) }
	mediaEdits := 0 // every other one uploads its new photo
	for _, ch := range changes {
		id := idOf(ch.targets[0])
		var j *job
		var check func(sandbox.MessageState) error
		switch ch.method {
		case "editMessageText":
			want := fmt.Sprintf("edited %d", id)
			j = newJob(ch.method, ch.chat, 0, `{"chat_id":%d,"message_id":%d,"text":%q}`, ch.chat, id, want)
			check = func(st sandbox.MessageState) error { return wantField("text", st.Text, want) }
		case "editMessageCaption":
			want := fmt.Sprintf("caption edited %d", id)
			j = newJob(ch.method, ch.chat, 0, `{"chat_id":%d,"message_id":%d,"caption":%q}`, ch.chat, id, want)
			check = func(st sandbox.MessageState) error { return wantField("caption", st.Caption, want) }
		case "editMessageMedia":
			if mediaEdits++; mediaEdits%2 == 0 {
				j = newJob(ch.method, ch.chat, 0, `{"chat_id":%d,"message_id":%d,"media":{"type":"photo","media":"attach://new","caption":"new media"}}`, ch.chat, id)
				j.files = map[string][]byte{"new": content()}
			} else {
				j = newJob(ch.method, ch.chat, 0, `{"chat_id":%d,"message_id":%d,"media":{"type":"photo","media":"https://example.com/new-%d.png","caption":"new media"}}`, ch.chat, id, id)
			}
			jj := j
			check = func(st sandbox.MessageState) error {
				if len(jj.res.FileIDs) != 1 || st.FileID != jj.res.FileIDs[0] {
					return fmt.Errorf("file_id %q, result %v", st.FileID, jj.res.FileIDs)
				}
				return wantField("caption", st.Caption, "new media")
			}
		case "editMessageReplyMarkup":
			j = newJob(ch.method, ch.chat, 0, `{"chat_id":%d,"message_id":%d,"reply_markup":{"inline_keyboard":[[{"text":"ok","callback_data":"m%d"}]]}}`, ch.chat, id, id)
			check = func(st sandbox.MessageState) error {
				if !bytes.Contains(st.ReplyMarkup, []byte(fmt.Sprintf(`"m%d"`, id))) {
					return fmt.Errorf("reply_markup %s", st.ReplyMarkup)
				}
				return nil
			}
		case "deleteMessage":
			j = newJob(ch.method, ch.chat, 0, `{"chat_id":%d,"message_id":%d}`, ch.chat, id)
			check = deleted
		case "deleteMessages":
			id2 := idOf(ch.targets[1])
			j = newJob(ch.method, ch.chat, 0, `{"chat_id":%d,"message_ids":[%d,%d]}`, ch.chat, min(id, id2), max(id, id2))
			check = deleted
			expects = append(expects, expect{ch.chat, id2, deleted})
		case "pinChatMessage":
			j = newJob(ch.method, ch.chat, 0, `{"chat_id":%d,"message_id":%d,"disable_notification":true}`, ch.chat, id)
			check = func(st sandbox.MessageState) error {
				if !st.Pinned {
					return errors.New("not pinned")
				}
				return nil
			}
		case "unpinChatMessage":
			j = newJob(ch.method, ch.chat, 0, `{"chat_id":%d,"message_id":%d}`, ch.chat, id)
			check = func(st sandbox.MessageState) error {
				if st.Pinned {
					return errors.New("still pinned")
				}
				return nil
			}
		}
		add(j)
		expects = append(expects, expect{ch.chat, id, check})
	}
	for k := range perSend {
		ch := chat()
		add(newJob("sendMessage", ch, 1, `{"chat_id":%d,"text":"phase 2 text %d"}`, ch, k))
		ch = chat()
		if k%2 == 0 {
			add(newJob("sendPhoto", ch, 1, `{"chat_id":%d,"photo":%q,"caption":"by file_id %d"}`, ch, fileID, k))
		} else {
			j := newJob("sendPhoto", ch, 1, `{"chat_id":%d,"photo":"attach://p","caption":"uploaded %d"}`, ch, k)
			j.files = map[string][]byte{"p": content()}
			add(j)
		}
		for _, m := range mediaSends {
			ch := chat()
			add(newJob(m.method, ch, 1, `{"chat_id":%d,%q:%q}`, ch, m.field, m.url))
		}
		ch = chat()
		if k%3 == 0 {
			j := newJob("sendMediaGroup", ch, 2, `{"chat_id":%d,"media":[{"type":"photo","media":"attach://a","caption":"album %d"},{"type":"photo","media":"attach://b"}]}`, ch, k)
			j.files = map[string][]byte{"a": content(), "b": content()}
			add(j)
		} else {
			add(newJob("sendMediaGroup", ch, 2, `{"chat_id":%d,"media":[{"type":"photo","media":%q,"caption":"album %d"},{"type":"photo","media":"https://example.com/b.png"}]}`, ch, fileID, k))
		}
		ch = chat()
		add(newJob("sendLocation", ch, 1, `{"chat_id":%d,"latitude":52.5,"longitude":13.4}`, ch))
		ch = chat()
		add(newJob("sendVenue", ch, 1, `{"chat_id":%d,"latitude":52.5,"longitude":13.4,"title":"Cafe %d","address":"Main St 1"}`, ch, k))
		ch = chat()
		add(newJob("sendContact", ch, 1, `{"chat_id":%d,"phone_number":"+100","first_name":"Ann %d"}`, ch, k))
		ch = chat()
		add(newJob("sendPoll", ch, 1, `{"chat_id":%d,"question":"Lunch %d?","options":[{"text":"yes"},{"text":"no"}]}`, ch, k))
		ch = chat()
		add(newJob("sendDice", ch, 1, `{"chat_id":%d}`, ch))
		// Copies and forwards from one chat's sources into another chat.
		for _, m := range []string{"copyMessage", "forwardMessage", "copyMessages", "forwardMessages"} {
			from, to := chat(), chat()
			src := sources[from]
			a, b := idOf(src[0]), idOf(src[1])
			if strings.HasSuffix(m, "s") {
				add(newJob(m, to, 2, `{"chat_id":%d,"from_chat_id":%d,"message_ids":[%d,%d]}`, to, from, min(a, b), max(a, b)))
			} else {
				add(newJob(m, to, 1, `{"chat_id":%d,"from_chat_id":%d,"message_id":%d}`, to, from, a))
			}
		}
	}
	for _, g := range groups {
		add(newJob("editMessageText", g, 0, `{"chat_id":%d,"message_id":%d,"text":"group edited"}`, g, idOf(gt[g].edit)))
		expects = append(expects, expect{g, idOf(gt[g].edit), func(st sandbox.MessageState) error { return wantField("text", st.Text, "group edited") }})
		add(newJob("deleteMessage", g, 0, `{"chat_id":%d,"message_id":%d}`, g, idOf(gt[g].del)))
		expects = append(expects, expect{g, idOf(gt[g].del), deleted})
		add(newJob("sendMessage", g, 1, `{"chat_id":%d,"text":"to the group"}`, g))
		add(newJob("sendPhoto", g, 1, `{"chat_id":%d,"photo":%q}`, g, fileID))
		add(newJob("sendMediaGroup", g, 2, `{"chat_id":%d,"media":[{"type":"photo","media":%q},{"type":"photo","media":"https://example.com/g.png"}]}`, g, fileID))
	}
	chatActions := []string{"typing", "upload_photo", "record_video", "upload_document", "choose_sticker", "find_location"}
	for k := range actions {
		ch := int64(9000 + k)
		add(newJob("sendChatAction", ch, 0, `{"chat_id":%d,"action":%q}`, ch, chatActions[k%len(chatActions)]))
	}
	for k := range callbacks {
		add(newJob("answerCallbackQuery", 0, 0, `{"callback_query_id":"cb-%d","text":"done %d"}`, k, k))
	}
	// Drafts, each of its own draft_id (drafts of one id coalesce), to
	// chats of their own like the chat actions.
	for k := range drafts {
		ch := int64(9500 + k)
		add(newJob("sendMessageDraft", ch, 0, `{"chat_id":%d,"draft_id":%d,"text":"draft %d"}`, ch, k+1, k))
	}
	r.Shuffle(len(phase2), func(i, j int) { phase2[i], phase2[j] = phase2[j], phase2[i] })

	// Enqueue at about the pace the bot's budget allows: pacePerSec
	// budgeted sends a second, the rest in between.
	start2 := time.Now()
	budget := 0
	for _, j := range phase2 {
		budget += j.cost
		if ahead := time.Until(start2.Add(time.Duration(float64(budget) / pacePerSec * float64(time.Second)))); ahead > 0 {
			time.Sleep(ahead)
		}
		if err := c.enqueue(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	enqueued2 := time.Since(start2)
	c.await(t, phase2, 90*time.Second)
	phase2Took := time.Since(start2)
	time.Sleep(500 * time.Millisecond) // nothing more arrives

	// Every task once: per method, as many successful calls as tasks and no
	// other request.
	all := append(append([]*job(nil), phase1...), phase2...)
	perMethod := map[string]int{}
	sends := 0
	for _, j := range all {
		perMethod[j.method]++
		if j.cost > 0 {
			sends += j.cost
		}
	}
	st := c.sb.Stats()
	for _, m := range tasks.Methods() {
		got := st.Methods[m.Name]
		if perMethod[m.Name] == 0 || got.OK != perMethod[m.Name] || got.Requests != perMethod[m.Name] {
			t.Errorf("%s: %d tasks; the sandbox got %d requests, %d successful", m.Name, perMethod[m.Name], got.Requests, got.OK)
		}
	}
	if st.Violations != 0 || st.EarlyRetry != 0 || st.BadRequests != 0 || len(st.Faults) != 0 {
		t.Errorf("sandbox: %d limit violations %v, %d early retries, %d bad requests, faults %v; want none",
			st.Violations, st.Rejected429, st.EarlyRetry, st.BadRequests, st.Faults)
	}
	// Each send's result names a message the sandbox made by that method.
	type made struct {
		method string
		chat   string
		id     int64
	}
	records := map[made]int{}
	for _, m := range c.sb.Messages() {
		if sandbox.IsSend(m.Method) {
			records[made{m.Method, m.ChatID, m.MessageID}]++
		}
	}
	for _, j := range all {
		if j.cost == 0 {
			continue
		}
		ids := j.res.ids()
		if len(ids) != j.cost {
			t.Errorf("%s: result %+v: want %d message ids", j.id, j.res, j.cost)
			continue
		}
		k := made{j.method, strconv.FormatInt(j.chat, 10), ids[0]}
		if records[k] != 1 {
			t.Errorf("%s: result names message %d in chat %d, which the sandbox made %d times by %s", j.id, ids[0], j.chat, records[k], j.method)
		}
		delete(records, k)
	}
	if len(records) != 0 {
		t.Errorf("%d messages no task's result names (duplicates?)", len(records))
	}
	// Each task's sent marker holds its result.
	pipe := c.rdb.Pipeline()
	markers := make([]*redis.StringCmd, len(all))
	for i, j := range all {
		markers[i] = pipe.Get(ctx, keys.Sent(j.id))
	}
	_, _ = pipe.Exec(ctx)
	noMarker := 0
	for i, j := range all {
		var o outcome
		b, err := markers[i].Bytes()
		if err == nil {
			err = json.Unmarshal(b, &o)
		}
		if err != nil || fmt.Sprint(o) != fmt.Sprint(j.res) {
			noMarker++
			if noMarker <= 5 {
				t.Errorf("%s: sent marker %q (%v), result %+v", j.id, b, err, j.res)
			}
		}
	}
	// What Telegram (the sandbox) shows.
	for _, e := range expects {
		msg, ok := c.sb.Message(botID, strconv.FormatInt(e.chat, 10), e.id)
		if !ok {
			t.Errorf("chat %d: no message %d", e.chat, e.id)
			continue
		}
		if err := e.check(msg); err != nil {
			t.Errorf("chat %d message %d: %v", e.chat, e.id, err)
		}
	}
	// Uploads: each content once, then released by its last holder.
	distinct := 0
	for _, j := range all {
		for _, u := range j.uploads {
			distinct++
			if _, err := c.uploads.Open(ctx, u); !errors.Is(err, files.ErrMissing) {
				t.Errorf("%s: %s still stored after the task completed (%v)", j.id, u, err)
			}
		}
	}
	if st.Uploads != distinct {
		t.Errorf("the sandbox received %d uploads; the tasks carry %d distinct files", st.Uploads, distinct)
	}
	counts := make([]int, len(c.ports))
	for i, port := range c.ports {
		counts[i] = sentCount(t, port)
	}
	t.Logf("phase 1: %d sends in %s; phase 2: %d tasks of %d methods (%d budgeted sends), enqueued over %s, all completed %s after the first",
		len(phase1), phase1Took.Round(time.Millisecond), len(phase2), len(perMethod), sends-len(phase1), enqueued2.Round(time.Millisecond), phase2Took.Round(time.Millisecond))
	t.Logf("sandbox: %d requests, %d sends delivered, %d other calls, %d uploads; violations %d, early retries %d, max sends in 1 s %d, min chat gap %s, min group gap %s; calls per worker %v",
		st.Requests, st.Delivered, st.OtherOK, st.Uploads, st.Violations, st.EarlyRetry, st.MaxPerSecond,
		st.MinChatGap.Round(time.Millisecond), st.MinGroupGap.Round(time.Millisecond), counts)
}

func wantField(name, got, want string) error {
	if got != want {
		return fmt.Errorf("%s %q, want %q", name, got, want)
	}
	return nil
}

func deleted(st sandbox.MessageState) error {
	if !st.Deleted {
		return errors.New("not deleted")
	}
	return nil
}

// TestPhotoFanOutUploadsOnce: a broadcast-like fan-out of one uploaded
// photo to 1,000 chats, 1,000 sendPhoto tasks sharing one stored upload
// (each task a holder), through 6 worker processes × 10 senders with limits
// off. Telegram must receive the file once; every other send goes by the
// file_id the first one got.
func TestPhotoFanOutUploadsOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes; skipped with -short")
	}
	const chats = 1000
	c := startCluster(t, 6, sandbox.Limits{},
		"TELEGRAM_RATE_GLOBAL=0", "TELEGRAM_RATE_CHAT=0", "TELEGRAM_RATE_GROUP=0", "TELEGRAM_RATE_PAID=0")
	ctx := context.Background()
	photo := bytes.Repeat([]byte("one photo for everyone;"), 20000) // 460 KB
	jobs := make([]*job, chats)
	for i := range jobs {
		chat := int64(20000 + i)
		jobs[i] = &job{id: fmt.Sprintf("fan-%d", i), method: "sendPhoto", chat: chat, cost: 1,
			params: fmt.Sprintf(`{"chat_id":%d,"photo":"attach://photo","caption":"for %d"}`, chat, chat),
			files:  map[string][]byte{"photo": photo}}
	}
	start := time.Now()
	for _, j := range jobs {
		if err := c.enqueue(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	c.await(t, jobs, 90*time.Second)
	took := time.Since(start)

	st := c.sb.Stats()
	if got := st.Methods["sendPhoto"]; got.OK != chats || got.Requests != chats {
		t.Errorf("sendPhoto: %d requests, %d successful; want %d", got.Requests, got.OK, chats)
	}
	fileIDs := map[string]int{}
	for _, j := range jobs {
		if len(j.res.FileIDs) == 1 {
			fileIDs[j.res.FileIDs[0]]++
		}
	}
	if _, err := c.uploads.Open(ctx, jobs[0].uploads["photo"]); !errors.Is(err, files.ErrMissing) {
		t.Errorf("the upload is still stored after its %d holders completed (%v)", chats, err)
	}
	t.Logf("%d sendPhoto tasks of one %d-byte upload in %s: %d uploads (%d bytes) reached the sandbox; %d distinct file_ids in the results",
		chats, len(photo), took.Round(time.Millisecond), st.Uploads, st.UploadBytes, len(fileIDs))
	if st.Uploads != 1 {
		t.Errorf("the photo was uploaded %d times; want once, then sent by its file_id", st.Uploads)
	}
}
