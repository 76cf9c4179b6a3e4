package files

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/keys"
	"github.com/telequeue/telequeue/tasks"
)

// Defaults of [Config].
const (
	// DefaultRetention is how long an upload lives without being released:
	// a task's longest life.
	DefaultRetention = 7 * 24 * time.Hour
	// DefaultFileIDTTL is how long a file_id Telegram gave is reused.
	DefaultFileIDTTL = 30 * 24 * time.Hour
)

// maxNameBytes is the longest file name a [tasks.Upload] may carry.
const maxNameBytes = 256

// probeBytes is the size from which Put first tries to add its holder to
// an upload stored already, without sending the bytes, and sends them only
// if they are not there: a second round trip for a new upload, no transfer
// of megabytes for a known one. Below it, one round trip that sends the
// bytes is cheaper.
const probeBytes = 256 << 10

// Errors of the package.
var (
	// ErrTooLarge means an upload exceeds its limit; the error is a
	// [*TooLargeError].
	ErrTooLarge = errors.New("files: upload too large")
	// ErrEmpty means an upload has no content.
	ErrEmpty = errors.New("files: empty upload")
	// ErrMissing means an upload's bytes are no longer stored: every holder
	// released it, or its retention ended.
	ErrMissing = errors.New("files: upload missing (released or expired)")
)

// TooLargeError reports an upload larger than its limit. Put stops reading
// at Limit+1 bytes, so Size is a lower bound of the real size.
type TooLargeError struct {
	// Size is the number of bytes read: at least Limit+1.
	Size int64
	// Limit is the largest size accepted for the field.
	Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("files: upload larger than %d bytes (read %d)", e.Limit, e.Size)
}

// Is makes errors.Is(err, ErrTooLarge) true.
func (e *TooLargeError) Is(target error) bool { return target == ErrTooLarge }

// Config configures a [Store]. Zero values mean the documented defaults.
type Config struct {
	// MaxBytes is the largest upload accepted, whatever the field
	// (UPLOAD_MAX_BYTES); 0 means tasks.MaxFileBytes, the most Telegram
	// takes. At most tasks.MaxFileBytes.
	MaxBytes int64
	// Retention is how long an upload lives without being released by its
	// last holder; every Put and Hold starts it again. Default
	// [DefaultRetention] (7 days); at least a millisecond.
	Retention time.Duration
	// FileIDTTL is how long a file_id is kept after SetFileID. Default
	// [DefaultFileIDTTL] (30 days); at least a millisecond.
	FileIDTTL time.Duration
}

func (c *Config) setDefaults() {
	if c.MaxBytes == 0 {
		c.MaxBytes = tasks.MaxFileBytes
	}
	if c.Retention == 0 {
		c.Retention = DefaultRetention
	}
	if c.FileIDTTL == 0 {
		c.FileIDTTL = DefaultFileIDTTL
	}
}

func (c *Config) validate() error {
	switch {
	case c.MaxBytes < 0 || c.MaxBytes > tasks.MaxFileBytes:
		return fmt.Errorf("files: MaxBytes %d: want 1 to %d", c.MaxBytes, tasks.MaxFileBytes)
	case c.Retention < time.Millisecond:
		return fmt.Errorf("files: Retention %v: want at least 1ms", c.Retention)
	case c.FileIDTTL < time.Millisecond:
		return fmt.Errorf("files: FileIDTTL %v: want at least 1ms", c.FileIDTTL)
	}
	return nil
}

// Store keeps uploads in Redis, once per content, and the file ids Telegram
// gave for them. It is safe for concurrent use.
type Store struct {
	rdb redis.UniversalClient
	cfg Config
}

// NewStore returns a Store on rdb, which the caller keeps and closes, or
// an error if cfg is invalid.
func NewStore(rdb redis.UniversalClient, cfg Config) (*Store, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Store{rdb: rdb, cfg: cfg}, nil
}

