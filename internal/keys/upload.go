package keys

// The upload store's keys (internal/files). An upload's keys carry the
// Redis Cluster hash tag {<sha256>}, so that its bytes, its holder set and
// the file ids Telegram gave for it live in one slot and one script or
// MULTI can touch them together.

// UploadPrefix starts the keys of every stored upload.
const UploadPrefix = Prefix + "upload:"

// Upload names the keys of the upload whose content has the hex SHA-256
// sha.
type Upload string

// UploadOf returns the keys of the upload with content hash sha.
func UploadOf(sha string) Upload { return Upload(sha) }

// Data holds the upload's bytes.
func (k Upload) Data() string { return UploadPrefix + "{" + string(k) + "}" }

// Holders is the set of the task and broadcast ids that use the upload;
// the upload is deleted when the last of them releases it.
func (k Upload) Holders() string { return UploadPrefix + "{" + string(k) + "}:holders" }

// FileID holds the file_id Telegram answered when bot uploaded the content.
// A file_id belongs to one bot: every bot has its own key.
func (k Upload) FileID(bot string) string { return Prefix + "fileid:{" + string(k) + "}:" + bot }

// Claim marks that one of bot's senders is uploading the content, so that
// the others sending it wait for its file_id instead of uploading it too.
func (k Upload) Claim(bot string) string { return Prefix + "uploading:{" + string(k) + "}:" + bot }

// Coalesce holds the id of the newest queued call to a coalescing target
// (tasks.Call.CoalesceKey: a bot, a chat, a message and the edited part):
// an older call to it completes as superseded.
func Coalesce(target string) string { return Prefix + "coalesce:" + target }

// RefWaiters is the set of the calls ("queue|task id") parked until the task
// taskID has sent its message (a message_task_id reference): the task wakes
// them when it is done.
func RefWaiters(taskID string) string { return Prefix + "refwaiters:" + taskID }
