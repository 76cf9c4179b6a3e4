package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/mymmrac/telego"
	tu "github.com/mymmrac/telego/telegoutil"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/tasks"
)

// A photo given as a reader (here bytes; an *os.File works too) is stored in
// Redis once per content and the task carries a reference to it.
func ExampleClient_SendPhoto() {
	ctx := context.Background()
	c, err := client.New(client.Config{Redis: asynq.RedisClientOpt{Addr: redisAddr}, Bots: []string{"default"}})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	jpeg := []byte("\xff\xd8\xff\xe0 not really a JPEG")
	r, err := c.SendPhoto(ctx, tu.Photo(tu.ID(42), tu.File(tu.NameBytes(jpeg, "cat.jpg"))).
		WithCaption("Meet <b>Tom</b>").WithParseMode(telego.ModeHTML))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.Type, r.Queue)

	// What a worker will find: the parameters attach the stored upload.
	insp := asynq.NewInspector(asynq.RedisClientOpt{Addr: redisAddr})
	defer insp.Close()
	info, err := insp.GetTaskInfo(r.Queue, r.ID)
	if err != nil {
		log.Fatal(err)
	}
	call, err := tasks.ParseCall(info.Payload)
	if err != nil {
		log.Fatal(err)
	}
	u := call.Uploads["photo"]
	fmt.Println(call.Method, string(call.Params))
	fmt.Println(u.Name, u.ContentType, u.Size)
	// Output:
	// telegram:send_photo default
	// sendPhoto {"caption":"Meet \u003cb\u003eTom\u003c/b\u003e","chat_id":42,"parse_mode":"HTML","photo":"attach://photo"}
	// cat.jpg image/jpeg 22
}

func ExampleClient_EditMessageText() {
	ctx := context.Background()
	c, err := client.New(client.Config{Redis: asynq.RedisClientOpt{Addr: redisAddr}, Bots: []string{"default"}})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	r, err := c.EditMessageText(ctx, tu.EditMessageText(tu.ID(42), 1001, "Order 1001: <b>shipped</b>").
		WithParseMode(telego.ModeHTML), client.Critical())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.Type, r.Queue)

	st, err := c.Status(ctx, r.ID)
	if err != nil {
		log.Fatal(err)
	}
	// No worker runs in this example: the edit waits. Once made,
	// st.CallResult holds the edited message's id.
	fmt.Println(st.State, st.Call.Method, st.CallResult == nil)
	// Output:
	// telegram:edit_message_text critical
	// pending editMessageText true
}

// An answer to a callback query waits in a queue of its own that workers
// serve first, and is dropped unsent if it is still there after
// tasks.CallbackDeadline: by then the user's client has given up.
func ExampleClient_AnswerCallbackQuery() {
	ctx := context.Background()
	c, err := client.New(client.Config{Redis: asynq.RedisClientOpt{Addr: redisAddr}, Bots: []string{"default"}})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	start := time.Now()
	r, err := c.AnswerCallbackQuery(ctx, tu.CallbackQuery("4382bfdwdsb323b2d9").WithText("Saved"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.Type, r.Queue)

	insp := asynq.NewInspector(asynq.RedisClientOpt{Addr: redisAddr})
	defer insp.Close()
	info, err := insp.GetTaskInfo(r.Queue, r.ID)
	if err != nil {
		log.Fatal(err)
	}
	ms, _ := strconv.ParseInt(info.Headers[tasks.HeaderDeadline], 10, 64)
	fmt.Println("deadline in", time.UnixMilli(ms).Sub(start).Round(time.Second))
	// Output:
	// telegram:answer_callback_query callbacks
	// deadline in 10s
}

// CallJSON takes a method's parameters as the Bot API's JSON, with files
// attached by name, as an HTTP API or a command line has them.
func ExampleClient_CallJSON() {
	ctx := context.Background()
	c, err := client.New(client.Config{Redis: asynq.RedisClientOpt{Addr: redisAddr}, Bots: []string{"default"}})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	params := []byte(`{"chat_id":42,"media":[
		{"type":"photo","media":"attach://front","caption":"Front"},
		{"type":"photo","media":"attach://back"}]}`)
	r, err := c.CallJSON(ctx, "sendMediaGroup", params, map[string]client.File{
		"front": {Reader: strings.NewReader("front JPEG"), Name: "front.jpg"},
		"back":  {Reader: strings.NewReader("back JPEG"), Name: "back.jpg"},
	}, client.Bulk())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.Type, r.Queue)

	// A photo over 10 MB is refused, naming the field; nothing is stored.
	_, err = c.CallJSON(ctx, "sendPhoto", []byte(`{"chat_id":42,"photo":"attach://p"}`), map[string]client.File{
		"p": {Reader: io.LimitReader(zeroReader{}, 11<<20), Name: "huge.jpg"},
	})
	var tooLarge *client.FileTooLargeError
	fmt.Println(errors.As(err, &tooLarge), tooLarge.Field, tooLarge.Limit == tasks.MaxPhotoBytes)
	// Output:
	// telegram:send_media_group bulk
	// true photo true
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// Streaming a reply: "Thinking…" is queued and edited at once, by
// reference to its task, as the answer grows. Pending edits of one message
// collapse to the newest (the older complete as superseded without reaching
// Telegram), so Telegram sees at most the chat's limit of edits, ending with
// the whole answer.
func ExampleTarget() {
	ctx := context.Background()
	c, err := client.New(client.Config{Redis: asynq.RedisClientOpt{Addr: redisAddr}, Bots: []string{"default"}})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	thinking, err := c.SendMessage(ctx, &tasks.SendMessage{ChatID: tu.ID(42), Text: "Thinking…"}, client.Critical())
	if err != nil {
		log.Fatal(err)
	}
	answer := ""
	for _, chunk := range []string{"The answer", " is", " 42."} {
		answer += chunk
		// No chat_id or message_id: the reference names both.
		r, err := c.EditMessageText(ctx, &telego.EditMessageTextParams{Text: answer},
			client.Target(thinking.Message()), client.Critical())
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(r.Type)
	}
	// Output:
	// telegram:edit_message_text
	// telegram:edit_message_text
	// telegram:edit_message_text
}