// Limit returns the largest upload Put accepts for a field whose Telegram
// limit is fieldLimit (tasks.MaxPhotoBytes for a photo, tasks.MaxFileBytes
// otherwise): the smaller of fieldLimit and Config.MaxBytes. A fieldLimit
// of 0 or less means Config.MaxBytes. An HTTP handler can cap a request
// body with it before Put reads it.
func (s *Store) Limit(fieldLimit int64) int64 {
	if fieldLimit <= 0 || fieldLimit > s.cfg.MaxBytes {
		return s.cfg.MaxBytes
	}
	return fieldLimit
}

// Put stores r's content under its SHA-256, once however many holders put
// it, and records holder (a task or broadcast id) as one of its users,
// starting its retention again. The content's keys, bytes and holder set,
// are written in one MULTI, so that a concurrent [Store.Release] by the
// last other holder either runs before (and Put stores the bytes again) or
// after (and sees holder).
//
// Put reads at most Limit(limit)+1 bytes of r: more returns a
// [*TooLargeError] (errors.Is ErrTooLarge), nothing read returns
// [ErrEmpty]; neither stores anything. name and contentType go into the
// returned reference only: the same bytes under two names are stored once.
func (s *Store) Put(ctx context.Context, holder string, r io.Reader, name, contentType string, limit int64) (tasks.Upload, error) {
	if holder == "" {
		return tasks.Upload{}, errors.New("files: put: empty holder")
	}
	if len(name) > maxNameBytes {
		return tasks.Upload{}, fmt.Errorf("files: put: file name longer than %d bytes", maxNameBytes)
	}
	limit = s.Limit(limit)
	data, err := readAtMost(r, limit+1)
	if err != nil {
		return tasks.Upload{}, fmt.Errorf("files: put: read: %w", err)
	}
	if int64(len(data)) > limit {
		return tasks.Upload{}, &TooLargeError{Size: int64(len(data)), Limit: limit}
	}
	if len(data) == 0 {
		return tasks.Upload{}, ErrEmpty
	}
	sum := sha256.Sum256(data)
	u := tasks.Upload{SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data)), Name: name, ContentType: contentType}
	if len(data) >= probeBytes {
		held, err := s.eachScript(ctx, holdScript, []tasks.Upload{u}, holder, s.cfg.Retention.Milliseconds())
		if err != nil {
			return tasks.Upload{}, fmt.Errorf("files: put: %w", err)
		}
		if held[0] == 1 {
			return u, nil
		}
	}
	k := keys.UploadOf(u.SHA256)
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.SetNX(ctx, k.Data(), data, s.cfg.Retention)
		p.PExpire(ctx, k.Data(), s.cfg.Retention)
		p.SAdd(ctx, k.Holders(), holder)
		p.PExpire(ctx, k.Holders(), s.cfg.Retention)
		return nil
	})
	if err != nil {
		return tasks.Upload{}, fmt.Errorf("files: put %s: %w", u, err)
	}
	return u, nil
}

// readAtMost reads r up to n bytes, in a buffer sized once when r tells its
// length (bytes.Reader, strings.Reader, bytes.Buffer).
func readAtMost(r io.Reader, n int64) ([]byte, error) {
	var buf bytes.Buffer
	if l, ok := r.(interface{ Len() int }); ok {
		buf.Grow(int(min(int64(l.Len())+1, n)))
	}
	_, err := buf.ReadFrom(io.LimitReader(r, n))
	return buf.Bytes(), err
}

