"""The socket runtime: what makes Channels and Daphne fast and safe enough for this service.

It is plumbing, not chat: nothing here imports `chat` or `alert` (tests/test_layout.py checks).
Each module replaces or tunes one piece of Channels, Daphne or Django, for a reason measured
in docs/performance.md ("What each change bought"):

- `server.py` replaces daphne's `Server` (for `mychannels/serve.py` and `runserver`): frames
  over the limit refused by the protocol layer and answered 1009; socket inboxes; the scope's
  common headers shared among sockets; the protocol router's handoff taken.
- `upgradefast.py` (new, installed by `server.py`): a first read that is one whole plain
  WebSocket upgrade goes to autobahn without Twisted's HTTP parser and Daphne's re-encoding
  (storm of 2,000: 2.31-2.86 -> 1.82-2.33 s); anything else takes Twisted's path.
- `wsprotocol.py` replaces daphne's `WebSocketProtocol`: a broadcast's frame built once and
  written at once (0.14 -> 0.094-0.10 CPU s per 1,000 deliveries); no pprint dump of the
  options per connection (0.134 -> 0.014 ms); once open, a socket forgets its handshake,
  shares the factory's options and reads attributes still at their defaults from its class
  (idle socket 35.9 -> 22.4 KB, then 23.7 -> 16.0 KB RSS at 10,000 with the changes below);
  a read that is one whole client text frame skips autobahn's parser (`framefast.py`, new:
  about 290 -> 90 us of CPU per client message in the server), every other read is autobahn's.
- `handoff.py` (new): channels' cookie middleware, URL router and protocol router as plain
  calls handing back the inner coroutine, so that no frame of theirs stays under an open
  socket (idle memory).
- `inbox.py` replaces `asyncio.Queue` for a socket's frames and events: 40.5 -> 33.2-33.7 KB
  per idle socket at 1,000.
- `layers.py` tunes channels-redis' `RedisPubSubChannelLayer`: a broadcast decoded once per
  process; subscriptions sent in batches (a storm's first socket open after 4.8-5.5 s instead
  of 9.4-11 s); with several Redis servers, a server that comes back sends catch-up (1012)
  only to the members of the groups it carries, and new channels avoid a server that is away.
- `closecodes.py` patches daphne's `WebSocketProtocol` (applied by `mychannels/asgi.py`, so
  plain `daphne` too): close codes 1009 and 1012 sent instead of raising (the client got
  1011), a frame over Daphne's limit closed 1009 instead of dropped (1006).
- `sendbuffer.py` (new, patches daphne's `WebSocketProtocol` like `closecodes.py`): a socket
  that stops reading is closed 1012 once more than CHAT_SOCKET_SEND_BUFFER_BYTES wait for it
  in the process, and what waited is dropped (it had held MBs until the ping timed out).
- `closedsocket.py` (new): a consumer sends nothing after its close frame (ASGI forbids it and
  uvicorn raises; group events keep arriving until the client answers the close).
- `identitycache.py` (new): the one decoded event and built frame a broadcast's members share.
- `fanout.py` (new, with `layers.py` and `dispatchloop.py`): a broadcast written to every idle
  local member in the channel layer's one pass over the group, without waking each member's
  consumer (CPU per 1,000 deliveries at 10,000/s: see docs/performance.md); busy or queued
  members keep the inbox path, so order per socket is unchanged. Room lists take it too, for
  a message's unread count (with every member's list open: 0.115-0.117 -> 0.066-0.072 CPU s
  per 1,000 room deliveries at 1,000/s). For our protocol the writer
  is its `send_text` (18.8 -> 16.6 us per delivery in the server, send included).
- `databasehop.py` (new): channels' thread hop to `close_old_connections` before every
  handler, kept only for handlers that read through the async ORM (room sockets, room lists,
  alert sockets): the room list took it on every message for every member (322 -> 171-178
  us per member per message in one process), and closing took one more after `disconnect`
  (2,000 closing: 0.76-1.04 -> 0.49-0.74 s).
- `dispatchloop.py` replaces channels' `await_many_dispatch`, which made a task and an
  `asyncio.wait` per member per event: 6,505-8,654/s -> 9,614-9,698/s delivered at 10,000/s.
- `auth.py` replaces channels' `CookieMiddleware(SessionMiddleware(AuthMiddleware))`: no
  `send` wrapper or lazy user per frame; session and user rows in plain SQL (0.99 -> 0.46 ms
  of CPU per opening), then in one statement (the user joined by the session row's user id),
  every check of Django's kept.
- `sessions.py` is the session engine (Django's database store on `login_session.py`'s rows,
  each saved with its user's id) and subclasses Django's `SessionMiddleware`: a cookie
  holding a NUL is no session (it made every page answer 500).
- `login_session.py` (new): the session row with the user's id (Django's documented
  `AbstractBaseSession` extension), registered by `mychannels/models.py`.
- `asyncdb.py` replaces the async ORM's thread hops for a socket opening's reads: on the event
  loop on PostgreSQL, one control flow for every database (storm of 2,000 7.0-7.35 s ->
  3.82-4.4 s; 3.8 -> 2.3 ms of CPU per opening); its statements kept prepared, as Django's
  are not (PostgreSQL's CPU over a storm 0.86-1.0 -> 0.22-0.27 s); in Django's time zone, as
  its own connections (a server set to another zone shifted every time read); psycopg's C
  loader for times (a history page of 50: 1.59 -> 1.14 ms of CPU).
- `keyedreads.py` (new): a read that every opening makes with its own key (the session and
  user, the room list's rooms and counts), gathered while a statement is out and sent as
  one statement for all of them (2,000 tabs: about 9,500 statements -> 1,900, 10.3-11.2 ->
  7.6-9.1 s of server CPU on a slow machine, docs/performance.md "2026-12-08").
- `offthread.py` replaces `sync_to_async`'s one shared ORM thread for reads in no transaction:
  per-stage threads (openings had been capped near 70/s).
- `loopcache.py` (new): asyncio clients must not cross event loops; one per loop, closed with it.
- `bodylimit.py` (new): HTTP request bodies over a limit refused (413) before Django's ASGI
  handler spools them to memory or disk; the limit per request is the caller's (routing.py).
- `httpbody.py` patches daphne's `WebRequest` (applied by `mychannels/asgi.py`, so plain
  `daphne` too): a body over HTTP_MAX_BODY_BYTES refused (413) before Twisted buffers it whole
  in memory or a temporary file, declared (unread) or chunked (cut at the limit).
- `redisshards.py` (new): several Redis servers in REDIS_URL; the service's own keys are
  placed by the channel layer's rule, by group (a room's presence with the room's group, a
  user's buckets and socket set with the user's group), service-wide state on the first.
- `redisclient.py` replaces redis-py's default pool with a blocking one of 32 connections
  (uvicorn storm of 2,000: 16.1 -> 13.3 s; DESIGN.md trap 1).
- `redisline.py` (new) replaces redis-py's client for plain `redis://` servers on the paths
  every message or socket pays for: one pipelined hiredis connection per server and loop
  (a PUBLISH 569 -> 194 us of CPU with the loop idle between). `rediscalls.py` (new) sends
  presence's and the socket cap's calls of one step together on it, or in a redis-py
  pipeline for TLS and socket files (an opening 1.0-1.2 -> 0.53-0.57 ms of CPU, a closing
  0.9-1.06 -> 0.41-0.46 ms, loop idle between).
- `subscriber.py` (new) replaces the layer's polling of redis-py's PubSub for plain
  `redis://` servers: published messages handed to the layer in the read that brought them
  (a message read 775 -> 12 us of CPU with 10 ms between messages); a lost connection is
  reopened, every channel subscribed again, and the gap announced (1012, catch up).
- `singleflight.py` (new): one shared connect or computation for callers that ask at once.
"""
