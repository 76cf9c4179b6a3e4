package files

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/keys"
	"github.com/telequeue/telequeue/internal/redistest"
	"github.com/telequeue/telequeue/tasks"
)

func newStore(t testing.TB, cfg Config) (*Store, *redis.Client) {
	t.Helper()
	rdb := redistest.Start(t).Client(t)
	s, err := NewStore(rdb, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, rdb
}

// content returns n bytes that differ for each seed.
func content(seed, n int) []byte {
	b := make([]byte, n)
	x := uint32(seed)*2654435761 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

func usedMemory(t testing.TB, rdb *redis.Client) int64 {
	t.Helper()
	info, err := rdb.Info(context.Background(), "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no used_memory in INFO memory")
	return 0
}

func dbKeys(t testing.TB, rdb *redis.Client) []string {
	t.Helper()
	ks, err := rdb.Keys(context.Background(), "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(ks)
	return ks
}

func TestConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		want Config // zero if invalid
	}{
		{"defaults", Config{}, Config{MaxBytes: tasks.MaxFileBytes, Retention: DefaultRetention, FileIDTTL: DefaultFileIDTTL}},
		{"set", Config{MaxBytes: 5 << 20, Retention: time.Hour, FileIDTTL: time.Minute}, Config{MaxBytes: 5 << 20, Retention: time.Hour, FileIDTTL: time.Minute}},
		{"negative max", Config{MaxBytes: -1}, Config{}},
		{"max above Telegram's", Config{MaxBytes: tasks.MaxFileBytes + 1}, Config{}},
		{"negative retention", Config{Retention: -time.Second}, Config{}},
		{"retention under 1ms", Config{Retention: time.Microsecond}, Config{}},
		{"negative file id ttl", Config{FileIDTTL: -time.Second}, Config{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewStore(nil, tt.cfg)
			if tt.want == (Config{}) {
				if err == nil {
					t.Fatalf("NewStore(%+v) succeeded", tt.cfg)
				}
				return
			}
			if err != nil || s.cfg != tt.want {
				t.Fatalf("NewStore(%+v): %+v, %v; want %+v", tt.cfg, s.cfg, err, tt.want)
			}
		})
	}
}

func TestLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		max, field, want int64
	}{
		{0, tasks.MaxPhotoBytes, tasks.MaxPhotoBytes},
		{0, tasks.MaxFileBytes, tasks.MaxFileBytes},
		{0, 0, tasks.MaxFileBytes},
		{20 << 20, tasks.MaxPhotoBytes, tasks.MaxPhotoBytes},
		{20 << 20, tasks.MaxFileBytes, 20 << 20},
		{1000, tasks.MaxPhotoBytes, 1000},
		{1000, -5, 1000},
	}
	for _, tt := range tests {
		s, err := NewStore(nil, Config{MaxBytes: tt.max})
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Limit(tt.field); got != tt.want {
			t.Errorf("MaxBytes %d: Limit(%d) = %d, want %d", tt.max, tt.field, got, tt.want)
		}
	}
}

