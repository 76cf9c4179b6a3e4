package sandbox

// msgLog stores delivered messages in chunks that are never copied once
// full, so recording stays O(1) without growslice copies of a large slice.
type msgLog struct {
	chunks [][]Received
	n      int
}

const (
	minChunk = 64
	maxChunk = 8192
)

func (l *msgLog) add(r Received) {
	last := len(l.chunks) - 1
	if last < 0 || len(l.chunks[last]) == cap(l.chunks[last]) {
		l.chunks = append(l.chunks, make([]Received, 0, min(max(l.n, minChunk), maxChunk)))
		last++
	}
	l.chunks[last] = append(l.chunks[last], r)
	l.n++
}

func (l *msgLog) len() int { return l.n }

// all returns a flat copy.
func (l *msgLog) all() []Received {
	out := make([]Received, 0, l.n)
	for _, c := range l.chunks {
		out = append(out, c...)
	}
	return out
}

// filter returns copies of the messages keep accepts.
func (l *msgLog) filter(keep func(*Received) bool) []Received {
	out := make([]Received, 0)
	for _, c := range l.chunks {
		for i := range c {
			if keep(&c[i]) {
				out = append(out, c[i])
			}
		}
	}
	return out
}
