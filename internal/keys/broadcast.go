package keys

import "strconv"

// BroadcastPrefix starts every key of a broadcast.
const BroadcastPrefix = Prefix + "bc:"

// Broadcast names the keys of one broadcast (see internal/broadcast). Every
// key carries the Redis Cluster hash tag {id}, so that each script touches
// one slot.
type Broadcast string

// BroadcastOf returns the keys of broadcast id.
func BroadcastOf(id string) Broadcast { return Broadcast(BroadcastPrefix + "{" + id + "}:") }

// Meta is the hash of the broadcast's message, bot, sizes, state and counts.
func (k Broadcast) Meta() string { return string(k) + "meta" }

// Progress is the hash of each chunk's progress.
func (k Broadcast) Progress() string { return string(k) + "progress" }

// Blocked holds the chats that answered 403, 8 bytes each.
func (k Broadcast) Blocked() string { return string(k) + "blocked" }

// List is chunk c's list of recipients for pass p: the chunk itself for
// p = 0, the recipients to try again in pass p otherwise.
func (k Broadcast) List(c, p int) string {
	if p == 0 {
		return string(k) + "r:" + strconv.Itoa(c)
	}
	return string(k) + "r:" + strconv.Itoa(c) + ":" + strconv.Itoa(p)
}
