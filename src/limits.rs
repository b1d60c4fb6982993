//! Every bound in cpra, named once, with its unit in the name.
//!
//! A hostile or broken target (endless headers, a trickle, a huge body, garbage) must cost
//! bounded memory and time; these constants are those bounds. Change them here, nowhere else.

// -- engine and probes --

/// Monitors per sweep chunk: one bit each in a `u64` due mask.
pub const CHUNK_MONITORS: usize = 64;
/// Slots in the next-check timing wheel; at the default 10 ms tick this is a 40.96 s horizon.
/// Chunks due further out sit in their slot and are looked at once per revolution.
pub const WHEEL_SLOTS: usize = 4096;
/// Default engine tick.
pub const TICK_MS_DEFAULT: u64 = 10;
/// Longest interval or timeout a monitor may have: due times are wrapping `u32` milliseconds,
/// compared as signed differences, so every distance must stay below 2^31 ms (24.8 days).
pub const INTERVAL_MS_MAX: u64 = 20 * 24 * 3600 * 1000;
/// Requests queued from the engine to one worker (power of two).
pub const REQUEST_RING_CAPACITY: usize = 1 << 16;
/// Completions queued from one worker to the engine (power of two).
pub const COMPLETION_RING_CAPACITY: usize = 1 << 16;
/// Checks one worker runs at once; each holds at most one socket. Also capped at run time by
/// the process's open-file limit (see `engine::in_flight_per_worker`).
pub const IN_FLIGHT_PER_WORKER_MAX: usize = 8192;
/// Sockets one worker holds open at once: checks in flight and idle keep-alive connections.
/// The open-file limit binds long before; this bounds the worker's token table.
pub const PROBE_SOCKETS_PER_WORKER_MAX: usize = 1 << 20;
/// File descriptors kept back from the open-file limit for everything that is not a probe
/// (log files, intervention pipes, the config file, the status output).
pub const FD_RESERVE: usize = 256;
/// Bytes of status line and headers accepted from a target before the check fails `protocol`.
pub const RESPONSE_HEADER_BYTES_MAX: usize = 16 * 1024;
/// Headers parsed from one response; more is a `protocol` failure.
pub const RESPONSE_HEADERS_COUNT_MAX: usize = 64;
/// Bytes of body read when `body_contains` is set; a body that has not shown the needle by then
/// fails `body`. Without `body_contains` the body is not read at all.
pub const RESPONSE_BODY_BYTES_MAX: usize = 256 * 1024;
/// Body bytes a keep-alive check reads past its verdict to reuse the connection; a longer
/// body closes the connection instead.
pub const KEEPALIVE_DRAIN_BYTES_MAX: usize = 1024 * 1024;
/// Keep-alive connections one worker opens to one target (in use or idle); further checks
/// wait for one to come back, as HTTP clients do, instead of piling up handshakes.
pub const KEEPALIVE_CONNS_PER_TARGET_MAX: u32 = 64;
/// Idle keep-alive connections kept per target by one worker.
pub const KEEPALIVE_IDLE_PER_TARGET_MAX: usize = 64;
/// An idle keep-alive connection older than this is closed instead of reused.
pub const KEEPALIVE_IDLE_MS_MAX: u64 = 30_000;
/// Bytes a DNS reply over UDP may have (the largest datagram).
pub const DNS_UDP_REPLY_BYTES_MAX: usize = 65_535;
/// How often target names are resolved again (the system resolver gives no TTL).
pub const DNS_REFRESH_MS: u64 = 60_000;
/// Names cached for lookups on demand (redirects); the cache is cleared when full.
pub const DNS_CACHE_ENTRIES_MAX: usize = 10_000;
/// Bytes read from a socket in one `read` call.
pub const READ_CHUNK_BYTES: usize = 4096;
/// Pause between attempts inside one check (`retries`), per SPEC.
pub const CHECK_RETRY_PAUSE_MS: u64 = 50;
/// Extra time the engine gives a worker past a check's deadline before it declares the
/// result lost, records a `timeout` and drops anything that arrives later.
pub const LOST_RESULT_GRACE_MS: u64 = 1000;
/// How long a clean stop waits for checks in flight before abandoning them
/// (`cancelled_at_stop`); a second SIGINT/SIGTERM abandons them at once.
pub const STOP_GRACE_MS: u64 = 5_000;
/// How often `cpra run` prints its status line.
pub const STATUS_LINE_INTERVAL_MS: u64 = 10_000;

