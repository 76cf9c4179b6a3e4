// Package files stores the files tasks upload to Telegram in Redis, once
// per content, and remembers the file_id Telegram gives each bot for them,
// so that a photo broadcast to 10,000 chats is stored once and uploaded to
// Telegram once.
//
// # Lifecycle of an upload
//
//  1. Put: the server reads a media field's upload (at most the field's
//     limit, see [Store.Limit]), hashes it, and stores it under its SHA-256
//     with the id of the task or broadcast that uses it as its first
//     holder. A payload carries the returned [tasks.Upload] reference,
//     never the bytes. Putting the same content again adds a holder; the
//     bytes stay stored once, whatever the file name.
//  2. Hold: a task created from another's upload (a broadcast's chunk
//     task) becomes a holder too. [ErrMissing] if the bytes are gone.
//  3. Send: the handler asks [Store.Resolve] for the file_ids its bot has
//     for the task's uploads. A field with a file_id is sent by file_id;
//     the others are read with [Store.Open] and uploaded, and the file_ids
//     Telegram answers are stored with [Store.SetFileIDs]. A file_id
//     belongs to one bot and is never used for another; Telegram refusing
//     one calls for [Store.ForgetFileID] and an upload.
//  4. Release: when a task is final (sent, failed for good, cancelled) or
//     a broadcast ends, its id is removed from the holders; the last
//     release deletes the bytes. The file_ids stay for Config.FileIDTTL
//     (30 days): a later Put of the same content is sent by file_id.
//
// Nothing leaks when a holder is never released (a task deleted by hand, a
// crashed server between Put and enqueue): the bytes and the holder set
// expire after Config.Retention (7 days, a task's longest life), which
// every Put and Hold starts again.
//
// # Consistency
//
// An upload's keys share the Redis Cluster hash tag {<sha256>} (see
// internal/keys), so that Put writes bytes and holder in one MULTI, and
// Hold and Release are one script each: a Release by the last holder and a
// concurrent Put by a new one never leave the new holder without bytes.
// A Redis whose maxmemory-policy evicts keys (allkeys-*) can still drop the
// bytes of a held upload; Open then returns [ErrMissing], as after expiry.
//
// # Memory
//
// Redis keeps each stored upload in one string: about its size, rounded up
// to the allocator's size class (jemalloc's classes step by a quarter of a
// power of two, so a string just over 1 MiB takes 1.25 MiB). Config.MaxBytes
// (UPLOAD_MAX_BYTES) bounds one upload; the number of distinct uploads held
// at once times their size bounds the total. On top of the keys, every Put
// and Open of a large upload passes through a connection's query or reply
// buffer in redis-server, about the upload's size per connection busy with
// one, freed again within seconds. TestMemoryPerStoredMB measures the
// keys and what Put leaves in those buffers.
package files
