package files

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"testing"

	"github.com/telequeue/telequeue/internal/keys"
)

// memory is what distinct uploads cost Redis.
type memory struct {
	// Stored is the number of bytes uploaded.
	Stored int64
	// Used is INFO memory's used_memory delta: the keys, plus the query
	// buffers the uploads passed through, which redis-server keeps for a
	// while (its clientsCron shrinks them; mem_clients_normal is updated
	// by the same cron, so it cannot be subtracted reliably).
	Used int64
	// Usage is the sum of MEMORY USAGE of the upload keys: the keys alone,
	// allocator rounding included.
	Usage int64
}

// perMB returns n per stored MB.
func (m memory) perMB(n int64) float64 { return float64(n) / float64(m.Stored) }

// memoryOf stores n distinct uploads of sizes[i%len(sizes)] bytes on a new
// server and returns what they cost Redis.
func memoryOf(tb testing.TB, n int, sizes ...int) memory {
	tb.Helper()
	ctx := context.Background()
	s, rdb := newStore(tb, Config{})
	// Warm the connection and the scripts up, then measure.
	if _, err := s.Put(ctx, "warm", bytes.NewReader([]byte("warm")), "", "", 0); err != nil {
		tb.Fatal(err)
	}
	var m memory
	before := usedMemory(tb, rdb)
	for i := range n {
		size := sizes[i%len(sizes)]
		u, err := s.Put(ctx, fmt.Sprintf("task-%d", i), bytes.NewReader(content(100+i, size)), "", "", 0)
		if err != nil {
			tb.Fatal(err)
		}
		m.Stored += int64(size)
		k := keys.UploadOf(u.SHA256)
		for _, key := range []string{k.Data(), k.Holders()} {
			u, err := rdb.MemoryUsage(ctx, key).Result()
			if err != nil {
				tb.Fatal(err)
			}
			m.Usage += u
		}
	}
	m.Used = usedMemory(tb, rdb) - before
	return m
}

// TestMemoryPerStoredMB measures what an upload costs Redis, to size
// UPLOAD_MAX_BYTES and maxmemory: run with -v to see the figures. It fails
// if the keys take less than the bytes stored or half as much again (a
// second copy kept), or if used_memory grew by more than the keys and two
// query buffers of the largest upload.
func TestMemoryPerStoredMB(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		n     int
		sizes []int
	}{
		{"20x1MiB", 20, []int{1 << 20}},
		{"20x1MB", 20, []int{1_000_000}},
		{"20x0.5-1.5MB", 20, []int{500_000, 650_000, 800_000, 950_000, 1_100_000, 1_250_000, 1_400_000, 1_500_000}},
		{"20x256KiB", 20, []int{256 << 10}},
		{"5x10MiB", 5, []int{10 << 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := memoryOf(t, tt.n, tt.sizes...)
			t.Logf("%d distinct uploads of %v bytes, per stored MB: used_memory +%.3f MB, MEMORY USAGE %.3f MB",
				tt.n, tt.sizes, m.perMB(m.Used), m.perMB(m.Usage))
			if u := m.perMB(m.Usage); u < 1 || u > 1.5 {
				t.Errorf("MEMORY USAGE is %.3f times the stored bytes, want 1 to 1.5", u)
			}
			if buffers := 2 * int64(slices.Max(tt.sizes)) * 5 / 4; m.Used < m.Stored || m.Used > m.Usage+buffers {
				t.Errorf("used_memory grew by %d bytes for %d stored in keys of %d", m.Used, m.Stored, m.Usage)
			}
		})
	}
}

// BenchmarkPut stores uploads: "new" a distinct content each time (released
// outside the timer so that memory stays flat), "same" one content for a
// new holder each time (the broadcast case: no second copy, and from
// probeBytes on no transfer of the bytes). Run with -benchmem: a Put
// allocates about the upload's size once (bytes.Reader tells its length);
// TestMemoryPerStoredMB measures the Redis side.
func BenchmarkPut(b *testing.B) {
	ctx := context.Background()
	for _, size := range []int{1 << 10, 64 << 10, 1 << 20, 10 << 20} {
		data := content(7, size)
		b.Run(fmt.Sprintf("new/%dKiB", size>>10), func(b *testing.B) {
			s, _ := newStore(b, Config{})
			buf := bytes.Clone(data)
			b.SetBytes(int64(size))
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				binary.LittleEndian.PutUint64(buf, uint64(i))
				u, err := s.Put(ctx, "bench", bytes.NewReader(buf), "", "", 0)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := s.Release(ctx, "bench", u); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
		b.Run(fmt.Sprintf("same/%dKiB", size>>10), func(b *testing.B) {
			s, _ := newStore(b, Config{})
			b.SetBytes(int64(size))
			for i := 0; b.Loop(); i++ {
				if _, err := s.Put(ctx, "task-"+fmt.Sprint(i), bytes.NewReader(data), "", "", 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