// -- icmp --

/// Echo requests awaiting a reply on one shared ICMP socket (one per worker and address
/// family). Below the 65,536 sequence numbers, so a free one always exists; past it a check's
/// packet is not sent (and counted `local` if none of its packets could be).
pub const ICMP_OUTSTANDING_PER_SOCKET_MAX: usize = 32 * 1024;
/// Longest pause between two echo requests of one check, in ms; shorter when the check's
/// timeout needs it (all of an attempt's packets go out in the first half of its time).
pub const ICMP_SEND_INTERVAL_MS_MAX: u64 = 100;
/// Echo requests one check sends in all, `count` times attempts (`retries` + 1), capped here.
pub const ICMP_PACKETS_PER_CHECK_MAX: u32 = 1000;
/// Bytes of payload in one echo request: cpra's cookie and the request's serial number.
pub const ICMP_PAYLOAD_BYTES: usize = 16;
/// Bytes read from an ICMP socket per packet (IPv4 header with options, ICMP header, payload);
/// longer packets are cut there, which is never one of our replies.
pub const ICMP_RECV_PACKET_BYTES: usize = 512;
/// Kernel receive buffer asked for each shared ICMP socket, in bytes (best effort: the kernel
/// caps it at `net.core.rmem_max`), so a burst of replies for many checks is not dropped.
pub const ICMP_SOCKET_RECV_BUFFER_BYTES: usize = 4 << 20;

// -- dns --

/// EDNS0 UDP payload size a DNS query advertises, in bytes (the DNS Flag Day 2020 value: one
/// unfragmented datagram on any path). Larger answers come with TC set and are asked again over
/// TCP. A worker's UDP receive buffer should hold a whole datagram (up to 65,535 bytes) anyway:
/// a server may ignore the advertised size, and a cut datagram reads as malformed.
pub const DNS_UDP_PAYLOAD_BYTES: u16 = 1232;
/// Bytes of one DNS reply over TCP, its 2-byte length prefix included: the most a 16-bit length
/// can announce, so the buffer for a reply arriving in pieces never grows past this.
pub const DNS_TCP_REPLY_BYTES_MAX: usize = 65535 + 2;
/// Longest domain name, in wire bytes (length bytes and the final zero included; RFC 1035 2.3.4).
pub const DNS_NAME_BYTES_MAX: usize = 255;
/// Longest label of a domain name, in bytes.
pub const DNS_LABEL_BYTES_MAX: usize = 63;
/// Compression pointers followed while reading one name; more is a malformed reply (each
/// pointer must also point backward, so loops are impossible anyway).
pub const DNS_NAME_POINTERS_MAX: usize = 64;
/// Longest detail text of a DNS verdict ("answer 10.0.0.1 != expected 10.0.0.2"), in bytes.
pub const DNS_DETAIL_BYTES_MAX: usize = 256;
/// Bytes of /etc/resolv.conf read when looking for the system resolver.
pub const DNS_RESOLV_CONF_BYTES_MAX: usize = 64 * 1024;

// -- effects --

