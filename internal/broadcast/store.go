package broadcast

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/keys"
)

// States of a broadcast, as stored. A finished broadcast keeps its state;
// [Info.FinishedAt] tells that it is finished.
const (
	StateCreating  = "creating"  // recipients are being stored
	StateRunning   = "running"   // chunks are being sent
	StateCancelled = "cancelled" // cancelled: chunks stop at their next recipient
)

// Errors of the package.
var (
	// ErrNotFound means no broadcast has the id (or it expired).
	ErrNotFound = errors.New("broadcast: not found")
	// ErrExists means a broadcast with the id exists already.
	ErrExists = errors.New("broadcast: id exists")
)

// idBytes is the size of one packed chat id.
const idBytes = 8

// Store reads and writes broadcasts in Redis. It is safe for concurrent use.
type Store struct {
	rdb redis.UniversalClient
}

// NewStore returns a Store on rdb, which the caller keeps and closes.
func NewStore(rdb redis.UniversalClient) *Store { return &Store{rdb: rdb} }

// Pack encodes chat ids, 8 bytes each, little endian.
func Pack(ids []int64) []byte {
	b := make([]byte, len(ids)*idBytes)
	for i, id := range ids {
		binary.LittleEndian.PutUint64(b[i*idBytes:], uint64(id))
	}
	return b
}

// Unpack decodes what [Pack] wrote; a trailing partial id is ignored.
func Unpack(b []byte) []int64 {
	ids := make([]int64, len(b)/idBytes)
	for i := range ids {
		ids[i] = int64(binary.LittleEndian.Uint64(b[i*idBytes:]))
	}
	return ids
}

// Spec describes a broadcast to create.
type Spec struct {
	// ID names the broadcast.
	ID string
	// Bot is the name of the bot that sends it.
	Bot string
	// Message is the tasks.SendMessage JSON, without a chat.
	Message []byte
	// Recipients are the distinct chat ids, in sending order.
	Recipients []int64
	// Duplicates is how many ids the caller gave more than once (dropped).
	Duplicates int
	// ChunkSize is the number of recipients per chunk; Lanes the number of
	// chunk tasks that run at once.
	ChunkSize, Lanes int
	// StartAt is when sending starts; zero means now.
	StartAt time.Time
	// TTL is how long every key of the broadcast lives.
	TTL time.Duration
}

// Chunks returns the number of chunks of total recipients in chunks of size.
func Chunks(total, size int) int { return (total + size - 1) / size }

// pipelineBatch is how many chunk writes go into one pipeline.
const pipelineBatch = 64

// Create stores a broadcast: it claims the id, writes the recipients in
// chunks (pipelined, [pipelineBatch] chunks per round trip), then the
// counters, and marks it running. The caller enqueues the first chunk tasks
// afterwards. If the id exists, Create returns [ErrExists] and writes
// nothing. If a write fails after the claim, Create deletes what it wrote,
// best effort.
func (s *Store) Create(ctx context.Context, sp *Spec) error {
	if sp.ChunkSize <= 0 || sp.Lanes <= 0 || len(sp.Recipients) == 0 || sp.TTL <= 0 {
		return fmt.Errorf("broadcast: create %s: invalid spec", sp.ID)
	}
	k := keys.BroadcastOf(sp.ID)
	now := time.Now()
	claimed, err := s.claim(ctx, k, sp.TTL)
	if err != nil {
		return fmt.Errorf("broadcast: create %s: %w", sp.ID, err)
	}
	if !claimed {
		return ErrExists
	}
	err = s.rdb.ZAdd(ctx, IndexKey, redis.Z{Score: float64(now.UnixMilli()), Member: sp.ID}).Err()
	if err == nil {
		err = s.write(ctx, k, sp, now)
	}
	if err != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = s.Delete(cctx, sp.ID, Chunks(len(sp.Recipients), sp.ChunkSize))
		return fmt.Errorf("broadcast: create %s: %w", sp.ID, err)
	}
	return nil
}

// claimScript creates the meta hash in state "creating" unless it exists.
var claimScript = redis.NewScript(`
if redis.call('HSETNX', KEYS[1], 'state', 'creating') == 0 then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`)

