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
/// Bytes read from a socket in one `read` call.
pub const READ_CHUNK_BYTES: usize = 4096;
/// Pause between attempts inside one check (`retries`), per SPEC.
pub const CHECK_RETRY_PAUSE_MS: u64 = 50;
/// Extra time the engine gives a worker past a check's deadline before it declares the
/// result lost, records a `timeout` and drops anything that arrives later.
pub const LOST_RESULT_GRACE_MS: u64 = 1000;
/// How often `cpra run` prints its status line.
pub const STATUS_LINE_INTERVAL_MS: u64 = 10_000;

// -- effects --

/// Interventions running at once; more wait their turn in arrival order.
pub const INTERVENTIONS_CONCURRENT_MAX: usize = 64;
/// First retry pause of a code that failed to send; doubled per failure.
pub const NOTIFY_BACKOFF_INITIAL_MS: u64 = 1000;
/// Longest retry pause of a code that keeps failing to send.
pub const NOTIFY_BACKOFF_MAX_MS: u64 = 5 * 60 * 1000;
/// Codes waiting for one notifier. Past this, new codes are counted as dropped (and said so
/// loudly in the status line and summary) rather than growing memory without bound.
pub const NOTIFY_QUEUE_MAX: usize = 1 << 20;
/// How often a running intervention's child process is polled for exit.
pub const EXEC_POLL_MS: u64 = 10;

// -- config --

/// Most errors one configuration load reports; further ones are only counted ("... and N more").
pub const CONFIG_ERRORS_MAX: usize = 100;
/// Most warnings one configuration load reports; further ones are only counted.
pub const CONFIG_WARNINGS_MAX: usize = 100;
/// Largest configuration file accepted, in bytes, both as read and after gunzip.
pub const CONFIG_FILE_BYTES_MAX: u64 = 4 << 30;
/// Longest single string value in a configuration file, in bytes.
pub const CONFIG_STRING_BYTES_MAX: usize = 64 * 1024;
/// Most YAML/JSON nodes in one monitor entry, aliases expanded (bounds "billion laughs").
pub const CONFIG_NODES_PER_MONITOR_MAX: usize = 10_000;
/// Deepest nesting of mappings and lists in a configuration file.
pub const CONFIG_DEPTH_MAX: usize = 64;
/// Target size of one slice of a YAML file parsed by one loader thread, in bytes.
pub const CONFIG_CHUNK_BYTES: usize = 1 << 20;
/// Slices parsed ahead of the one being delivered, per loader thread (bounds loader memory).
pub const CONFIG_CHUNKS_AHEAD_PER_THREAD: usize = 2;
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
/// Most interventions per incident (`max_attempts`).
pub const INTERVENTION_ATTEMPTS_MAX: u32 = 1000;
/// Largest `unhealthy_threshold` / `healthy_threshold`, in consecutive checks.
pub const THRESHOLD_CHECKS_MAX: u32 = 100_000;
/// Most echo requests one ICMP check sends (`count`).
pub const ICMP_COUNT_MAX: u32 = 100;
/// Most maintenance windows per monitor.
pub const MAINTENANCE_WINDOWS_PER_MONITOR_MAX: usize = 64;
/// Most recipients of one email notifier (`to`).
pub const EMAIL_RECIPIENTS_MAX: usize = 64;
