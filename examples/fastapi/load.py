"""Drive the example app with concurrent users, as its production traffic does.

  python3 load.py --app http://127.0.0.1:8000 --users 100 --messages 30 --first-chat 500000

Each user is a coroutine with its own chat that POSTs /notify `--messages`
times, with unique texts ("user <chat> message <i>") and an Idempotency-Key per
message, retrying a request whose connection was lost. It prints one JSON
line: how many requests were accepted, refused, failed and retried, and the
time taken.
"""

import argparse
import asyncio
import json
import time

import httpx


async def post(http: httpx.AsyncClient, body: dict, key: str, stats: dict) -> httpx.Response:
    """POST /notify, retrying a lost connection as a real client does.

    The Idempotency-Key makes a retry safe: if the first try was queued and
    only its answer was lost, the app queues nothing more.
    """
    for attempt in range(3):
        try:
            return await http.post("/notify", json=body, headers={"Idempotency-Key": key})
        except httpx.TransportError as e:
            if attempt == 2:
                raise
            stats["retried"] += 1
            stats["errors"].append(f"retried: {e!r}")
            await asyncio.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


async def user(http: httpx.AsyncClient, chat_id: int, messages: int, stats: dict) -> None:
    for i in range(messages):
        body = {"user_id": chat_id, "text": f"user {chat_id} message {i}"}
        try:
            r = await post(http, body, f"load-{chat_id}-{i}", stats)
        except httpx.HTTPError as e:
            stats["failed"] += 1
            stats["errors"].append(repr(e))
            continue
        if r.status_code == 200:
            stats["accepted"] += 1
        else:
            stats["refused"] += 1
            stats["errors"].append(f"{r.status_code} {r.text[:200]}")


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--app", required=True)
    p.add_argument("--users", type=int, default=100)
    p.add_argument("--messages", type=int, default=30)
    p.add_argument("--first-chat", type=int, default=500000)
    a = p.parse_args()
    stats = {"accepted": 0, "refused": 0, "failed": 0, "retried": 0, "errors": []}
    limits = httpx.Limits(max_connections=a.users, max_keepalive_connections=a.users)
    start = time.monotonic()
    async with httpx.AsyncClient(base_url=a.app, timeout=30, limits=limits) as http:
        await asyncio.gather(*(user(http, a.first_chat + u, a.messages, stats) for u in range(a.users)))
    stats["seconds"] = round(time.monotonic() - start, 3)
    stats["errors"] = stats["errors"][:10]
    print(json.dumps(stats))


if __name__ == "__main__":
    asyncio.run(main())
