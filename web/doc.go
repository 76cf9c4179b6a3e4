// Package web is telequeue's HTTP front: the Asynqmon dashboard behind HTTP
// Basic auth, a JSON API to queue messages from any language, health checks
// and Prometheus metrics. cmd/web serves it on PORT; `telequeue dev` serves
// it on loopback.
//
// # Routes
//
//	/monitoring/              Asynqmon (DASHBOARD_USER / DASHBOARD_PASSWORD, Basic auth)
//	POST /v1/messages         queue a message (Bearer API_TOKEN)
//	GET  /v1/messages/{id}    state, attempts, last error, Telegram message_id(s), a call's method and file_ids
//	POST /v1/methods/{method} queue a call of any Bot API method of tasks.Methods (JSON or multipart uploads)
//	POST /v1/replies          queue a multi-part reply as one task (parts, or one long text to split)
//	GET  /v1/stats            queue depths, processed/failed totals, servers and workers
//	POST /v1/broadcasts       queue one message for up to 1,000,000 chats
//	GET  /v1/broadcasts/{id}  progress: total, sent, failed, blocked, cancelled, pending
//	DELETE /v1/broadcasts/{id}          cancel what was not sent yet
//	GET  /v1/broadcasts/{id}/blocked    chats that answered 403 (offset, limit)
//	GET  /v1/events           the outcome stream: long polling, or server-sent events
//	GET  /v1/openapi.json     the API's OpenAPI 3 document (no auth)
//	GET  /healthz             200 while the process runs
//	GET  /readyz              200 when Redis answers PING, else 503
//	GET  /metrics             Prometheus metrics (queue gauges, Go runtime)
//
// # Dashboard
//
// Asynqmon has no authentication of its own: anyone who reaches it can pause
// queues and delete tasks. [New] therefore serves it only behind HTTP Basic
// credentials, compared in constant time; without them the dashboard answers
// 404 and one log line says why. [Config.DashboardNoAuth] is for
// `telequeue dev` alone: the dashboard is then served without credentials,
// but only to loopback clients addressing a loopback host name. State-changing
// requests from another origin (a page in the operator's browser that posts
// to the dashboard with its cached credentials) are refused with
// http.CrossOriginProtection.
//
// Payloads are shown through a formatter that prints the task type, bot,
// chat and the first [Config.DashboardTextChars] characters of the text,
// never the rest of the payload; results show Telegram's message_id.
//
// # API
//
// Requests carry `Authorization: Bearer <API_TOKEN>`; without a configured
// token the API answers 404. Errors are JSON:
//
//	{"error": {"code": "invalid_field", "field": "text", "message": "text: text is empty"}}
//
// The document web/openapi.json, served at /v1/openapi.json, is the
// reference.
package web