// TestPutStoresOnce puts the same content for two holders under two names:
// one copy of the bytes, two holders, both references naming it.
func TestPutStoresOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, rdb := newStore(t, Config{})
	data := content(1, 1<<20)
	sum := sha256.Sum256(data)
	sha := hex.EncodeToString(sum[:])
	k := keys.UploadOf(sha)

	before := usedMemory(t, rdb)
	u1, err := s.Put(ctx, "task-1", bytes.NewReader(data), "a.jpg", "image/jpeg", tasks.MaxPhotoBytes)
	if err != nil {
		t.Fatal(err)
	}
	afterFirst := usedMemory(t, rdb)
	// Not a bytes.Reader: no length hint, and the probe path (>= probeBytes).
	u2, err := s.Put(ctx, "task-2", io.MultiReader(bytes.NewReader(data)), "b.jpg", "", tasks.MaxPhotoBytes)
	if err != nil {
		t.Fatal(err)
	}
	afterSecond := usedMemory(t, rdb)

	want1 := tasks.Upload{SHA256: sha, Size: 1 << 20, Name: "a.jpg", ContentType: "image/jpeg"}
	want2 := tasks.Upload{SHA256: sha, Size: 1 << 20, Name: "b.jpg"}
	if u1 != want1 || u2 != want2 {
		t.Fatalf("references %+v, %+v; want %+v, %+v", u1, u2, want1, want2)
	}
	if got, want := dbKeys(t, rdb), []string{k.Data(), k.Holders()}; !slices.Equal(got, want) {
		t.Fatalf("keys %v, want %v", got, want)
	}
	holders, err := rdb.SMembers(ctx, k.Holders()).Result()
	slices.Sort(holders)
	if err != nil || !slices.Equal(holders, []string{"task-1", "task-2"}) {
		t.Fatalf("holders %v, %v", holders, err)
	}
	if d := afterFirst - before; d < 1<<20 {
		t.Errorf("first put grew used_memory by %d bytes, less than the upload", d)
	}
	if d := afterSecond - afterFirst; d > 64<<10 {
		t.Errorf("second put of the same content grew used_memory by %d bytes", d)
	}
	got, err := s.Open(ctx, u2)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Open: %d bytes, %v", len(got), err)
	}

	// A small upload goes the one-round-trip way; same result.
	small := []byte("hello")
	u3, err := s.Put(ctx, "task-3", bytes.NewReader(small), "h.txt", "text/plain", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "task-4", strings.NewReader("hello"), "", "", 0); err != nil {
		t.Fatal(err)
	}
	k3 := keys.UploadOf(u3.SHA256)
	if n, _ := rdb.SCard(ctx, k3.Holders()).Result(); n != 2 {
		t.Errorf("small upload has %d holders, want 2", n)
	}
	if n, _ := rdb.DBSize(ctx).Result(); n != 4 {
		t.Errorf("%d keys after two contents, want 4", n)
	}
}

// TestRelease releases holders in turn: the bytes stay while one is left.
func TestRelease(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, rdb := newStore(t, Config{})
	small, err := s.Put(ctx, "t1", strings.NewReader("small"), "", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	big, err := s.Put(ctx, "t1", bytes.NewReader(content(2, probeBytes+1)), "", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Hold(ctx, "t2", small, big); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		holder   string
		wantOpen bool
	}{
		{"stranger", true}, // not a holder: changes nothing
		{"t1", true},
		{"t1", true}, // twice: still t2's
		{"t2", false},
		{"t2", false}, // after the end: no error
	}
	for _, st := range steps {
		if err := s.Release(ctx, st.holder, small, big); err != nil {
			t.Fatalf("Release(%s): %v", st.holder, err)
		}
		for _, u := range []tasks.Upload{small, big} {
			_, err := s.Open(ctx, u)
			if st.wantOpen && err != nil {
				t.Fatalf("after Release(%s): Open(%s): %v", st.holder, u, err)
			}
			if !st.wantOpen && !errors.Is(err, ErrMissing) {
				t.Fatalf("after Release(%s): Open(%s): %v, want ErrMissing", st.holder, u, err)
			}
		}
	}
	if ks := dbKeys(t, rdb); len(ks) != 0 {
		t.Fatalf("keys left after the last release: %v", ks)
	}
	if err := s.Hold(ctx, "t3", small); !errors.Is(err, ErrMissing) {
		t.Fatalf("Hold of a released upload: %v, want ErrMissing", err)
	}
	if ks := dbKeys(t, rdb); len(ks) != 0 {
		t.Fatalf("a failed Hold wrote %v", ks)
	}
}

// countingReader yields endless bytes and counts what it gave.
type countingReader struct{ n int64 }

func (r *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	r.n += int64(len(p))
	return len(p), nil
}

func TestPutTooLarge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name       string
		max, field int64
		wantLimit  int64
	}{
		{"photo", 0, tasks.MaxPhotoBytes, tasks.MaxPhotoBytes},
		{"document under UPLOAD_MAX_BYTES", 3 << 20, tasks.MaxFileBytes, 3 << 20},
		{"photo under a smaller UPLOAD_MAX_BYTES", 1000, tasks.MaxPhotoBytes, 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, rdb := newStore(t, Config{MaxBytes: tt.max})
			r := &countingReader{}
			_, err := s.Put(ctx, "t1", r, "big", "", tt.field)
			var tl *TooLargeError
			if !errors.As(err, &tl) || !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Put: %v, want a *TooLargeError", err)
			}
			if tl.Limit != tt.wantLimit || tl.Size != tt.wantLimit+1 {
				t.Errorf("error %+v, want limit %d and size %d", *tl, tt.wantLimit, tt.wantLimit+1)
			}
			if r.n != tt.wantLimit+1 {
				t.Errorf("read %d bytes of the reader, want limit+1 = %d", r.n, tt.wantLimit+1)
			}
			if ks := dbKeys(t, rdb); len(ks) != 0 {
				t.Errorf("a refused upload wrote %v", ks)
			}
			// Exactly the limit is accepted.
			u, err := s.Put(ctx, "t1", io.LimitReader(&countingReader{}, tt.wantLimit), "", "", tt.field)
			if err != nil || u.Size != tt.wantLimit {
				t.Errorf("Put of exactly the limit: %+v, %v", u, err)
			}
		})
	}
}

func TestPutRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, rdb := newStore(t, Config{})
	if _, err := s.Put(ctx, "t1", strings.NewReader(""), "", "", 0); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty upload: %v, want ErrEmpty", err)
	}
	if _, err := s.Put(ctx, "", strings.NewReader("x"), "", "", 0); err == nil {
		t.Error("Put without a holder succeeded")
	}
	if _, err := s.Put(ctx, "t1", strings.NewReader("x"), strings.Repeat("n", 257), "", 0); err == nil {
		t.Error("Put with a 257-byte name succeeded")
	}
	readErr := errors.New("connection reset")
	if _, err := s.Put(ctx, "t1", io.MultiReader(strings.NewReader("part"), iotestErr{readErr}), "", "", 0); !errors.Is(err, readErr) {
		t.Errorf("failing reader: %v, want it wrapped", err)
	}
	if ks := dbKeys(t, rdb); len(ks) != 0 {
		t.Errorf("refused uploads wrote %v", ks)
	}
	bad := tasks.Upload{SHA256: "x}:y", Size: 1}
	if _, err := s.Open(ctx, bad); err == nil {
		t.Error("Open of an invalid reference succeeded")
	}
	if err := s.Hold(ctx, "t1", bad); err == nil {
		t.Error("Hold of an invalid reference succeeded")
	}
	if err := s.Release(ctx, "t1", bad); err == nil {
		t.Error("Release of an invalid reference succeeded")
	}
}

type iotestErr struct{ err error }

func (r iotestErr) Read([]byte) (int, error) { return 0, r.err }

// TestOpenSizeMismatch: a reference whose size is not the stored one is
// refused rather than sent truncated.
func TestOpenSizeMismatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t, Config{})
	u, err := s.Put(ctx, "t1", strings.NewReader("12345"), "", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	u.Size = 4
	if _, err := s.Open(ctx, u); err == nil || errors.Is(err, ErrMissing) {
		t.Fatalf("Open with a wrong size: %v", err)
	}
}

