//! genmonitors: writes N monitors (YAML or JSON, the SPEC schema) against a set of loopback
//! targets, deterministically for a seed.
//!
//! `genmonitors --count 1000000 --format yaml --out /tmp/1m.yaml`
//!
//! Targets follow the shared fleet model (`cpra::fleet`, the same flags as mockfleet):
//! monitor i is target id i, at `fleet.address_of(i)` (spread over `--hosts` loopback
//! addresses × `--ports` ports; refused ids point at a port nobody serves) and path `/t/{i}`.
//! `--tcp-share` of monitors are TCP connect checks and `--icmp-share` ICMP echo checks to the
//! target's loopback address, instead of HTTP. Codes go to the log
//! notifier (`--log`), and `--exec-share` of monitors get an exec intervention running
//! `--exec-cmd` with `{id}` replaced by the monitor's id.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use clap::Parser;
use cpra::fleet::{CheckType, Fleet, SALT_EXEC, check_type, parse_mix, share_pick};

#[derive(Parser, Debug)]
#[command(
    name = "genmonitors",
    about = "Write N generated cpra monitors (YAML or JSON)"
)]
struct Args {
    /// Number of monitors.
    #[arg(long, default_value_t = 1000)]
    count: u64,
    /// yaml or json.
    #[arg(long, default_value = "yaml")]
    format: String,
    /// Output file (default: standard output).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Seed for the pseudo-random choices (type, exec share).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long, default_value = "60s")]
    interval: String,
    #[arg(long, default_value = "5s")]
    timeout: String,
    #[arg(long, default_value_t = 1)]
    unhealthy_threshold: u32,
    /// The fleet's behaviour mix (as mockfleet's --mix): decides which ids point at the
    /// closed port (refused).
    #[arg(long, default_value = "healthy=1")]
    mix: String,
    /// Loopback addresses to spread over: 127.0.0.1, 127.0.0.2, ...
    #[arg(long, default_value_t = 1)]
    hosts: u32,
    #[arg(long, default_value_t = 18000)]
    port_base: u16,
    #[arg(long, default_value_t = 1)]
    ports: u16,
    /// Share of TCP monitors, 0..=1.
    #[arg(long, default_value_t = 0.0)]
    tcp_share: f64,
    /// Share of ICMP monitors (echo to the target's loopback address), 0..=1.
    #[arg(long, default_value_t = 0.0)]
    icmp_share: f64,
    /// Share of monitors with an exec intervention, 0..=1.
    #[arg(long, default_value_t = 0.0)]
    exec_share: f64,
    /// The exec intervention's argv, space-separated; `{id}` in an argument is replaced by
    /// the monitor's id.
    #[arg(long, default_value = "true")]
    exec_cmd: String,
    /// Log notifier file for codes; empty = no codes.
    #[arg(long, default_value = "cpra-alerts.log")]
    log: String,
}

fn main() {
    let a = Args::parse();
    if a.hosts == 0 || a.ports == 0 || a.hosts > 65_000 {
        eprintln!("genmonitors: --hosts and --ports must be at least 1");
        std::process::exit(2);
    }
    let json = match a.format.as_str() {
        "yaml" | "yml" => false,
        "json" => true,
        other => {
            eprintln!("genmonitors: unknown --format {other:?} (yaml or json)");
            std::process::exit(2);
        }
    };
    let out: Box<dyn Write> = match &a.out {
        Some(p) => match std::fs::File::create(p) {
            Ok(f) => Box::new(f),
            Err(e) => {
                eprintln!("genmonitors: cannot create {}: {e}", p.display());
                std::process::exit(1);
            }
        },
        None => Box::new(std::io::stdout().lock()),
    };
    let mut w = BufWriter::with_capacity(1 << 20, out);
    if let Err(e) = write_all(&a, json, &mut w).and_then(|_| w.flush()) {
        eprintln!("genmonitors: write failed: {e}");
        std::process::exit(1);
    }
}