/// Interventions running at once; more wait their turn in arrival order.
pub const INTERVENTIONS_CONCURRENT_MAX: usize = 64;
/// First retry pause of a code that failed to send; doubled per failure.
pub const NOTIFY_BACKOFF_INITIAL_MS: u64 = 1000;
/// Longest retry pause of a code that keeps failing to send.
pub const NOTIFY_BACKOFF_MAX_MS: u64 = 5 * 60 * 1000;
/// Notifier delivery threads at most; more notifiers share them round-robin.
pub const NOTIFY_LANES_MAX: usize = 64;
/// Bound on one request to a receiver (connect, send, answer), unless configured otherwise.
pub const NOTIFY_REQUEST_TIMEOUT_MS: u64 = 10_000;
/// Bytes of a receiver's answer read (for the error message); the rest is ignored.
pub const NOTIFY_RESPONSE_BYTES_MAX: usize = 64 * 1024;
/// How long a clean stop waits for last deliveries; what is left stays in the outbox.
pub const NOTIFY_SHUTDOWN_GRACE_MS: u64 = 5_000;
/// Codes written to a log file in one write.
pub const LOG_BATCH_CODES_MAX: usize = 4096;
/// Codes in one storm digest; a larger storm window is sent as several digests.
pub const DIGEST_CODES_MAX: usize = 500;
/// Monitor names listed per colour in a Slack or email digest ("and N more" after).
pub const DIGEST_NAMES_MAX: usize = 50;
/// Least time between two PagerDuty events from one notifier: PagerDuty's Events API v2
/// throttles an integration above about 120 events a minute.
pub const PAGERDUTY_SEND_INTERVAL_MS: u64 = 500;
/// PagerDuty's limit on `payload.summary`, in characters.
pub const PAGERDUTY_SUMMARY_CHARS_MAX: usize = 1024;
/// How often firing alerts are posted again to Alertmanager (its resolve_timeout is 5 min).
pub const ALERTMANAGER_REPOST_MS: u64 = 60_000;
/// `endsAt` of a firing alert, ahead of now: it expires by itself if cpra stops posting it.
pub const ALERTMANAGER_ALERT_TTL_MS: u64 = 4 * ALERTMANAGER_REPOST_MS;
/// Alerts in one POST to Alertmanager.
pub const ALERTMANAGER_BATCH_ALERTS_MAX: usize = 1000;
/// One outbox segment file, in bytes; a fully delivered segment is deleted.
pub const OUTBOX_SEGMENT_BYTES: u64 = 64 << 20;
/// Undelivered codes kept on disk, in bytes (about 3 million codes); past it new codes are
/// dropped and counted (`codes.dropped`), never silently.
pub const OUTBOX_BYTES_MAX: u64 = 1 << 30;
/// How often a running intervention's child process is polled for exit.
pub const EXEC_POLL_MS: u64 = 10;
/// Bytes of an exec intervention's stderr kept for its failure message; the rest is dropped.
pub const EXEC_STDERR_BYTES_MAX: usize = 2048;
/// Bytes of a Docker daemon's answer read; more is a failure.
pub const DOCKER_ANSWER_BYTES_MAX: usize = 1 << 20;
/// Restarts running at once against one Docker daemon (one per container in any case).
pub const DOCKER_RESTARTS_PER_HOST_MAX: usize = 4;
/// The circuit breaker's floor: interventions are held when more than this many monitors, and
/// more than `INTERVENTION_PAUSE_PERCENT` of the enabled ones, fail at once.
pub const INTERVENTION_PAUSE_MONITORS_MIN: u64 = 50;
/// The circuit breaker's share of enabled monitors failing at once, in percent.
pub const INTERVENTION_PAUSE_PERCENT: u64 = 5;

// -- config --