// TestRetention: every key expires; Hold and Put start the retention
// again; after it, Open and Hold report ErrMissing.
func TestRetention(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const retention = 400 * time.Millisecond
	s, rdb := newStore(t, Config{Retention: retention, FileIDTTL: time.Hour})
	u, err := s.Put(ctx, "t1", strings.NewReader("expiring"), "", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetFileID(ctx, "default", u, "AgAD1"); err != nil {
		t.Fatal(err)
	}
	k := keys.UploadOf(u.SHA256)
	wantTTL := map[string]time.Duration{k.Data(): retention, k.Holders(): retention, k.FileID("default"): time.Hour}
	checkTTLs := func(when string) {
		t.Helper()
		for _, key := range dbKeys(t, rdb) {
			ttl, err := rdb.PTTL(ctx, key).Result()
			if err != nil {
				t.Fatal(err)
			}
			max, ok := wantTTL[key]
			if !ok || ttl <= 0 || ttl > max {
				t.Errorf("%s: key %s has TTL %v, want (0, %v]", when, key, ttl, max)
			}
		}
	}
	checkTTLs("after Put")
	if err := rdb.PExpire(ctx, k.Data(), 100*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.PExpire(ctx, k.Holders(), 100*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.Hold(ctx, "t2", u); err != nil {
		t.Fatal(err)
	}
	checkTTLs("after Hold")
	for _, key := range []string{k.Data(), k.Holders()} {
		if ttl := rdb.PTTL(ctx, key).Val(); ttl <= 100*time.Millisecond {
			t.Errorf("Hold did not start %s's retention again: TTL %v", key, ttl)
		}
	}

	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := s.Open(ctx, u)
		if errors.Is(err, ErrMissing) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("upload still stored 5s after a retention of %v", retention)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := rdb.Exists(ctx, k.Data(), k.Holders()).Val(); n != 0 {
		t.Errorf("%d upload keys left after the retention", n)
	}
	if err := s.Hold(ctx, "t3", u); !errors.Is(err, ErrMissing) {
		t.Errorf("Hold after the retention: %v, want ErrMissing", err)
	}
	// The file_id outlives the bytes: a later Put of the content is sent
	// by file_id.
	if id, err := s.FileID(ctx, "default", u); err != nil || id != "AgAD1" {
		t.Errorf("file id after the upload expired: %q, %v", id, err)
	}
}

func TestFileIDPerBot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, rdb := newStore(t, Config{FileIDTTL: time.Hour})
	photo, err := s.Put(ctx, "t1", strings.NewReader("photo"), "p.jpg", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := s.Put(ctx, "t1", strings.NewReader("document"), "d.pdf", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := s.FileID(ctx, "main", photo); err != nil || id != "" {
		t.Fatalf("FileID before any: %q, %v", id, err)
	}
	if err := s.SetFileID(ctx, "main", photo, "main-photo"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetFileIDs(ctx, "promo", map[string]tasks.Upload{"media.0": photo, "media.1": doc},
		map[string]string{"media.0": "promo-photo", "media.1": "promo-doc"}); err != nil {
		t.Fatal(err)
	}
	ups := map[string]tasks.Upload{"photo": photo, "document": doc}
	tests := []struct {
		bot  string
		want map[string]string
	}{
		{"main", map[string]string{"photo": "main-photo"}},
		{"promo", map[string]string{"photo": "promo-photo", "document": "promo-doc"}},
		{"alerts", map[string]string{}},
	}
	for _, tt := range tests {
		got, err := s.Resolve(ctx, tt.bot, ups)
		if err != nil || !mapsEqual(got, tt.want) {
			t.Errorf("Resolve(%s) = %v, %v; want %v", tt.bot, got, err, tt.want)
		}
	}
	if id, _ := s.FileID(ctx, "main", doc); id != "" {
		t.Errorf("main has promo's file id %q", id)
	}
	if ttl := rdb.PTTL(ctx, keys.UploadOf(photo.SHA256).FileID("main")).Val(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("file id TTL %v, want (0, 1h]", ttl)
	}
	if err := s.ForgetFileID(ctx, "promo", photo); err != nil {
		t.Fatal(err)
	}
	if id, _ := s.FileID(ctx, "promo", photo); id != "" {
		t.Errorf("forgotten file id still %q", id)
	}
	if id, _ := s.FileID(ctx, "main", photo); id != "main-photo" {
		t.Errorf("forgetting promo's file id changed main's: %q", id)
	}

	// A token in place of a bot name never reaches Redis or an error.
	const token = "123456:AAH-secret"
	for _, err := range []error{
		s.SetFileID(ctx, token, photo, "x"),
		s.ForgetFileID(ctx, token, photo),
		func() error { _, err := s.FileID(ctx, token, photo); return err }(),
	} {
		if err == nil || strings.Contains(err.Error(), "secret") {
			t.Errorf("bot name %q: error %v", token, err)
		}
	}
	for _, key := range dbKeys(t, rdb) {
		if strings.Contains(key, "secret") {
			t.Errorf("key %s holds the token", key)
		}
	}
	if got, err := s.Resolve(ctx, "main", nil); err != nil || len(got) != 0 {
		t.Errorf("Resolve of no uploads: %v, %v", got, err)
	}
	if err := s.SetFileIDs(ctx, "main", nil, nil); err != nil {
		t.Errorf("SetFileIDs of nothing: %v", err)
	}
	if err := s.Hold(ctx, "t9"); err != nil {
		t.Errorf("Hold of no uploads: %v", err)
	}
	if err := s.Release(ctx, "t9"); err != nil {
		t.Errorf("Release of no uploads: %v", err)
	}
	if err := s.SetFileID(ctx, "main", photo, ""); err == nil {
		t.Error("SetFileID with an empty file id succeeded")
	}
	if err := s.SetFileIDs(ctx, "main", map[string]tasks.Upload{}, map[string]string{"photo": "x"}); err == nil {
		t.Error("SetFileIDs for a field without an upload succeeded")
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestConcurrentPutRelease: holders put and release the same contents at
// once; an upload is readable between its holder's Put and Release every
// time, and nothing is left at the end.
func TestConcurrentPutRelease(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, rdb := newStore(t, Config{})
	contents := [][]byte{[]byte("tiny shared photo"), content(3, probeBytes+10)}
	const workers, rounds = 8, 60
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				data := contents[(w+i)%len(contents)]
				holder := fmt.Sprintf("task-%d-%d", w, i)
				u, err := s.Put(ctx, holder, bytes.NewReader(data), "", "", 0)
				if err != nil {
					errs <- err
					return
				}
				if i%3 == 0 { // a chunk task holding it too
					if err := s.Hold(ctx, holder+"-chunk", u); err != nil {
						errs <- fmt.Errorf("Hold while %s holds it: %w", holder, err)
						return
					}
					if err := s.Release(ctx, holder+"-chunk", u); err != nil {
						errs <- err
						return
					}
				}
				got, err := s.Open(ctx, u)
				if err != nil || !bytes.Equal(got, data) {
					errs <- fmt.Errorf("Open while %s holds it: %d bytes, %w", holder, len(got), err)
					return
				}
				if err := s.Release(ctx, holder, u); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if ks := dbKeys(t, rdb); len(ks) != 0 {
		t.Errorf("keys left after every holder released: %v", ks)
	}
}

// TestCluster runs the store on Redis Cluster: an upload's keys share one
// slot (MULTI and scripts), and Hold, Release and Resolve of uploads on
// different nodes go through one pipeline.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := redistest.StartCluster(t, 3)
	s, err := NewStore(c.Client(t), Config{})
	if err != nil {
		t.Fatal(err)
	}
	var ups []tasks.Upload
	nodes := map[string]bool{}
	for i := 0; len(nodes) < 2 || len(ups) < 4; i++ {
		size := 100
		if i%2 == 1 {
			size = probeBytes
		}
		u, err := s.Put(ctx, "bc-1", bytes.NewReader(content(50+i, size)), "", "", 0)
		if err != nil {
			t.Fatal(err)
		}
		k := keys.UploadOf(u.SHA256)
		addr, _, err := c.NodeOf(ctx, k.Data())
		if err != nil {
			t.Fatal(err)
		}
		for _, other := range []string{k.Holders(), k.FileID("main")} {
			if a, _, _ := c.NodeOf(ctx, other); a != addr {
				t.Fatalf("%s on %s, %s on %s", k.Data(), addr, other, a)
			}
		}
		nodes[addr] = true
		ups = append(ups, u)
	}
	if err := s.Hold(ctx, "chunk-0", ups...); err != nil {
		t.Fatal(err)
	}
	fields := map[string]tasks.Upload{}
	ids := map[string]string{}
	for i, u := range ups {
		f := "media." + strconv.Itoa(i)
		fields[f], ids[f] = u, "fid-"+strconv.Itoa(i)
	}
	if err := s.SetFileIDs(ctx, "main", fields, ids); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Resolve(ctx, "main", fields); err != nil || !mapsEqual(got, ids) {
		t.Fatalf("Resolve = %v, %v; want %v", got, err, ids)
	}
	if err := s.Release(ctx, "bc-1", ups...); err != nil {
		t.Fatal(err)
	}
	for _, u := range ups {
		if _, err := s.Open(ctx, u); err != nil {
			t.Fatalf("Open(%s) while chunk-0 holds it: %v", u, err)
		}
	}
	if err := s.Release(ctx, "chunk-0", ups...); err != nil {
		t.Fatal(err)
	}
	for _, u := range ups {
		if _, err := s.Open(ctx, u); !errors.Is(err, ErrMissing) {
			t.Fatalf("Open(%s) after the last release: %v, want ErrMissing", u, err)
		}
	}
}
