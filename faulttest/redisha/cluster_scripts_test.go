package redisha

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"

	"github.com/telequeue/telequeue/internal/config"
	"github.com/telequeue/telequeue/internal/logging"
	"github.com/telequeue/telequeue/internal/redistest"
)

// probeResult is the outcome of one asynq operation on the cluster.
type probeResult struct {
	op  string
	err error
}

func (r probeResult) verdict() string {
	switch {
	case r.err == nil:
		return "ok"
	case strings.Contains(r.err.Error(), "CROSSSLOT"), strings.Contains(r.err.Error(), "same slot"):
		return "CROSSSLOT"
	}
	return "error: " + r.err.Error()
}

// TestAsynqScriptsOnCluster runs every asynq operation that telequeue, the
// dashboard and asynq's background components use against a three-master
// cluster, and records which fail. asynq's README says some of its Lua
// scripts "may not be compatible with Redis Cluster" (issues #1086, #480,
// #1002); this is the answer for v0.26.0 on Redis 7.
func TestAsynqScriptsOnCluster(t *testing.T) {
	t.Parallel()
	cl := redistest.StartCluster(t, 3)
	cfg, err := config.Load(env{"REDIS_CLUSTER_ADDRS": strings.Join(cl.Addrs(), ",")}.lookup, true)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := cfg.Redis()
	if err != nil {
		t.Fatal(err)
	}
	const q = "probe"
	var results []probeResult
	record := func(op string, err error) {
		results = append(results, probeResult{op, err})
	}

	// Background components (forwarder, recoverer, janitor, aggregator,
	// heartbeater, syncer) report script errors only in their logs.
	logs := &logBuffer{}
	dumpOnFailure(t, "asynq server", logs)
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	var fails atomic.Int32
	mux := asynq.NewServeMux()
	mux.HandleFunc("ok", func(context.Context, *asynq.Task) error { return nil })
	mux.HandleFunc("fail", func(context.Context, *asynq.Task) error {
		fails.Add(1)
		return errors.New("transient")
	})
	mux.HandleFunc("skip", func(context.Context, *asynq.Task) error { return fmt.Errorf("permanent: %w", asynq.SkipRetry) })
	mux.HandleFunc("slow", func(ctx context.Context, _ *asynq.Task) error {
		<-ctx.Done()
		return ctx.Err()
	})
	mux.HandleFunc("batch", func(context.Context, *asynq.Task) error { return nil })
	srv := asynq.NewServer(rc, asynq.Config{
		Concurrency:              4,
		Queues:                   map[string]int{q: 1, "critical": 1, "default": 1, "bulk": 1},
		TaskCheckInterval:        50 * time.Millisecond,
		DelayedTaskCheckInterval: 100 * time.Millisecond,
		JanitorInterval:          200 * time.Millisecond,
		GroupGracePeriod:         time.Second,
		GroupMaxDelay:            2 * time.Second,
		GroupAggregator: asynq.GroupAggregatorFunc(func(group string, ts []*asynq.Task) *asynq.Task {
			return asynq.NewTask("batch", []byte(fmt.Sprint(len(ts))))
		}),
		RetryDelayFunc:  func(int, error, *asynq.Task) time.Duration { return 200 * time.Millisecond },
		ShutdownTimeout: 500 * time.Millisecond,
		Logger:          logging.Asynq{L: log},
		LogLevel:        asynq.DebugLevel,
	})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			srv.Shutdown()
		}
	}()

	c := asynq.NewClient(rc)
	defer c.Close()
	insp := asynq.NewInspector(rc)
	defer insp.Close()
	enq := func(op, typ string, opts ...asynq.Option) *asynq.TaskInfo {
		info, err := c.Enqueue(asynq.NewTask(typ, []byte(op)), append([]asynq.Option{asynq.Queue(q)}, opts...)...)
		record(op, err)
		return info
	}
	waitState := func(id string, st asynq.TaskState) error {
		deadline := time.Now().Add(15 * time.Second)
		for {
			info, err := insp.GetTaskInfo(q, id)
			if err == nil && info.State == st {
				return nil
			}
			if time.Now().After(deadline) {
				if info != nil {
					return fmt.Errorf("state %v, want %v", info.State, st)
				}
				return fmt.Errorf("state unknown (%v), want %v", err, st)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// Client scripts, then the server scripts that process each task.
	ok := enq("enqueue (enqueueCmd)", "ok")
	okRet := enq("enqueue with TaskID+Retention", "ok", asynq.TaskID("with-retention"), asynq.Retention(time.Hour))
	uniq := enq("enqueue unique (enqueueUniqueCmd)", "ok", asynq.Unique(time.Hour))
	_, err = c.Enqueue(asynq.NewTask("ok", []byte("enqueue unique (enqueueUniqueCmd)")), asynq.Queue(q), asynq.Unique(time.Hour))
	if !errors.Is(err, asynq.ErrDuplicateTask) {
		record("unique lock holds (second enqueue)", fmt.Errorf("got %v, want ErrDuplicateTask", err))
	}
	sched := enq("schedule (scheduleCmd) + forward (forwardCmd)", "ok", asynq.ProcessIn(300*time.Millisecond))
	schedU := enq("schedule unique (scheduleUniqueCmd)", "ok", asynq.ProcessIn(300*time.Millisecond), asynq.Unique(time.Hour))
	retry := enq("retry (retryCmd) then archive (archiveCmd)", "fail", asynq.MaxRetry(1))
	skip := enq("archive on SkipRetry (archiveCmd)", "skip")
	for i := 0; i < 3; i++ {
		enq("group (addToGroupCmd)", "ok", asynq.Group("g1"))
	}
	enq("group unique (addToGroupUniqueCmd)", "ok", asynq.Group("g1"), asynq.Unique(time.Hour))
	for _, x := range []struct {
		op   string
		info *asynq.TaskInfo
		st   asynq.TaskState
	}{
		{"dequeue (dequeueCmd) + done (doneCmd)", ok, 0},
		{"markAsComplete (markAsCompleteCmd)", okRet, asynq.TaskStateCompleted},
		{"done unique (doneUniqueCmd)", uniq, 0},
		{"forward scheduled (forwardCmd)", sched, 0},
		{"forward scheduled unique", schedU, 0},
		{"retry then archive", retry, asynq.TaskStateArchived},
		{"archive on SkipRetry", skip, asynq.TaskStateArchived},
	} {
		if x.info == nil {
			continue
		}
		if x.st == 0 {
			// Done without retention: the task is deleted.
			deadline := time.Now().Add(15 * time.Second)
			for {
				_, err := insp.GetTaskInfo(q, x.info.ID)
				if errors.Is(err, asynq.ErrTaskNotFound) {
					record(x.op, nil)
					break
				}
				if time.Now().After(deadline) {
					record(x.op, fmt.Errorf("task still there: %v", err))
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			continue
		}
		record(x.op, waitState(x.info.ID, x.st))
	}
	// Group aggregation: the aggregator runs every GroupGracePeriod.
	record("group aggregation (aggregationCheck/readAggregationSet/deleteAggregationSet)", func() error {
		deadline := time.Now().Add(15 * time.Second)
		for {
			gs, err := insp.Groups(q)
			if err != nil {
				return err
			}
			if len(gs) == 0 {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("group still holds %d tasks", gs[0].Size)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}())

	// Inspector operations used by the dashboard and telequeue's API.
	r := func(op string, f func() error) { record(op, f()) }
	r("Inspector.Queues", func() error { _, err := insp.Queues(); return err })
	r("Inspector.GetQueueInfo (currentStats, memoryUsage)", func() error { _, err := insp.GetQueueInfo(q); return err })
	r("Inspector.History (historicalStats)", func() error { _, err := insp.History(q, 7); return err })
	r("Inspector.Groups (groupStats)", func() error { _, err := insp.Groups(q); return err })
	r("Inspector.ListArchivedTasks (listZSetEntries)", func() error { _, err := insp.ListArchivedTasks(q); return err })
	r("Inspector.ListCompletedTasks", func() error { _, err := insp.ListCompletedTasks(q); return err })
	r("Inspector.ListActiveTasks", func() error { _, err := insp.ListActiveTasks(q); return err })
	r("Inspector.Servers (listServerKeys, listWorkers)", func() error {
		s, err := insp.Servers()
		if err == nil && len(s) == 0 {
			err = errors.New("no server listed")
		}
		return err
	})
	r("Inspector.ClusterKeySlot", func() error { _, err := insp.ClusterKeySlot(q); return err })
	r("Inspector.ClusterNodes", func() error { _, err := insp.ClusterNodes(q); return err })
	r("Inspector.RunAllArchivedTasks (runAllCmd)", func() error { _, err := insp.RunAllArchivedTasks(q); return err })
	// More state for the per-task and bulk operations.
	pend := func() string {
		if err := insp.PauseQueue(q); err != nil && !strings.Contains(err.Error(), "already paused") {
			t.Fatal(err)
		}
		info, err := c.Enqueue(asynq.NewTask("ok", nil), asynq.Queue(q))
		if err != nil {
			t.Fatal(err)
		}
		return info.ID
	}
	r("Inspector.PauseQueue", func() error { return insp.PauseQueue(q) })
	id := pend()
	r("Inspector.ListPendingTasks (listMessages)", func() error { _, err := insp.ListPendingTasks(q); return err })
	r("Inspector.ArchiveTask (archiveTaskCmd)", func() error { return insp.ArchiveTask(q, id) })
	r("Inspector.RunTask (runTaskCmd)", func() error { return insp.RunTask(q, id) })
	r("Inspector.DeleteTask (deleteTaskCmd)", func() error { return insp.DeleteTask(q, id) })
	pend()
	r("Inspector.ArchiveAllPendingTasks (archiveAllPendingCmd)", func() error { _, err := insp.ArchiveAllPendingTasks(q); return err })
	r("Inspector.DeleteAllArchivedTasks (deleteAllCmd)", func() error { _, err := insp.DeleteAllArchivedTasks(q); return err })
	pend()
	r("Inspector.DeleteAllPendingTasks (deleteAllPendingCmd)", func() error { _, err := insp.DeleteAllPendingTasks(q); return err })
	sid := func() string {
		info, err := c.Enqueue(asynq.NewTask("ok", nil), asynq.Queue(q), asynq.ProcessIn(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return info.ID
	}
	r("Inspector.UpdateTaskPayload (updateTaskPayloadCmd)", func() error { return insp.UpdateTaskPayload(q, sid(), []byte("x")) })
	r("Inspector.ListScheduledTasks", func() error { _, err := insp.ListScheduledTasks(q); return err })
	r("Inspector.ArchiveAllScheduledTasks (archiveAllCmd)", func() error { _, err := insp.ArchiveAllScheduledTasks(q); return err })
	sid()
	r("Inspector.RunAllScheduledTasks (runAllCmd)", func() error { _, err := insp.RunAllScheduledTasks(q); return err })
	sid()
	r("Inspector.DeleteAllScheduledTasks (deleteAllCmd)", func() error { _, err := insp.DeleteAllScheduledTasks(q); return err })
	r("Inspector.RunAllRetryTasks", func() error { _, err := insp.RunAllRetryTasks(q); return err })
	r("Inspector.DeleteAllCompletedTasks", func() error { _, err := insp.DeleteAllCompletedTasks(q); return err })
	for i := 0; i < 2; i++ {
		if _, err := c.Enqueue(asynq.NewTask("ok", nil), asynq.Queue(q), asynq.Group("g2")); err != nil {
			t.Fatal(err)
		}
	}
	r("Inspector.ListAggregatingTasks", func() error { _, err := insp.ListAggregatingTasks(q, "g2"); return err })
	r("Inspector.ArchiveAllAggregatingTasks (archiveAllAggregatingCmd)", func() error { _, err := insp.ArchiveAllAggregatingTasks(q, "g2"); return err })
	if _, err := c.Enqueue(asynq.NewTask("ok", nil), asynq.Queue(q), asynq.Group("g2")); err != nil {
		t.Fatal(err)
	}
	r("Inspector.RunAllAggregatingTasks (runAllAggregatingCmd)", func() error { _, err := insp.RunAllAggregatingTasks(q, "g2"); return err })
	if _, err := c.Enqueue(asynq.NewTask("ok", nil), asynq.Queue(q), asynq.Group("g2")); err != nil {
		t.Fatal(err)
	}
	r("Inspector.DeleteAllAggregatingTasks (deleteAllAggregatingCmd)", func() error { _, err := insp.DeleteAllAggregatingTasks(q, "g2"); return err })
	r("Inspector.UnpauseQueue", func() error { return insp.UnpauseQueue(q) })

	// A slow task: cancel it through Pub/Sub, then shut down with another
	// in flight, which requeues it (requeueCmd).
	slow, err := c.Enqueue(asynq.NewTask("slow", nil), asynq.Queue(q), asynq.MaxRetry(0))
	record("enqueue slow", err)
	if slow != nil {
		record("active (listMessages on active)", waitState(slow.ID, asynq.TaskStateActive))
		r("Inspector.CancelProcessing (Pub/Sub)", func() error { return insp.CancelProcessing(slow.ID) })
		record("cancelled task archived", waitState(slow.ID, asynq.TaskStateArchived))
	}
	slow2, err := c.Enqueue(asynq.NewTask("slow", nil), asynq.Queue(q))
	record("enqueue slow 2", err)
	if slow2 != nil {
		record("slow 2 active", waitState(slow2.ID, asynq.TaskStateActive))
		srv.Shutdown()
		stopped = true
		record("requeue on shutdown (requeueCmd)", waitState(slow2.ID, asynq.TaskStatePending))
	}

	// Scheduler scripts.
	sch := asynq.NewScheduler(rc, &asynq.SchedulerOpts{HeartbeatInterval: 500 * time.Millisecond, Logger: logging.Asynq{L: log}, LogLevel: asynq.DebugLevel})
	_, err = sch.Register("@every 1s", asynq.NewTask("ok", nil), asynq.Queue(q))
	record("Scheduler.Register", err)
	record("Scheduler.Start (writeSchedulerEntries)", sch.Start())
	var entries []*asynq.SchedulerEntry
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		entries, err = insp.SchedulerEntries()
		if err == nil && len(entries) > 0 && !entries[0].Prev.IsZero() {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err == nil && len(entries) == 0 {
		err = errors.New("no entry listed")
	}
	record("Inspector.SchedulerEntries", err)
	if len(entries) > 0 {
		r("Inspector.ListSchedulerEnqueueEvents (recordSchedulerEnqueueEvent)", func() error {
			ev, err := insp.ListSchedulerEnqueueEvents(entries[0].ID)
			if err == nil && len(ev) == 0 {
				err = errors.New("no enqueue event recorded")
			}
			return err
		})
	}
	sch.Shutdown()

	// The dashboard (asynqmon) on the same connection.
	mon := asynqmon.New(asynqmon.Options{RootPath: "/monitoring", RedisConnOpt: rc})
	defer mon.Close()
	hs := httptest.NewServer(mon)
	defer hs.Close()
	for _, path := range []string{
		"/api/queues", "/api/queues/" + q, "/api/queue_stats", "/api/queues/" + q + "/archived_tasks",
		"/api/queues/" + q + "/pending_tasks", "/api/queues/" + q + "/completed_tasks", "/api/queues/" + q + "/groups",
		"/api/servers", "/api/scheduler_entries", "/api/redis_info",
	} {
		r("asynqmon GET "+path, func() error {
			resp, err := http.Get(hs.URL + "/monitoring" + path)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			return nil
		})
	}
	r("Inspector.DeleteQueue force (removeQueueForceCmd)", func() error { return insp.DeleteQueue(q, true) })
	r("Inspector.DeleteQueue (removeQueueCmd)", func() error {
		if _, err := c.Enqueue(asynq.NewTask("ok", nil), asynq.Queue("probe2")); err != nil {
			return err
		}
		if _, err := insp.DeleteAllPendingTasks("probe2"); err != nil {
			return err
		}
		return insp.DeleteQueue("probe2", false)
	})

	// Background errors: anything a component logged at warning or error
	// level except the warnings the probe provokes, and any CROSSSLOT.
	var bg []string
	for _, line := range strings.Split(logs.String(), "\n") {
		expected := strings.Contains(line, "Retry exhausted for task") || strings.Contains(line, "Quitting worker")
		if strings.Contains(line, "CROSSSLOT") || strings.Contains(line, "same slot") ||
			(!expected && (strings.Contains(line, "level=ERROR") || strings.Contains(line, "level=WARN"))) {
			bg = append(bg, line)
		}
	}
	sort.Strings(bg)

	var b strings.Builder
	failed := 0
	for _, res := range results {
		fmt.Fprintf(&b, "  %-75s %s\n", res.op, res.verdict())
		if res.err != nil {
			failed++
		}
	}
	t.Logf("asynq v0.26.0 on a 3-master Redis Cluster: %d operations, %d failed\n%s", len(results), failed, b.String())
	if len(bg) > 0 {
		t.Errorf("background components logged errors:\n%s", strings.Join(bg, "\n"))
	}
	if failed > 0 {
		t.Errorf("%d operations failed on the cluster", failed)
	}
}