/// Most errors one configuration load reports; further ones are only counted ("... and N more").
pub const CONFIG_ERRORS_MAX: usize = 100;
/// Most warnings one configuration load reports; further ones are only counted.
pub const CONFIG_WARNINGS_MAX: usize = 100;
/// Largest configuration file accepted, in bytes, both as read and after gunzip.
pub const CONFIG_FILE_BYTES_MAX: u64 = 4 << 30;
/// Most a gzip configuration may expand, as a multiple of its compressed size (plus 64 MiB):
/// monitors files compress 20-100 times; a bomb compresses a thousand times and more.
pub const CONFIG_GZIP_RATIO_MAX: u64 = 200;
/// Characters of a key quoted in a message; longer keys are cut with `...`.
pub const CONFIG_MESSAGE_KEY_CHARS_MAX: usize = 80;
/// Longest single string value (or key, known or not) in a configuration file, in bytes.
pub const CONFIG_STRING_BYTES_MAX: usize = 64 * 1024;
/// Most YAML/JSON nodes in one monitor entry, aliases expanded (bounds "billion laughs").
pub const CONFIG_NODES_PER_MONITOR_MAX: usize = 10_000;
/// Deepest nesting of mappings and lists in a configuration file.
pub const CONFIG_DEPTH_MAX: usize = 64;
/// Target size of one slice of a YAML file parsed by one loader thread, in bytes.
pub const CONFIG_CHUNK_BYTES: usize = 1 << 20;
/// Slices parsed ahead of the one being delivered, per loader thread (bounds loader memory).
pub const CONFIG_CHUNKS_AHEAD_PER_THREAD: usize = 2;
/// Block a large configuration file is scanned in (to find where to cut it), in bytes; also
/// the most text before the `monitors` list that a sliced read takes (more: the whole file is
/// read at once).
pub const CONFIG_PLAN_BLOCK_BYTES: usize = 8 << 20;
/// Most threads one configuration load uses.
pub const CONFIG_LOAD_THREADS_MAX: usize = 8;
/// Longest monitor name, in bytes.
pub const MONITOR_NAME_BYTES_MAX: usize = 256;
/// Longest URL (pulse, webhook, notifier), in bytes.
pub const URL_BYTES_MAX: usize = 8192;
/// Most headers in one header list (HTTP pulse, webhook intervention, webhook notifier).
pub const HEADERS_PER_MONITOR_MAX: usize = 64;
/// Most arguments (argv\[0\] included) of an exec intervention's command.
pub const EXEC_ARGS_MAX: usize = 256;
/// Most environment variables an exec intervention sets.
pub const EXEC_ENV_VARS_MAX: usize = 256;
/// Most redirects an HTTP pulse may be told to follow.
pub const HTTP_REDIRECTS_MAX: u32 = 10;
/// Most extra attempts (pulse `retries`, intervention `retries`).
pub const RETRIES_MAX: u32 = 100;
/// Most interventions per incident (`max_attempts`): the lifecycle counts them in a byte.
pub const INTERVENTION_ATTEMPTS_MAX: u32 = 255;
/// Largest `unhealthy_threshold` / `healthy_threshold`, in consecutive checks.
pub const THRESHOLD_CHECKS_MAX: u32 = 100_000;
/// Most echo requests one ICMP check sends (`count`).
pub const ICMP_COUNT_MAX: u32 = 100;
/// Most maintenance windows per monitor.
pub const MAINTENANCE_WINDOWS_PER_MONITOR_MAX: usize = 64;
/// Largest `alerting.storm_threshold`, in codes per storm window.
pub const STORM_THRESHOLD_MAX: u32 = 1_000_000;
/// Most recipients of one email notifier (`to`).
pub const EMAIL_RECIPIENTS_MAX: usize = 64;