// holdScript adds ARGV[1] to the holders (KEYS[2]) of the upload whose
// bytes are KEYS[1] and starts both keys' retention (ARGV[2] ms) again, if
// the bytes are there. It returns 1 if they are, else 0 and changes nothing.
var holdScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1
`)

// releaseScript removes ARGV[1] from the holders (KEYS[2]) and deletes the
// bytes (KEYS[1]) if no holder is left. It returns 1 if it deleted them.
var releaseScript = redis.NewScript(`
redis.call('SREM', KEYS[2], ARGV[1])
if redis.call('SCARD', KEYS[2]) == 0 then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// Hold adds holder as a user of uploads stored already (e.g. a
// broadcast's chunk task that sends the broadcast's uploads), starting
// their retention again. If one is gone, Hold returns an error that
// errors.Is [ErrMissing]; the others are held even so, and the caller
// releases them all as it would after success.
func (s *Store) Hold(ctx context.Context, holder string, ups ...tasks.Upload) error {
	if holder == "" {
		return errors.New("files: hold: empty holder")
	}
	held, err := s.eachScript(ctx, holdScript, ups, holder, s.cfg.Retention.Milliseconds())
	if err != nil {
		return fmt.Errorf("files: hold: %w", err)
	}
	for i, h := range held {
		if h == 0 {
			return fmt.Errorf("files: hold %s: %w", ups[i], ErrMissing)
		}
	}
	return nil
}

// Release removes holder from the users of each upload, and deletes the
// bytes of an upload no user holds any more, in one script per upload:
// a concurrent Put or Hold of the same content by another holder either
// comes first (and keeps the bytes) or finds them gone (Put stores them
// again; Hold returns ErrMissing). Releasing what holder does not hold is
// not an error.
func (s *Store) Release(ctx context.Context, holder string, ups ...tasks.Upload) error {
	if holder == "" {
		return errors.New("files: release: empty holder")
	}
	if _, err := s.eachScript(ctx, releaseScript, ups, holder); err != nil {
		return fmt.Errorf("files: release: %w", err)
	}
	return nil
}

// eachScript runs sc on every upload's keys (data, holders) with args, in
// one pipeline (one round trip per Redis Cluster node), and returns each
// integer reply.
func (s *Store) eachScript(ctx context.Context, sc *redis.Script, ups []tasks.Upload, args ...any) ([]int64, error) {
	for _, u := range ups {
		if err := checkRef(u); err != nil {
			return nil, err
		}
	}
	cmds := make([]*redis.Cmd, len(ups))
	if len(ups) == 1 {
		// EVALSHA, with EVAL after NOSCRIPT; a pipeline cannot fall back.
		cmds[0] = sc.Run(ctx, s.rdb, uploadKeys(ups[0]), args...)
	} else if len(ups) > 1 {
		_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, u := range ups {
				cmds[i] = sc.Eval(ctx, p, uploadKeys(u), args...)
			}
			return nil
		})
	}
	out := make([]int64, len(ups))
	for i, c := range cmds {
		n, err := c.Int64()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ups[i], err)
		}
		out[i] = n
	}
	return out, nil
}

func uploadKeys(u tasks.Upload) []string {
	k := keys.UploadOf(u.SHA256)
	return []string{k.Data(), k.Holders()}
}

var sha256RE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// checkRef refuses a reference whose hash would not name an upload's keys.
func checkRef(u tasks.Upload) error {
	if !sha256RE.MatchString(u.SHA256) {
		return errors.New("files: upload reference without a valid sha256")
	}
	return nil
}

// Open returns the stored bytes of u, or an error that errors.Is
// [ErrMissing] if they are gone. It does not start the retention again:
// holding does.
func (s *Store) Open(ctx context.Context, u tasks.Upload) ([]byte, error) {
	if err := checkRef(u); err != nil {
		return nil, err
	}
	b, err := s.rdb.Get(ctx, keys.UploadOf(u.SHA256).Data()).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("files: open %s: %w", u, ErrMissing)
	}
	if err != nil {
		return nil, fmt.Errorf("files: open %s: %w", u, err)
	}
	if int64(len(b)) != u.Size {
		return nil, fmt.Errorf("files: open %s: %d bytes stored under its hash", u, len(b))
	}
	return b, nil
}
