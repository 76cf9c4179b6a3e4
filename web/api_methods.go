package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/telequeue/telequeue/client"
	"github.com/telequeue/telequeue/tasks"
)

// MaxMethodBodyBytes is the largest JSON body POST /v1/methods/{method}
// accepts, and the most the non-file fields of a multipart body may hold.
const MaxMethodBodyBytes = 1 << 20

// UploadTimeout is how long a multipart/form-data request to POST
// /v1/methods/{method} may take to arrive, instead of the server's read
// timeout: 50 MB take 7 minutes at 1 Mbit/s.
const UploadTimeout = 10 * time.Minute

// maxFormFiles is how many files of the largest size a multipart body may
// carry: an album's ten.
const maxFormFiles = 10

// callFields are telequeue's own fields of a call's body, taken out before
// the rest goes to Telegram; in a form, all are text.
var callFields = map[string]bool{"bot": false, "priority": false, "send_at": false, "send_in": false, "ordered": false, "coalesce": false}

// formSpec is what a multipart/form-data body is read as: a call of one
// method, or a broadcast of one.
type formSpec struct {
	// method is the method whose parameters the form holds, given the
	// values read before its first file (and then all of them).
	method func(values map[string]string) (*tasks.Method, error)
	// own are telequeue's fields, kept out of the method's parameters: the
	// value is whether the field's text is JSON (a broadcast's chat_ids)
	// rather than a string.
	own map[string]bool
	// validate checks the call the parameters make.
	validate func(*tasks.Call) error
	// limit is the most the form's non-file fields may hold, in bytes.
	limit int64
}

// callForm is the form of a call of m.
func callForm(m *tasks.Method) formSpec {
	return formSpec{
		method:   func(map[string]string) (*tasks.Method, error) { return m, nil },
		own:      callFields,
		validate: (*tasks.Call).Validate,
		limit:    MaxMethodBodyBytes,
	}
}

// callReceipt is the 202 body of POST /v1/methods/{method}.
type callReceipt struct {
	ID          string    `json:"id"`
	Queue       string    `json:"queue"`
	Method      string    `json:"method"`
	ScheduledAt time.Time `json:"scheduled_at,omitzero"`
}

func (s *Server) methodRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/methods/{method}", s.postMethod)
	mux.Handle("/v1/methods/{method}", methodNotAllowed("POST"))
}

// postMethod queues one Bot API call. The body is the method's parameters
// as Telegram takes them, in JSON or multipart/form-data (files as parts
// named by their parameter, or by the name an attach://<name> value gives),
// plus telequeue's bot, priority and send_at or send_in; the Idempotency-Key
// header works as for POST /v1/messages.
func (s *Server) postMethod(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("method")
	m, ok := tasks.MethodByName(name)
	if !ok {
		writeError(w, http.StatusNotFound, apiError{Code: CodeNotFound, Field: "method",
			Message: fmt.Sprintf("method %q: telequeue queues %s", name, methodNames())})
		return
	}
	ct := r.Header.Get("Content-Type")
	multipart := isForm(ct)
	if !multipart && !isJSON(ct) {
		writeError(w, http.StatusUnsupportedMediaType, apiError{Code: CodeUnsupportedMedia,
			Message: fmt.Sprintf("Content-Type %q: send application/json or multipart/form-data", ct)})
		return
	}
	key, hasKey, apiErr := idempotencyKey(r)
	if apiErr != nil {
		writeError(w, http.StatusBadRequest, *apiErr)
		return
	}
	if hasKey && key == "" {
		writeError(w, http.StatusBadRequest, *invalidField(IdempotencyKeyHeader, "must not be empty"))
		return
	}
	// The task id comes first: a multipart body's files are stored, held
	// by it, as they arrive.
	id := client.NewTaskID()
	var (
		fields  requestBody
		uploads map[string]tasks.Upload
		err     error
	)
	if multipart {
		fields, uploads, err = s.readForm(r.Context(), w, r, callForm(m), id)
	} else {
		body, ok := readJSONBody(w, r, MaxMethodBodyBytes)
		if !ok {
			return
		}
		var apiErr *apiError
		if fields, apiErr = decodeRequestBody(body); apiErr != nil {
			err = apiErr
		}
	}
	var (
		params json.RawMessage
		opts   []client.Option
	)
	if err == nil {
		params, opts, err = callOptions(fields)
	}
	if err != nil {
		s.cfg.Client.ReleaseFiles(r.Context(), id, uploads)
		s.callError(w, r, "call", err)
		return
	}
	opts = append(opts, client.TaskID(id))
	if hasKey {
		opts = append(opts, client.IdempotencyKey(key))
	}
	// CallJSON releases the uploads when it queues nothing.
	receipt, err := s.cfg.Client.CallJSON(r.Context(), m.Name, params, storedFiles(uploads), opts...)
	if err != nil {
		s.callError(w, r, "call", err)
		return
	}
	w.Header().Set("Location", "/v1/messages/"+receipt.ID)
	writeJSON(w, http.StatusAccepted, callReceipt{ID: receipt.ID, Queue: receipt.Queue, Method: m.Name, ScheduledAt: receipt.ScheduledAt})
}

