package sandbox

import (
	"image"
	_ "image/gif"  // photo sizes of uploaded GIFs
	_ "image/jpeg" // photo sizes of uploaded JPEGs
	_ "image/png"  // photo sizes of uploaded PNGs
	"mime/multipart"
	"strconv"
	"strings"
)

// Upload limits: Telegram accepts multipart uploads of photos up to 10 MB
// and of other files up to 50 MB, and answers a bigger one 413.
const (
	MaxPhotoUpload = 10 << 20
	MaxFileUpload  = 50 << 20
)

// Media kinds: the Bot API field that carries the file, and
// [MessageState.Kind] / [MediaFile.Kind].
const (
	kindText      = "text"
	kindPhoto     = "photo"
	kindVideo     = "video"
	kindAnimation = "animation"
	kindAudio     = "audio"
	kindDocument  = "document"
	kindVoice     = "voice"
	kindVideoNote = "video_note"
	kindSticker   = "sticker"
)

// Where a file came from, as [MediaFile.Source] says.
const (
	SourceUpload = "upload"
	SourceFileID = "file_id"
	SourceURL    = "url"
)

// MediaFile is one file a call sent.
type MediaFile struct {
	// Kind is the media kind: photo, video, animation, audio, document,
	// voice, video_note or sticker.
	Kind string `json:"kind"`
	// FileID is the file_id the sandbox answered with: a new one for an
	// upload or a URL, the one given otherwise.
	FileID string `json:"file_id"`
	// Source is how the call named it: [SourceUpload], [SourceFileID] or
	// [SourceURL].
	Source string `json:"source"`
	// Size is an upload's size in bytes.
	Size int64 `json:"size,omitempty"`
	// Name is an upload's file name, or the URL.
	Name string `json:"name,omitempty"`
}

// fileInfo is a file the sandbox issued a file_id for.
type fileInfo struct {
	id, uniqueID  string
	kind          string
	size          int64
	width, height int
	name          string
	bot           int64
}

// mediaRef is a media field as sent: a file_id, a URL or an upload.
type mediaRef struct {
	kind          string
	fileID        string
	url           string
	upload        *multipart.FileHeader
	width, height int // of an uploaded photo
}

// media reads the media of kind whose value is v: the file part named
// field (when v is empty), attach://<name>, an http(s) URL or a file_id.
// Uploads over Telegram's limits answer 413.
func (a *args) media(kind, field, v string) (mediaRef, *apiErr) {
	m := mediaRef{kind: kind}
	switch {
	case v == "" && a.files[field] != nil:
		m.upload = a.files[field]
	case v == "":
		return m, badRequest("there is no " + strings.ReplaceAll(kind, "_", " ") + " in the request")
	case strings.HasPrefix(v, "attach://"):
		m.upload = a.files[v[len("attach://"):]]
		if m.upload == nil {
			return m, badRequest("wrong file identifier/HTTP URL specified")
		}
	case strings.HasPrefix(v, "http://") || strings.HasPrefix(v, "https://"):
		m.url = v
	default:
		m.fileID = v
	}
	if m.upload != nil {
		limit := int64(MaxFileUpload)
		if kind == kindPhoto {
			limit = MaxPhotoUpload
		}
		if m.upload.Size > limit {
			return m, errTooLarge
		}
		if kind == kindPhoto {
			m.width, m.height = imageSize(m.upload)
		}
	}
	return m, nil
}

// imageSize returns an uploaded image's size, or 1280×720 if it is not a
// GIF, JPEG or PNG.
func imageSize(fh *multipart.FileHeader) (w, h int) {
	f, err := fh.Open()
	if err != nil {
		return 1280, 720
	}
	defer func() { _ = f.Close() }()
	cfg, _, err := image.DecodeConfig(f)
	if err != nil {
		return 1280, 720
	}
	return cfg.Width, cfg.Height
}

// checkFileLocked reports whether m names a file_id bot may use.
func (s *Sandbox) checkFileLocked(bot int64, m *mediaRef) *apiErr {
	if m.fileID == "" {
		return nil
	}
	if f := s.files[m.fileID]; f == nil || f.bot != bot {
		return badRequest("wrong file identifier/HTTP URL specified")
	}
	return nil
}

// resolveFileLocked returns the file m names, issuing a file_id for an
// upload or URL and counting uploads. checkFileLocked must have passed.
func (s *Sandbox) resolveFileLocked(bot int64, m *mediaRef) (*fileInfo, MediaFile) {
	if m.fileID != "" {
		f := s.files[m.fileID]
		return f, MediaFile{Kind: m.kind, FileID: f.id, Source: SourceFileID}
	}
	s.fileSeq++
	n := strconv.FormatInt(s.fileSeq, 10)
	f := &fileInfo{id: "SBX" + fileIDPrefix(m.kind) + "-" + n, uniqueID: "SBXU-" + n, kind: m.kind, bot: bot,
		width: m.width, height: m.height}
	rec := MediaFile{Kind: m.kind, FileID: f.id}
	if m.upload != nil {
		f.size, f.name = m.upload.Size, m.upload.Filename
		s.st.uploads++
		s.st.uploadBytes += m.upload.Size
		rec.Source, rec.Size, rec.Name = SourceUpload, f.size, f.name
	} else {
		f.name = m.url
		rec.Source, rec.Name = SourceURL, m.url
	}
	switch m.kind {
	case kindPhoto:
		if f.width == 0 {
			f.width, f.height = 1280, 720
		}
	case kindVideo, kindAnimation:
		f.width, f.height = 1280, 720
	case kindVideoNote:
		f.width, f.height = 240, 240
	case kindSticker:
		f.width, f.height = 512, 512
	}
	s.files[f.id] = f
	return f, rec
}

func fileIDPrefix(kind string) string {
	switch kind {
	case kindPhoto:
		return "P"
	case kindVideo:
		return "V"
	case kindAnimation:
		return "G"
	case kindAudio:
		return "A"
	case kindVoice:
		return "O"
	case kindVideoNote:
		return "N"
	case kindSticker:
		return "S"
	}
	return "D"
}

// fileObj is Telegram's description of a file in a Message: PhotoSize,
// Video, Audio, Document, … (only the fields the kind has are set).
type fileObj struct {
	FileID       string `json:"file_id"`
	FileUniqueID string `json:"file_unique_id"`
	Width        int    `json:"width,omitempty"`
	Height       int    `json:"height,omitempty"`
	Length       int    `json:"length,omitempty"`
	Duration     *int   `json:"duration,omitempty"`
	Type         string `json:"type,omitempty"`
	FileName     string `json:"file_name,omitempty"`
	FileSize     int64  `json:"file_size,omitempty"`
}

func (f *fileInfo) obj() *fileObj {
	o := &fileObj{FileID: f.id, FileUniqueID: f.uniqueID, FileSize: f.size}
	zero := 0
	switch f.kind {
	case kindPhoto:
		o.Width, o.Height = f.width, f.height
	case kindVideo, kindAnimation:
		o.Width, o.Height, o.Duration = f.width, f.height, &zero
	case kindVideoNote:
		o.Length, o.Duration = f.width, &zero
	case kindAudio, kindVoice:
		o.Duration = &zero
	case kindSticker:
		o.Width, o.Height, o.Type = f.width, f.height, "regular"
	}
	if f.kind == kindDocument || f.kind == kindAudio || f.kind == kindVideo || f.kind == kindAnimation {
		if f.name != "" && !strings.Contains(f.name, "://") {
			o.FileName = f.name
		}
	}
	return o
}
