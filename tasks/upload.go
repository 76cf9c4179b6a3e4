package tasks

import (
	"fmt"
	"regexp"
)

// Upload is a file a task uploads to Telegram. Its bytes are stored in Redis
// once per content (see the worker's upload store), shared by every task that
// uses them; a payload carries only this reference, never the bytes.
type Upload struct {
	// SHA256 is the hex SHA-256 of the content: the key it is stored under.
	SHA256 string `json:"sha256"`
	// Size in bytes.
	Size int64 `json:"size"`
	// Name is the file name Telegram shows (e.g. for a document).
	Name string `json:"name,omitempty"`
	// ContentType is the MIME type sent with the file, if known.
	ContentType string `json:"content_type,omitempty"`
}

// Telegram's upload limits (Bot API, "Sending files").
const (
	MaxPhotoBytes = 10 << 20 // a photo uploaded with multipart/form-data
	MaxFileBytes  = 50 << 20 // any other file
)

var sha256RE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// validate checks the reference itself (not the stored bytes).
func (u Upload) validate(field string) error {
	if !sha256RE.MatchString(u.SHA256) {
		return invalid(field, ErrInvalidField, "upload reference without a valid sha256")
	}
	if u.Size <= 0 || u.Size > MaxFileBytes {
		return invalid(field, ErrInvalidField, "upload of %d bytes: want 1 to %d", u.Size, MaxFileBytes)
	}
	if len(u.Name) > 256 {
		return invalid(field, ErrInvalidField, "file name longer than 256 bytes")
	}
	return nil
}

// String names the upload without its content, for logs and errors.
func (u Upload) String() string {
	return fmt.Sprintf("upload %s… (%d bytes)", u.SHA256[:min(12, len(u.SHA256))], u.Size)
}
