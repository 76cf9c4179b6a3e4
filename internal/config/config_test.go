package config

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/telequeue/telequeue/handlers"
)

const token = "123456789:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

func envOf(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestLoadDefaults(t *testing.T) {
	cfg, err := Load(envOf("REDIS_URL", "redis://127.0.0.1:1/0", "TELEGRAM_BOT_TOKEN", token), true)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Concurrency != 10 || cfg.ShutdownTimeout != 25*time.Second || cfg.Port != 8080 || cfg.StrictPriority {
		t.Fatalf("defaults: %+v", cfg)
	}
	if cfg.Queues["critical"] != 6 || cfg.Queues["default"] != 3 || cfg.Queues["bulk"] != 1 {
		t.Fatalf("queues: %v", cfg.Queues)
	}
	if cfg.Bots["default"].Reveal() != token {
		t.Fatalf("bots: %v", cfg.BotNames())
	}
	if cfg.UploadMaxBytes != 20<<20 || len(cfg.RateGlobalQueues) != 0 {
		t.Fatalf("upload max %d, global queues %v", cfg.UploadMaxBytes, cfg.RateGlobalQueues)
	}
	if cfg.TelegramAPIURL != handlers.DefaultAPIURL || cfg.RateGlobal != 30 || cfg.RateChat != 1 || cfg.RateGroup != 20 || cfg.RatePaid != 1000 {
		t.Fatalf("telegram defaults: %+v", cfg)
	}
}

func TestLoadErrorsNameTheVariable(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{"no redis", nil, "REDIS_URL"},
		{"bad redis scheme", []string{"REDIS_URL", "http://x"}, "REDIS_URL"},
		{"bad concurrency", []string{"REDIS_URL", "redis://x:1", "WORKER_CONCURRENCY", "ten"}, "WORKER_CONCURRENCY"},
		{"zero concurrency", []string{"REDIS_URL", "redis://x:1", "WORKER_CONCURRENCY", "0"}, "WORKER_CONCURRENCY"},
		{"bad queues", []string{"REDIS_URL", "redis://x:1", "QUEUES", "critical=6,default"}, "QUEUES"},
		{"bad timeout", []string{"REDIS_URL", "redis://x:1", "SHUTDOWN_TIMEOUT", "25"}, "SHUTDOWN_TIMEOUT"},
		{"bad bots", []string{"REDIS_URL", "redis://x:1", "TELEGRAM_BOTS", "promo"}, "TELEGRAM_BOTS"},
		{"dup bots", []string{"REDIS_URL", "redis://x:1", "TELEGRAM_BOT_TOKEN", token, "TELEGRAM_BOTS", "default=" + token}, "TELEGRAM_BOTS"},
		{"bad log format", []string{"REDIS_URL", "redis://x:1", "LOG_FORMAT", "xml"}, "LOG_FORMAT"},
		{"bad log level", []string{"REDIS_URL", "redis://x:1", "LOG_LEVEL", "loud"}, "LOG_LEVEL"},
		{"bad api url", []string{"REDIS_URL", "redis://x:1", "TELEGRAM_API_URL", "api.telegram.org"}, "TELEGRAM_API_URL"},
		{"sentinel half", []string{"REDIS_SENTINEL_ADDRS", "127.0.0.1:26379"}, "REDIS_SENTINEL_MASTER"},
		{"negative rate", []string{"REDIS_URL", "redis://x:1", "TELEGRAM_RATE_CHAT", "-1"}, "TELEGRAM_RATE_CHAT"},
		{"zero margin", []string{"REDIS_URL", "redis://x:1", "TELEGRAM_RATE_MARGIN", "0"}, "TELEGRAM_RATE_MARGIN"},
		{"huge margin", []string{"REDIS_URL", "redis://x:1", "TELEGRAM_RATE_MARGIN", "0.5"}, "TELEGRAM_RATE_MARGIN"},
		{"sub-second retention", []string{"REDIS_URL", "redis://x:1", "RESULT_RETENTION", "500ms"}, "RESULT_RETENTION = 500ms: must be at least 1s"},
		{"zero max retry", []string{"REDIS_URL", "redis://x:1", "MAX_RETRY", "0"}, "MAX_RETRY = 0: must be at least 1"},
		{"negative max retry", []string{"REDIS_URL", "redis://x:1", "MAX_RETRY", "-1"}, "MAX_RETRY"},
		{"short dead after", []string{"REDIS_URL", "redis://x:1", "RECOVERY_DEAD_AFTER", "5s"}, "RECOVERY_DEAD_AFTER"},
		{"dead after under 10 beats", []string{"REDIS_URL", "redis://x:1", "RECOVERY_DEAD_AFTER", "10s", "RECOVERY_BEAT", "2s"}, "RECOVERY_DEAD_AFTER"},
		{"negative dead after", []string{"REDIS_URL", "redis://x:1", "RECOVERY_DEAD_AFTER", "-1s"}, "RECOVERY_DEAD_AFTER"},
		{"zero beat", []string{"REDIS_URL", "redis://x:1", "RECOVERY_BEAT", "0s"}, "RECOVERY_BEAT"},
		{"unknown global queue", []string{"REDIS_URL", "redis://x:1", "TELEGRAM_RATE_GLOBAL_QUEUES", "default,news"}, `TELEGRAM_RATE_GLOBAL_QUEUES: "news"`},
		{"zero upload max", []string{"REDIS_URL", "redis://x:1", "UPLOAD_MAX_BYTES", "0"}, "UPLOAD_MAX_BYTES"},
		{"upload max over telegram's", []string{"REDIS_URL", "redis://x:1", "UPLOAD_MAX_BYTES", "52428801"}, "UPLOAD_MAX_BYTES"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(envOf(tt.env...), true)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to name %s", err, tt.want)
			}
			if strings.Contains(err.Error(), token) {
				t.Fatalf("error leaks the token: %v", err)
			}
		})
	}
}

