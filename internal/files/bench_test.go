package files

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/keys"
)

// memory is what n distinct uploads cost Redis, per stored byte.
type memory struct {
	// Keys is INFO memory's used_memory delta less mem_clients_normal's:
	// the keys themselves, allocator rounding included.
	Keys float64
	// Clients is mem_clients_normal's delta: the query buffers the uploads
	// passed through, kept until redis-server's clientsCron shrinks them.
	Clients float64
	// Usage is the sum of MEMORY USAGE of the upload keys.
	Usage float64
}

// memoryPerByte stores n distinct uploads of sizes[i%len(sizes)] bytes on
// a new server and returns what they cost Redis per stored byte.
func memoryPerByte(tb testing.TB, n int, sizes ...int) memory {
	tb.Helper()
	ctx := context.Background()
	s, rdb := newStore(tb, Config{})
	// Warm the connection and the scripts up, then measure.
	if _, err := s.Put(ctx, "warm", bytes.NewReader([]byte("warm")), "", "", 0); err != nil {
		tb.Fatal(err)
	}
	used0, clients0 := memoryInfo(tb, rdb)
	var usage, stored int64
	for i := range n {
		size := sizes[i%len(sizes)]
		u, err := s.Put(ctx, fmt.Sprintf("task-%d", i), bytes.NewReader(content(100+i, size)), "", "", 0)
		if err != nil {
			tb.Fatal(err)
		}
		stored += int64(size)
		k := keys.UploadOf(u.SHA256)
		for _, key := range []string{k.Data(), k.Holders()} {
			m, err := rdb.MemoryUsage(ctx, key).Result()
			if err != nil {
				tb.Fatal(err)
			}
			usage += m
		}
	}
	used1, clients1 := memoryInfo(tb, rdb)
	per := func(n int64) float64 { return float64(n) / float64(stored) }
	return memory{Keys: per(used1 - used0 - (clients1 - clients0)), Clients: per(clients1 - clients0), Usage: per(usage)}
}

// memoryInfo returns INFO memory's used_memory and mem_clients_normal.
func memoryInfo(tb testing.TB, rdb *redis.Client) (used, clients int64) {
	tb.Helper()
	info, err := rdb.Info(context.Background(), "memory").Result()
	if err != nil {
		tb.Fatal(err)
	}
	used, clients = -1, -1
	for _, line := range strings.Split(info, "\r\n") {
		name, v, _ := strings.Cut(line, ":")
		switch name {
		case "used_memory":
			used, err = strconv.ParseInt(v, 10, 64)
		case "mem_clients_normal":
			clients, err = strconv.ParseInt(v, 10, 64)
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
	if used < 0 || clients < 0 {
		tb.Fatalf("INFO memory without used_memory or mem_clients_normal: %s", info)
	}
	return used, clients
}

// TestMemoryPerStoredMB measures what an upload costs Redis, to size
// UPLOAD_MAX_BYTES and maxmemory: run with -v to see the figures. It fails
// if the keys take less than the bytes stored or half as much again (a
// second copy kept).
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
		{"3x10MiB", 3, []int{10 << 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := memoryPerByte(t, tt.n, tt.sizes...)
			t.Logf("%d distinct uploads of %v bytes, per stored MB: keys %.3f MB (MEMORY USAGE %.3f), client buffers %.3f MB",
				tt.n, tt.sizes, m.Keys, m.Usage, m.Clients)
			if m.Keys < 1 || m.Keys > 1.5 {
				t.Errorf("the keys took %.3f times the stored bytes, want 1 to 1.5", m.Keys)
			}
			if m.Usage < 1 || m.Usage > 1.5 {
				t.Errorf("MEMORY USAGE is %.3f times the stored bytes, want 1 to 1.5", m.Usage)
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
