"""A Telegram bot backend migrated to telequeue.

This is the app telequeue was built for, as its team wrote it: FastAPI under
``uvicorn --workers 6``, each process with its own ``asyncio.Queue`` and 10
senders, and one call, ``enqueue_message(bot, chat_id, text, **kwargs)``,
everywhere a message goes out. The migration keeps that call and sends
through telequeue's HTTP API instead, behind a rollout flag, and learns each
message's fate from telequeue's signed webhooks.

Environment:

  TELEQUEUE_URL        telequeue's web process, e.g. http://127.0.0.1:8080
  TELEQUEUE_API_TOKEN  its API_TOKEN
  TELEQUEUE_ROLLOUT    percent of chats sent through telequeue (0-100, default
                       100); a chat always takes the same path, so its messages
                       keep their order during the rollout
  WEBHOOK_SECRET       telequeue's WEBHOOK_SECRET, to verify its webhooks
  TELEGRAM_BOT_TOKEN   the old path's token (telequeue keeps its own)
  TELEGRAM_API_URL     the old path's Bot API server (default Telegram's)
  DB_PATH              the app's SQLite database (users and their state)
"""

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import sqlite3
import time
import uuid

import httpx
from fastapi import FastAPI, Header, HTTPException, Request
from pydantic import BaseModel

TELEQUEUE_URL = os.environ.get("TELEQUEUE_URL", "http://127.0.0.1:8080").rstrip("/")
TELEQUEUE_API_TOKEN = os.environ.get("TELEQUEUE_API_TOKEN", "")
TELEQUEUE_ROLLOUT = int(os.environ.get("TELEQUEUE_ROLLOUT", "100"))
WEBHOOK_SECRET = os.environ.get("WEBHOOK_SECRET", "").encode()
WEBHOOK_TOLERANCE = 300  # seconds: the replay window
TELEGRAM_BOT_TOKEN = os.environ.get("TELEGRAM_BOT_TOKEN", "")
TELEGRAM_API_URL = os.environ.get("TELEGRAM_API_URL", "https://api.telegram.org").rstrip("/")
DB_PATH = os.environ.get("DB_PATH", "bot.db")
SENDERS = 10  # the old path's senders per process

app = FastAPI()


# --- the app's own data: users, and whether Telegram still reaches them ---

def db() -> sqlite3.Connection:
    conn = sqlite3.connect(DB_PATH, timeout=30, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS users (chat_id INTEGER PRIMARY KEY, active INTEGER NOT NULL DEFAULT 1, reason TEXT)")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS deliveries (task_id TEXT PRIMARY KEY, chat_id INTEGER, outcome TEXT, message_id INTEGER)")
    return conn


def mark_inactive(chat_id: int, reason: str) -> None:
    with contextlib.closing(db()) as conn:
        conn.execute(
            "INSERT INTO users (chat_id, active, reason) VALUES (?, 0, ?) "
            "ON CONFLICT(chat_id) DO UPDATE SET active = 0, reason = excluded.reason", (chat_id, reason))


def record_delivery(task_id: str, chat_id: int, outcome: str, message_id: int | None) -> None:
    with contextlib.closing(db()) as conn:
        conn.execute("INSERT OR IGNORE INTO deliveries VALUES (?, ?, ?, ?)", (task_id, chat_id, outcome, message_id))


# --- the old path: a queue and 10 senders in every process ---

local_queue: asyncio.Queue = asyncio.Queue()
processed = 0


async def sender(http: httpx.AsyncClient) -> None:
    global processed
    while True:
        bot, chat_id, text, kwargs = await local_queue.get()
        try:
            r = await http.post(f"{TELEGRAM_API_URL}/bot{TELEGRAM_BOT_TOKEN}/sendMessage",
                                json={"chat_id": chat_id, "text": text, **kwargs})
            if r.status_code == 403:
                mark_inactive(chat_id, r.json().get("description", "forbidden"))
        except httpx.HTTPError:
            pass  # the old path lost the message: one reason to migrate
        finally:
            processed += 1
            local_queue.task_done()


# --- the new path: telequeue's HTTP API ---

class Telequeue:
    """A small async client of telequeue's HTTP API."""

    def __init__(self, base_url: str, token: str):
        self.http = httpx.AsyncClient(base_url=base_url, timeout=10,
                                      headers={"Authorization": f"Bearer {token}"})

    async def send_message(self, bot: str, chat_id, text: str, *, idempotency_key: str | None = None,
                           **kwargs) -> str:
        body = {"bot": bot, "chat_id": chat_id, "text": text, **kwargs}
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        for attempt in range(5):
            r = await self.http.post("/v1/messages", json=body, headers=headers)
            if r.status_code == 202:
                return r.json()["id"]
            if r.status_code == 409:  # the same key again: already queued
                return r.json()["error"]["id"]
            if r.status_code == 503:  # Redis unreachable: nothing queued, retry
                await asyncio.sleep(float(r.headers.get("Retry-After", "1")))
                continue
            raise HTTPException(502, f"telequeue refused the message: {r.text}")
        raise HTTPException(503, "telequeue unavailable")

    async def stats(self) -> dict:
        r = await self.http.get("/v1/stats")
        r.raise_for_status()
        return r.json()