func TestSeveralBots(t *testing.T) {
	cfg, err := Load(envOf("REDIS_URL", "redis://x:1", "TELEGRAM_BOT_TOKEN", token, "TELEGRAM_BOTS", "promo="+token+", alerts="+token), true)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.BotNames(), ","); got != "alerts,default,promo" {
		t.Fatalf("bots %s", got)
	}
}

func TestSecretsNeverPrint(t *testing.T) {
	cfg, err := Load(envOf("REDIS_URL", "redis://user:hunter2@x:1", "TELEGRAM_BOT_TOKEN", token, "API_TOKEN", "s3cret"), true)
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	slog.New(slog.NewJSONHandler(&sb, nil)).Info("config", "cfg", cfg, "token", cfg.BotToken)
	out := sb.String() + fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg)
	for _, secret := range []string{token, "hunter2", "s3cret"} {
		if strings.Contains(out, secret) {
			t.Fatalf("secret %q printed: %s", secret, out)
		}
	}
}

func TestRedisURLWithUsername(t *testing.T) {
	cfg, err := Load(envOf("REDIS_URL", "rediss://alice:pw@127.0.0.1:6380/2", "REDIS_TLS_SKIP_VERIFY", "true"), true)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := cfg.Redis()
	if err != nil {
		t.Fatal(err)
	}
	o, _ := rc.Universal()
	if o.Username != "alice" || o.Password != "pw" || o.DB != 2 || o.TLSConfig == nil || !o.TLSConfig.InsecureSkipVerify {
		t.Fatalf("options: %+v", o)
	}
}

// TestBotNames checks TELEGRAM_BOTS names at load, and that a refused name
// (which may be a token: the pair written token=name) is never printed.
func TestBotNames(t *testing.T) {
	tests := []struct {
		name  string
		spec  string
		valid bool
	}{
		{"plain", "promo=" + token, true},
		{"all allowed characters", "Promo_2-x=" + token, true},
		{"64 characters", strings.Repeat("a", 64) + "=" + token, true},
		{"written the wrong way round", token + "=" + token, false},
		{"token as name", token + "=promo", false},
		{"65 characters", strings.Repeat("b", 65) + "=" + token, false},
		{"space inside", "my bot=" + token, false},
		{"dot", "my.bot=" + token, false},
		{"non-ASCII", "бот=" + token, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(envOf("REDIS_URL", "redis://x:1", "TELEGRAM_BOTS", tt.spec), true)
			if tt.valid {
				if err != nil {
					t.Fatal(err)
				}
				if len(cfg.Bots) != 1 {
					t.Fatalf("bots: %v", cfg.BotNames())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "TELEGRAM_BOTS: entry 1: the bot name") {
				t.Fatalf("err = %v, want the bot name refused", err)
			}
			name, _, _ := strings.Cut(tt.spec, "=")
			if strings.Contains(err.Error(), name) || strings.Contains(err.Error(), token) {
				t.Fatalf("error prints the refused value: %v", err)
			}
		})
	}
}

func TestProducerBotNames(t *testing.T) {
	cfg, err := Load(envOf("REDIS_URL", "redis://x:1", "TELEGRAM_BOT_TOKEN", token, "TELEGRAM_BOT_NAMES", "promo,default,alerts"), true)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.ProducerBotNames(); !slices.Equal(got, []string{"alerts", "default", "promo"}) {
		t.Errorf("ProducerBotNames = %v", got)
	}
	if got := cfg.BotNames(); !slices.Equal(got, []string{"default"}) {
		t.Errorf("BotNames (the ones a worker serves) = %v", got)
	}
	_, err = Load(envOf("REDIS_URL", "redis://x:1", "TELEGRAM_BOT_NAMES", "promo,"+token), true)
	if err == nil || !strings.Contains(err.Error(), "TELEGRAM_BOT_NAMES: entry 2") || strings.Contains(err.Error(), token) {
		t.Errorf("a token in TELEGRAM_BOT_NAMES: %v", err)
	}
}

func TestRateGlobalQueues(t *testing.T) {
	cfg, err := Load(envOf("REDIS_URL", "redis://127.0.0.1:1/0", "TELEGRAM_BOT_TOKEN", token, "TELEGRAM_RATE_GLOBAL_QUEUES", "default, bulk"), true)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.RateGlobalQueues, []string{"default", "bulk"}) {
		t.Fatalf("TELEGRAM_RATE_GLOBAL_QUEUES = %q", cfg.RateGlobalQueues)
	}
	// Set but empty, as .env.example has it: every queue.
	cfg, err = Load(envOf("REDIS_URL", "redis://127.0.0.1:1/0", "TELEGRAM_BOT_TOKEN", token, "TELEGRAM_RATE_GLOBAL_QUEUES", ""), true)
	if err != nil || len(cfg.RateGlobalQueues) != 0 {
		t.Fatalf("empty TELEGRAM_RATE_GLOBAL_QUEUES: %q, %v", cfg.RateGlobalQueues, err)
	}
}