func (s *Store) claim(ctx context.Context, k keys.Broadcast, ttl time.Duration) (bool, error) {
	n, err := claimScript.Run(ctx, s.rdb, []string{k.Meta()}, ttl.Milliseconds()).Int()
	return n == 1, err
}

// startScript turns a "creating" broadcast into a running one (a Cancel
// during creation wins).
var startScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'state') == 'creating' then
	redis.call('HSET', KEYS[1], 'state', 'running')
end
return 1
`)

func (s *Store) write(ctx context.Context, k keys.Broadcast, sp *Spec, now time.Time) error {
	total := len(sp.Recipients)
	chunks := Chunks(total, sp.ChunkSize)
	packed := Pack(sp.Recipients)
	for first := 0; first < chunks; first += pipelineBatch {
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for c := first; c < min(first+pipelineBatch, chunks); c++ {
				lo, hi := c*sp.ChunkSize*idBytes, min((c+1)*sp.ChunkSize, total)*idBytes
				p.Set(ctx, k.List(c, 0), packed[lo:hi], sp.TTL)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	fields := []any{
		"v", 1,
		"bot", sp.Bot,
		"msg", sp.Message,
		"total", total,
		"duplicates", sp.Duplicates,
		"chunk_size", sp.ChunkSize,
		"chunks", chunks,
		"lanes", sp.Lanes,
		"created", now.UnixMilli(),
		"sent", 0, "failed", 0, "blocked", 0, "cancelled", 0, "settled", 0,
	}
	if !sp.StartAt.IsZero() {
		fields = append(fields, "start_at", sp.StartAt.UnixMilli())
	}
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, k.Meta(), fields...)
		p.PExpire(ctx, k.Meta(), sp.TTL)
		// The progress hash and the blocked list exist from the start so
		// that they carry the TTL.
		p.HSet(ctx, k.Progress(), "_", 1)
		p.PExpire(ctx, k.Progress(), sp.TTL)
		p.Set(ctx, k.Blocked(), "", sp.TTL)
		// EVAL, not EVALSHA: a pipeline cannot fall back on NOSCRIPT.
		startScript.Eval(ctx, p, []string{k.Meta()})
		return nil
	})
	return err
}

// Delete removes every key of a broadcast of chunks chunks (retry-pass
// lists expire with the TTL).
func (s *Store) Delete(ctx context.Context, id string, chunks int) error {
	k := keys.BroadcastOf(id)
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ZRem(ctx, IndexKey, id)
		p.Del(ctx, k.Meta(), k.Progress(), k.Blocked())
		for c := 0; c < chunks; c++ {
			p.Del(ctx, k.List(c, 0))
		}
		return nil
	})
	return err
}

// Info is what a broadcast's meta hash holds, without the message.
type Info struct {
	ID         string
	Bot        string
	State      string
	Total      int
	Duplicates int
	ChunkSize  int
	Chunks     int
	Lanes      int
	Sent       int
	Failed     int
	Blocked    int
	Cancelled  int
	Settled    int
	CreatedAt  time.Time
	StartAt    time.Time // zero: started at creation
	FinishedAt time.Time // zero: not finished
	LastError  string
}

// Pending is the number of recipients not settled yet.
func (i *Info) Pending() int { return max(i.Total-i.Settled, 0) }

var infoFields = []string{
	"state", "bot", "total", "duplicates", "chunk_size", "chunks", "lanes",
	"sent", "failed", "blocked", "cancelled", "settled",
	"created", "start_at", "finished", "last_error",
}

// Info reads a broadcast's figures; [ErrNotFound] if it does not exist.
func (s *Store) Info(ctx context.Context, id string) (*Info, error) {
	vals, err := s.rdb.HMGet(ctx, keys.BroadcastOf(id).Meta(), infoFields...).Result()
	if err != nil {
		return nil, err
	}
	str := func(i int) string {
		v, _ := vals[i].(string)
		return v
	}
	num := func(i int) int {
		n, _ := strconv.Atoi(str(i))
		return n
	}
	ms := func(i int) time.Time {
		n, err := strconv.ParseInt(str(i), 10, 64)
		if err != nil || n == 0 {
			return time.Time{}
		}
		return time.UnixMilli(n)
	}
	if str(0) == "" {
		return nil, ErrNotFound
	}
	return &Info{
		ID: id, State: str(0), Bot: str(1), Total: num(2), Duplicates: num(3), ChunkSize: num(4),
		Chunks: num(5), Lanes: num(6), Sent: num(7), Failed: num(8), Blocked: num(9),
		Cancelled: num(10), Settled: num(11), CreatedAt: ms(12), StartAt: ms(13), FinishedAt: ms(14),
		LastError: str(15),
	}, nil
}

// Message returns the stored message JSON and the broadcast's figures.
func (s *Store) Message(ctx context.Context, id string) ([]byte, *Info, error) {
	b, err := s.rdb.HGet(ctx, keys.BroadcastOf(id).Meta(), "msg").Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, nil, ErrNotFound
	case err != nil:
		return nil, nil, err
	}
	info, err := s.Info(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	return b, info, nil
}

// SetLastError records a chunk-wide error for the status to show.
func (s *Store) SetLastError(ctx context.Context, id, text string) error {
	return s.rdb.HSet(ctx, keys.BroadcastOf(id).Meta(), "last_error", text).Err()
}

// Blocked returns up to limit chats (all with limit <= 0) that answered 403,
// starting at offset, in the order they answered.
func (s *Store) Blocked(ctx context.Context, id string, offset, limit int) ([]int64, error) {
	if offset < 0 {
		offset = 0
	}
	end := int64(-1)
	if limit > 0 {
		end = int64(offset+limit)*idBytes - 1
	}
	k := keys.BroadcastOf(id)
	var (
		exists *redis.IntCmd
		rng    *redis.StringCmd
	)
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		exists = p.Exists(ctx, k.Meta())
		rng = p.GetRange(ctx, k.Blocked(), int64(offset)*idBytes, end)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	if exists.Val() == 0 {
		return nil, ErrNotFound
	}
	b, _ := rng.Bytes()
	return Unpack(b), nil
}

// Progress of one chunk.
type Progress struct {
	// Started is false for a chunk no task has begun.
	Started bool
	// Done means every recipient of the chunk is settled.
	Done bool
	// Pass is 0 for the chunk's own list, p > 0 for retry pass p; Cursor is
	// the index of the next recipient in that pass's list.
	Pass, Cursor int
}

// String is the stored form: "" not started, "d" done, "pass:cursor".
func (p Progress) String() string {
	switch {
	case !p.Started:
		return ""
	case p.Done:
		return "d"
	}
	return strconv.Itoa(p.Pass) + ":" + strconv.Itoa(p.Cursor)
}

// ParseProgress reads what [Progress.String] wrote.
func ParseProgress(s string) (Progress, error) {
	switch s {
	case "":
		return Progress{}, nil
	case "d":
		return Progress{Started: true, Done: true}, nil
	}
	ps, cs, ok := strings.Cut(s, ":")
	p, err1 := strconv.Atoi(ps)
	c, err2 := strconv.Atoi(cs)
	if !ok || err1 != nil || err2 != nil || p < 0 || c < 0 {
		return Progress{}, fmt.Errorf("broadcast: bad progress %q", s)
	}
	return Progress{Started: true, Pass: p, Cursor: c}, nil
}

// Progress reads chunk c's progress.
func (s *Store) Progress(ctx context.Context, id string, c int) (Progress, error) {
	v, err := s.rdb.HGet(ctx, keys.BroadcastOf(id).Progress(), strconv.Itoa(c)).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return Progress{}, err
	}
	return ParseProgress(v)
}

// Recipients reads chunk c's list for pass p. A missing list is empty.
func (s *Store) Recipients(ctx context.Context, id string, c, p int) ([]int64, error) {
	b, err := s.rdb.Get(ctx, keys.BroadcastOf(id).List(c, p)).Bytes()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	return Unpack(b), nil
}

// PassLength returns the number of recipients waiting in chunk c's list
// for pass p.
func (s *Store) PassLength(ctx context.Context, id string, c, p int) (int, error) {
	n, err := s.rdb.StrLen(ctx, keys.BroadcastOf(id).List(c, p)).Result()
	return int(n) / idBytes, err
}