telequeue = Telequeue(TELEQUEUE_URL, TELEQUEUE_API_TOKEN)


def via_telequeue(chat_id) -> bool:
    """The rollout flag: a stable share of chats takes the new path."""
    digest = hashlib.sha256(str(chat_id).encode()).digest()
    return int.from_bytes(digest[:2], "big") % 100 < TELEQUEUE_ROLLOUT


async def enqueue_message(bot: str, chat_id, text: str, **kwargs) -> str | None:
    """Queue a message: the call the whole app uses, unchanged."""
    key = kwargs.pop("idempotency_key", None)
    if via_telequeue(chat_id):
        # An idempotency key makes a retried request (a timeout, a double
        # click) queue the message once.
        return await telequeue.send_message(bot, chat_id, text, idempotency_key=key or str(uuid.uuid4()), **kwargs)
    await local_queue.put((bot, chat_id, text, kwargs))
    return None


# --- outcomes: telequeue's signed webhooks ---

def verify_signature(header: str, body: bytes) -> bool:
    """Check Telequeue-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>."""
    pairs = [p.strip().split("=", 1) for p in header.split(",") if "=" in p]
    ts = next((v for k, v in pairs if k == "t"), "")
    if not ts.isdigit() or abs(time.time() - int(ts)) > WEBHOOK_TOLERANCE:
        return False
    expected = hmac.new(WEBHOOK_SECRET, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, v) for k, v in pairs if k == "v1")


@app.post("/telequeue/events")
async def telequeue_event(request: Request):
    body = await request.body()
    if not verify_signature(request.headers.get("Telequeue-Signature", ""), body):
        raise HTTPException(401, "bad signature")
    event = json.loads(body)
    chat = event.get("chat_id")
    if chat is None and event.get("chat", "").lstrip("-").isdigit():
        chat = int(event["chat"])
    if event["outcome"] == "blocked" and chat is not None:
        mark_inactive(chat, event.get("description", "blocked"))
    if event["outcome"] in ("sent", "archived", "blocked"):
        ids = event.get("message_ids") or [None]
        record_delivery(event["task_id"], chat, event["outcome"], ids[0])
    return {"ok": True}


# --- the app's endpoints ---

class Notification(BaseModel):
    user_id: int
    text: str


@app.on_event("startup")
async def start_senders():
    db().close()
    http = httpx.AsyncClient(timeout=15)
    for _ in range(SENDERS):
        asyncio.create_task(sender(http))


@app.post("/notify")
async def notify(n: Notification, idempotency_key: str | None = Header(default=None)):
    # A caller that retries after a lost answer sends the same
    # Idempotency-Key: the message is still queued once.
    task_id = await enqueue_message("default", n.user_id, n.text, idempotency_key=idempotency_key)
    return {"queued": True, "task_id": task_id}


@app.get("/users/{chat_id}")
async def user(chat_id: int):
    with contextlib.closing(db()) as conn:
        row = conn.execute("SELECT active, reason FROM users WHERE chat_id = ?", (chat_id,)).fetchone()
    return {"chat_id": chat_id, "active": row is None or bool(row[0]), "reason": row[1] if row else None}


@app.get("/inactive")
async def inactive():
    with contextlib.closing(db()) as conn:
        rows = conn.execute("SELECT chat_id FROM users WHERE active = 0 ORDER BY chat_id").fetchall()
    return {"chat_ids": [r[0] for r in rows]}


@app.get("/monitoring")
async def monitoring():
    """The seed's monitoring dict, filled from telequeue's /v1/stats."""
    local = {"queue_depth": local_queue.qsize(), "processed": processed, "workers_per_process": SENDERS}
    if TELEQUEUE_ROLLOUT == 0:
        return {**local, "total_workers": SENDERS}
    s = await telequeue.stats()
    per_process = [srv["concurrency"] for srv in s["servers"]]
    return {
        "queue_depth": s["totals"]["pending"] + s["totals"]["scheduled"] + s["totals"]["retry"] + s["totals"]["active"],
        "processed": s["totals"]["processed_total"],
        "workers_per_process": max(per_process, default=0),
        "total_workers": s["total_workers"],
        "worker_processes": len(s["servers"]),
        "archived": s["totals"]["archived"],
        "in_process_queue": local,
    }