// storedFiles are the files of uploads a form stored, for the client.
func storedFiles(uploads map[string]tasks.Upload) map[string]client.File {
	files := make(map[string]client.File, len(uploads))
	for name, u := range uploads {
		files[name] = client.File{Stored: &u}
	}
	return files
}

// callOptions takes telequeue's fields out of the body: the rest are the
// call's parameters, and they are the client's options. The client checks
// their values.
func callOptions(fields requestBody) (json.RawMessage, []client.Option, error) {
	var opts []client.Option
	bot, apiErr := fields.takeString("bot")
	if apiErr != nil {
		return nil, nil, apiErr
	}
	if bot != "" {
		opts = append(opts, client.Bot(bot))
	}
	priority, apiErr := fields.takeString("priority")
	if apiErr != nil {
		return nil, nil, apiErr
	}
	if priority != "" {
		opts = append(opts, client.Priority(priority))
	}
	when, apiErr := fields.takeSchedule()
	if apiErr != nil {
		return nil, nil, apiErr
	}
	opts = append(opts, when...)
	// ordered: true keeps the call in its chat's order (a send and its
	// later edit); coalesce: false delivers an edit even when a newer one of
	// the same message is queued.
	var ordered, coalesce bool
	if set, err := fields.take("ordered", &ordered); err != nil {
		return nil, nil, invalidField("ordered", "must be true or false")
	} else if set && ordered {
		opts = append(opts, client.Ordered())
	}
	if set, err := fields.take("coalesce", &coalesce); err != nil {
		return nil, nil, invalidField("coalesce", "must be true or false")
	} else if set && !coalesce {
		opts = append(opts, client.EveryEdit())
	}
	params, apiErr := fields.marshal()
	if apiErr != nil {
		return nil, nil, apiErr
	}
	return params, opts, nil
}

// callError answers the error that kept a call or a broadcast (what) from
// being queued: a file over its limit is 413 naming the field, the rest as
// for messages.
func (s *Server) callError(w http.ResponseWriter, r *http.Request, what string, err error) {
	var (
		tl  *client.FileTooLargeError
		ve  *tasks.ValidationError
		mbe *http.MaxBytesError
		ae  *apiError
	)
	switch {
	case errors.As(err, &ae) && ae.Code == CodeTooLarge:
		writeError(w, http.StatusRequestEntityTooLarge, *ae)
	case errors.As(err, &tl):
		writeError(w, http.StatusRequestEntityTooLarge, apiError{Code: CodeTooLarge, Field: tl.Field,
			Message: fmt.Sprintf("%s: the file exceeds %d bytes, the most this field takes here", tl.Field, tl.Limit)})
	case errors.As(err, &ve) && errors.Is(err, tasks.ErrFileTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, apiError{Code: CodeTooLarge, Field: ve.Field, Message: ve.Error()})
	case errors.As(err, &mbe):
		writeError(w, http.StatusRequestEntityTooLarge, apiError{Code: CodeTooLarge,
			Message: fmt.Sprintf("the body exceeds %d bytes", mbe.Limit)})
	default:
		s.queueError(w, r, what, err)
	}
}

// formBodyLimit is the largest multipart body: the non-file fields and an
// album's worth of files of the largest size.
func (s *Server) formBodyLimit(f formSpec) int64 {
	return f.limit + maxFormFiles*s.cfg.Client.UploadMaxBytes()
}