// The operator's API (src/api/): what one client may cost.
/// Default listen address of the API, metrics and dashboard (`--listen`).
pub const API_LISTEN_DEFAULT: &str = "127.0.0.1:9797";
/// Open API connections at once; beyond it a new one gets 503 and is closed.
pub const API_CONNECTIONS_MAX: usize = 256;
/// Largest request head (request line and headers), in bytes; beyond it: 431.
pub const API_REQUEST_HEAD_BYTES_MAX: usize = 16 * 1024;
/// Most request headers.
pub const API_REQUEST_HEADERS_MAX: usize = 48;
/// Largest request body, in bytes; beyond it: 413.
pub const API_REQUEST_BODY_BYTES_MAX: usize = 64 * 1024;
/// Time for one request, from its first byte to the last byte of the answer, in ms.
pub const API_REQUEST_TIME_MS_MAX: u64 = 10_000;
/// An idle keep-alive connection is closed after this many ms.
pub const API_IDLE_MS_MAX: u64 = 30_000;
/// Bytes of answers a connection may have waiting for its client to read them; pipelined
/// requests beyond it wait (unparsed) until the client reads.
pub const API_RESPONSE_BACKLOG_BYTES_MAX: usize = 1 << 20;
/// Bytes an event stream may have waiting for a slow reader before it is dropped.
pub const API_STREAM_BACKLOG_BYTES_MAX: usize = 1 << 20;
/// Open event streams at once (part of `API_CONNECTIONS_MAX`).
pub const API_STREAMS_MAX: usize = 64;
/// How often the server pushes new events to streams, in ms.
pub const API_STREAM_PUSH_MS: u64 = 200;
/// How often a stream gets a `summary` event, in ms (and a keep-alive comment).
pub const API_STREAM_SUMMARY_MS: u64 = 2_000;
/// Largest page of `GET /api/v1/monitors` (`limit`).
pub const API_PAGE_MONITORS_MAX: usize = 1_000;
/// Default page size of `GET /api/v1/monitors`.
pub const API_PAGE_MONITORS_DEFAULT: usize = 50;
/// How long a write (pause, resume, maintenance) waits for the engine to apply it, in ms.
pub const API_COMMAND_WAIT_MS: u64 = 2_000;
/// Maintenance windows asked for through the API and not yet started.
pub const API_WINDOWS_PENDING_MAX: usize = 10_000;
/// Recent transitions kept for `GET /api/v1/events` and the streams.
pub const EVENTS_KEPT: usize = 10_000;
/// Results kept per monitor for `GET /api/v1/monitors/{name}`.
pub const HISTORY_RESULTS_PER_MONITOR: usize = 100;
/// Monitors with a result history at once (all of them up to this count; above it, those
/// that leave `up` or are looked at, the oldest tracked one giving way). 12 bytes a result.
pub const HISTORY_MONITORS_MAX: usize = 10_000;
/// How often the engine publishes its counters to the API, in ms.
pub const API_PUBLISH_MS: u64 = 1_000;
/// Per-monitor Prometheus series (`probe_success`, ...) are on by default up to this many
/// monitors; `--metrics-per-monitor` forces them on for any count.
pub const METRICS_PER_MONITOR_DEFAULT_MAX: usize = 10_000;
/// The engine counts as stalled (`/healthz` 503) when it has not ticked for this long, in ms.
pub const HEALTHZ_STALL_MS: u64 = 5_000;

// The state snapshot (src/snapshot/).
/// How often the engine writes the state snapshot when a monitor changed state (or was paused,
/// resumed, put in maintenance) since the last one, in ms; and once at a clean stop.
pub const SNAPSHOT_PERIOD_MS: u64 = 5_000;
/// How often it is written when nothing changed state, in ms (to refresh counters and last
/// results): a quiet million monitors write 72 MB every 5 minutes, not every 5 s.
pub const SNAPSHOT_QUIET_PERIOD_MS: u64 = 300_000;
/// Records the engine copies into the snapshot buffer per tick (72 bytes each: about 2 ms of
/// a tick for 65,536), so writing a million monitors never pauses the tick loop.
pub const SNAPSHOT_RECORDS_PER_TICK: usize = 65_536;
/// Most records a snapshot file may claim (a bigger count is a corrupt header).
pub const SNAPSHOT_RECORDS_MAX: u64 = 100_000_000;

// What the code relies on, checked at compile time.
const _: () = assert!(REQUEST_RING_CAPACITY.is_power_of_two());
const _: () = assert!(COMPLETION_RING_CAPACITY.is_power_of_two());
// Due times are wrapping u32 ms compared as signed differences.
const _: () = assert!(INTERVAL_MS_MAX < 1 << 31);
const _: () = assert!(WHEEL_SLOTS.is_power_of_two());
const _: () = assert!(CHUNK_MONITORS == 64); // a chunk's due mask is one u64
const _: () = assert!(API_STREAMS_MAX <= API_CONNECTIONS_MAX);
const _: () = assert!(HISTORY_RESULTS_PER_MONITOR <= u16::MAX as usize);