fn write_all(a: &Args, json: bool, w: &mut impl Write) -> std::io::Result<()> {
    let fleet = Fleet {
        seed: a.seed,
        mix: parse_mix(&a.mix).map_err(std::io::Error::other)?,
        hosts: a.hosts,
        port_base: a.port_base,
        ports: a.ports,
        ..Fleet::default()
    };
    let exec_argv: Vec<String> = a.exec_cmd.split_whitespace().map(String::from).collect();
    if json {
        writeln!(w, "{{\"monitors\":[")?;
    } else {
        writeln!(w, "monitors:")?;
    }
    for i in 0..a.count {
        let (host, port) = fleet.address_of(i);
        let ctype = check_type(a.seed, i, a.tcp_share, a.icmp_share);
        let tcp = ctype == CheckType::Tcp;
        let icmp = ctype == CheckType::Icmp;
        let exec = share_pick(a.seed, i, SALT_EXEC, a.exec_share);
        let name = format!("m{i}");
        if json {
            let pulse = if icmp {
                format!(
                    "{{\"type\":\"icmp\",\"interval\":\"{}\",\"timeout\":\"{}\",\"unhealthy_threshold\":{},\"config\":{{\"host\":\"{host}\",\"count\":1}}}}",
                    a.interval, a.timeout, a.unhealthy_threshold
                )
            } else if tcp {
                format!(
                    "{{\"type\":\"tcp\",\"interval\":\"{}\",\"timeout\":\"{}\",\"unhealthy_threshold\":{},\"config\":{{\"host\":\"{host}\",\"port\":{port}}}}}",
                    a.interval, a.timeout, a.unhealthy_threshold
                )
            } else {
                format!(
                    "{{\"type\":\"http\",\"interval\":\"{}\",\"timeout\":\"{}\",\"unhealthy_threshold\":{},\"config\":{{\"url\":\"http://{host}:{port}/t/{i}\"}}}}",
                    a.interval, a.timeout, a.unhealthy_threshold
                )
            };
            let mut extra = String::new();
            if exec {
                let argv: Vec<String> = exec_argv
                    .iter()
                    .map(|s| s.replace("{id}", &i.to_string()))
                    .map(|s| serde_json::Value::String(s).to_string())
                    .collect();
                extra.push_str(&format!(
                    ",\"intervention\":{{\"action\":\"exec\",\"target\":{{\"command\":[{}],\"timeout\":\"10s\"}}}}",
                    argv.join(",")
                ));
            }
            if !a.log.is_empty() {
                let code = format!(
                    "{{\"notify\":\"log\",\"config\":{{\"file\":{}}}}}",
                    serde_json::Value::String(a.log.clone())
                );
                extra.push_str(&format!(
                    ",\"codes\":{{\"red\":{code},\"yellow\":{code},\"green\":{code},\"cyan\":{code}}}"
                ));
            }
            let sep = if i + 1 < a.count { "," } else { "" };
            writeln!(
                w,
                "{{\"name\":\"{name}\",\"pulse_check\":{pulse}{extra}}}{sep}"
            )?;
        } else {
            writeln!(w, "  - name: {name}")?;
            writeln!(w, "    pulse_check:")?;
            writeln!(
                w,
                "      type: {}",
                match ctype {
                    CheckType::Http => "http",
                    CheckType::Tcp => "tcp",
                    CheckType::Icmp => "icmp",
                }
            )?;
            writeln!(w, "      interval: {}", a.interval)?;
            writeln!(w, "      timeout: {}", a.timeout)?;
            writeln!(w, "      unhealthy_threshold: {}", a.unhealthy_threshold)?;
            // Block style throughout, and codes written out per monitor rather than through a
            // YAML anchor: the form the parallel loader reads fastest (see docs/config.md).
            writeln!(w, "      config:")?;
            if icmp {
                writeln!(w, "        host: {host}")?;
                writeln!(w, "        count: 1")?;
            } else if tcp {
                writeln!(w, "        host: {host}")?;
                writeln!(w, "        port: {port}")?;
            } else {
                writeln!(w, "        url: \"http://{host}:{port}/t/{i}\"")?;
            }
            if exec {
                writeln!(w, "    intervention:")?;
                writeln!(w, "      action: exec")?;
                writeln!(w, "      target:")?;
                writeln!(w, "        timeout: 10s")?;
                writeln!(w, "        command:")?;
                for arg in &exec_argv {
                    let arg = arg.replace("{id}", &i.to_string());
                    writeln!(w, "          - {}", serde_json::Value::String(arg))?;
                }
            }
            if !a.log.is_empty() {
                let file = serde_json::Value::String(a.log.clone());
                writeln!(w, "    codes:")?;
                for c in ["red", "yellow", "green", "cyan"] {
                    writeln!(w, "      {c}:")?;
                    writeln!(w, "        notify: log")?;
                    writeln!(w, "        config:")?;
                    writeln!(w, "          file: {file}")?;
                }
            }
        }
    }
    if json {
        writeln!(w, "]}}")?;
    }
    Ok(())
}