// readForm reads a multipart/form-data body as the Bot API takes it, as f
// says. A part with a file name is a file: stored at once (held by id) as
// the upload of its part's name; a part named by one of the method's file
// parameters (e.g. "photo") becomes "attach://photo" in that parameter.
// The other parts are the parameters' values, as text: each becomes the
// JSON value it reads as (a number, true/false, an object or array) when
// the method takes that, else a string (see [formParams]). On error, the
// uploads stored so far are returned for the caller to release.
func (s *Server) readForm(ctx context.Context, w http.ResponseWriter, r *http.Request, f formSpec, id string) (requestBody, map[string]tasks.Upload, error) {
	// The server's read timeout fits JSON bodies, not 50 MB uploads over a
	// slow link: a form gets longer (the server's own limits apply where
	// the connection cannot change them).
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(UploadTimeout))
	_ = rc.SetWriteDeadline(time.Now().Add(UploadTimeout + writeTimeout))
	r.Body = http.MaxBytesReader(w, r.Body, s.formBodyLimit(f))
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, nil, &apiError{Code: CodeMalformedJSON, Message: "cannot read the multipart body: " + err.Error()}
	}
	values := map[string]string{}
	uploads := map[string]tasks.Upload{}
	room := f.limit
	var m *tasks.Method // known by the first file
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, uploads, err
			}
			return nil, uploads, &apiError{Code: CodeMalformedJSON, Message: "cannot read the multipart body: " + err.Error()}
		}
		name := part.FormName()
		_, isValue := values[name]
		_, isFile := uploads[name]
		switch {
		case name == "":
			return nil, uploads, &apiError{Code: CodeMalformedJSON, Message: "a multipart part has no name"}
		case isValue || isFile:
			return nil, uploads, invalidField(name, "given twice")
		}
		if part.FileName() != "" {
			if m == nil {
				if m, err = f.method(values); err != nil {
					return nil, uploads, err
				}
			}
			// The file's field is the part's name (e.g. "photo"), or the
			// parameter read so far that attaches it (e.g.
			// "media[1].media"): its limit applies, and errors name it.
			a := fileAttachment(m, values, name)
			u, err := s.cfg.Client.PutFile(ctx, id, a, client.File{Reader: part, Name: part.FileName(), ContentType: part.Header.Get("Content-Type")})
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, uploads, &apiError{Code: CodeTooLarge, Field: a.Field,
					Message: fmt.Sprintf("%s: the body exceeds %d bytes", a.Field, mbe.Limit)}
			}
			if err != nil {
				return nil, uploads, err
			}
			uploads[name] = u
			continue
		}
		data, err := io.ReadAll(io.LimitReader(part, room+1))
		if err != nil {
			return nil, uploads, err
		}
		room -= int64(len(data))
		if room < 0 {
			return nil, uploads, &apiError{Code: CodeTooLarge, Field: name,
				Message: fmt.Sprintf("the form's fields exceed %d bytes (files aside)", f.limit)}
		}
		if !utf8.Valid(data) {
			return nil, uploads, invalidField(name, "not valid UTF-8")
		}
		values[name] = string(data)
	}
	if m == nil {
		if m, err = f.method(values); err != nil {
			return nil, uploads, err
		}
	}
	for _, p := range client.FileParams(m.Name) {
		if _, ok := uploads[p]; ok {
			values[p] = "attach://" + p
		}
	}
	fields, err := formParams(f, m, values, uploads)
	return fields, uploads, err
}

// fileAttachment is the parameter of the file part called name, with its
// limit: the method's file parameter of that name (a part "photo" is the
// photo), else the parameter read so far whose attach://<name> names it
// (e.g. "media[1].media"), else name itself (validation refuses a file no
// parameter attaches).
func fileAttachment(m *tasks.Method, values map[string]string, name string) client.Attachment {
	params := map[string]json.RawMessage{}
	if slices.Contains(client.FileParams(m.Name), name) {
		params[name], _ = json.Marshal("attach://" + name)
	} else {
		for k, v := range values {
			if readsAsJSON(v) {
				params[k] = json.RawMessage(v)
			} else {
				params[k], _ = json.Marshal(v)
			}
		}
	}
	raw, _ := json.Marshal(params)
	if a, ok := client.Attachments(raw)[name]; ok {
		return a
	}
	return client.Attachment{Field: name, Limit: tasks.MaxFileBytes}
}

// formParams turns a form's text values into JSON fields: telequeue's own
// fields are strings, or JSON where f says so; file parameters are
// strings; any other value that reads as a JSON number, true, false,
// object or array is taken as that, unless the method refuses it there, in
// which case it is the string it was sent as (a caption "42" stays text).
func formParams(f formSpec, m *tasks.Method, values map[string]string, uploads map[string]tasks.Upload) (requestBody, error) {
	fields := requestBody{}
	guessed := map[string]bool{}
	for name, v := range values {
		q, _ := json.Marshal(v)
		fields[name] = q
		if isJSON, own := f.own[name]; (isJSON || !own) && readsAsJSON(v) {
			fields[name], guessed[name] = json.RawMessage(v), !own
		}
	}
	for range len(guessed) + 1 {
		params := requestBody{}
		for k, v := range fields {
			if _, own := f.own[k]; !own {
				params[k] = v
			}
		}
		raw, apiErr := params.marshal()
		if apiErr != nil {
			return nil, apiErr
		}
		var bot string
		_ = json.Unmarshal(fields["bot"], &bot)
		c := &tasks.Call{Bot: bot, Method: m.Name, Params: raw, Uploads: uploads}
		err := f.validate(c)
		var ve *tasks.ValidationError
		if err == nil || !errors.As(err, &ve) || !guessed[ve.Field] {
			// Valid, or an error a string would not cure: Send reports it.
			return fields, nil
		}
		q, _ := json.Marshal(values[ve.Field])
		fields[ve.Field], guessed[ve.Field] = q, false
	}
	return fields, nil
}

// readsAsJSON reports whether a form value is a JSON number, true, false,
// object or array (a JSON string or null is taken as text).
func readsAsJSON(v string) bool {
	t := bytes.TrimSpace([]byte(v))
	if len(t) == 0 || t[0] == '"' || string(t) == "null" {
		return false
	}
	return json.Valid(t)
}

// methodNames lists the methods for error messages.
func methodNames() string {
	var names []string
	for _, m := range tasks.Methods() {
		names = append(names, m.Name)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
