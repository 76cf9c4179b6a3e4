package sandbox

import (
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"testing"

	"github.com/mymmrac/telego"
	"github.com/mymmrac/telego/telegoapi"
)

// apiResp is a Bot API answer.
type apiResp struct {
	Ok          bool                          `json:"ok"`
	Result      json.RawMessage               `json:"result"`
	ErrorCode   int                           `json:"error_code"`
	Description string                        `json:"description"`
	Parameters  *telegoapi.ResponseParameters `json:"parameters"`
}

// do serves one request and decodes the answer, checking that the HTTP
// status and error_code agree.
func do(t *testing.T, s *Sandbox, req *http.Request) apiResp {
	t.Helper()
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	var r apiResp
	if err := json.Unmarshal(w.Body.Bytes(), &r); err != nil {
		t.Fatalf("%s: decode %q: %v", req.URL.Path, w.Body.String(), err)
	}
	if !r.Ok && r.ErrorCode != w.Code || r.Ok && w.Code != http.StatusOK {
		t.Fatalf("%s: HTTP %d, body %s", req.URL.Path, w.Code, w.Body.String())
	}
	return r
}

// callJSON calls method with a JSON body.
func callJSON(t *testing.T, s *Sandbox, method string, params any) apiResp {
	t.Helper()
	b, err := json.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/bot"+token1+"/"+method, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	return do(t, s, req)
}

// callForm calls method with a multipart body: fields as form values and
// files as file parts named by their keys.
func callForm(t *testing.T, s *Sandbox, method string, fields map[string]string, files map[string][]byte) apiResp {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := mw.WriteField(k, fields[k]); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range files {
		fw, err := mw.CreateFormFile(name, name+".bin")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/bot"+token1+"/"+method, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return do(t, s, req)
}

// callURL calls method with an application/x-www-form-urlencoded body.
func callURL(t *testing.T, s *Sandbox, method string, fields map[string]string) apiResp {
	t.Helper()
	v := url.Values{}
	for k, f := range fields {
		v.Set(k, f)
	}
	req := httptest.NewRequest(http.MethodPost, "/bot"+token1+"/"+method, bytes.NewReader([]byte(v.Encode())))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(t, s, req)
}

// newSandbox returns an unstarted sandbox (calls go through ServeHTTP).
func newSandbox(t *testing.T, cfg Config) *Sandbox {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// ok asserts success and decodes the result into v (if not nil).
func ok(t *testing.T, r apiResp, v any) {
	t.Helper()
	if !r.Ok {
		t.Fatalf("want ok, got %d %s", r.ErrorCode, r.Description)
	}
	if v != nil {
		if err := json.Unmarshal(r.Result, v); err != nil {
			t.Fatalf("decode result %s: %v", r.Result, err)
		}
	}
}

// fails asserts an error answer with code and description.
func fails(t *testing.T, r apiResp, code int, desc string) {
	t.Helper()
	if r.Ok || r.ErrorCode != code || r.Description != desc {
		t.Fatalf("want %d %q, got ok=%v %d %q", code, desc, r.Ok, r.ErrorCode, r.Description)
	}
}

// message decodes a result as a telego.Message.
func message(t *testing.T, r apiResp) telego.Message {
	t.Helper()
	var m telego.Message
	ok(t, r, &m)
	return m
}

// sendText sends a text message with JSON and returns its id.
func sendText(t *testing.T, s *Sandbox, chat int64, text string) int {
	t.Helper()
	return message(t, callJSON(t, s, "sendMessage", map[string]any{"chat_id": chat, "text": text})).MessageID
}

// uploadPhoto sends an uploaded photo and returns the message.
func uploadPhoto(t *testing.T, s *Sandbox, chat int64, caption string) telego.Message {
	t.Helper()
	return message(t, callForm(t, s, "sendPhoto", map[string]string{"chat_id": jsonInt(chat), "caption": caption},
		map[string][]byte{"photo": tinyPNG}))
}

func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// tinyPNG is a 3×2 PNG.
var tinyPNG = func() []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewRGBA(image.Rect(0, 0, 3, 2))); err != nil {
		panic(err)
	}
	return b.Bytes()
}()
