//! How long `tpt apply` of 200 independent resources (Route53 hosted zones)
//! takes against the moto AWS emulator at parallelism 1, 10 and 32, and the
//! speed-up. Each run starts from nothing (moto reset, no state) and the
//! objects are destroyed after it (not timed).
//!
//! Run: start moto (`bash tests/targets/start-moto.sh`), then
//! `TPT_BENCH_MOTO_URL=http://127.0.0.1:5555 cargo bench --bench apply`
//! (`TPT_BENCH_RUNS=3` repetitions, `TPT_BENCH_COUNT=200` resources,
//! `TPT_BENCH_PARALLELISM=1,10,32`). A benchmark measures; it does not assert.
//!
//! moto answers in a few milliseconds from one Python process, so it is soon
//! the bottleneck. `TPT_BENCH_LATENCY_MS=N` puts a proxy in between that
//! holds every request N ms, as a cloud API's round trip does, to measure what
//! the walker's parallelism gains when the provider is not the limit.

// A benchmark reports by printing its table.
#![allow(clippy::print_stdout)]

use std::io::{Read, Write};
use std::process::Command;
use std::time::{Duration, Instant};

fn env_list(name: &str, default: &[usize]) -> Vec<usize> {
    std::env::var(name)
        .ok()
        .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| default.to_vec())
}

fn reset(url: &str) {
    let addr = url.trim_start_matches("http://");
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        println!("cannot reach moto at {url}");
        std::process::exit(1);
    };
    let _ = write!(
        s,
        "POST /moto-api/reset HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let mut sink = Vec::new();
    let _ = s.read_to_end(&mut sink);
}

fn tpt(dir: &std::path::Path, args: &[&str], url: &str) -> (bool, Duration) {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_tpt"))
        .args(args)
        .current_dir(dir)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", url)
        .env("TPT_STATE_KEY", "bench")
        .output();
    let ok = out.as_ref().is_ok_and(|o| o.status.success());
    if !ok {
        if let Ok(o) = &out {
            println!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
        }
    }
    (ok, start.elapsed())
}

/// A proxy to `upstream` (host:port) that holds each chunk of a request for
/// `latency` before forwarding it; answers pass straight back.
fn latency_proxy(upstream: String, latency: Duration) -> std::io::Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = std::net::TcpStream::connect(&upstream) else {
                continue;
            };
            let (Ok(mut client_r), Ok(mut server_r)) = (client.try_clone(), server.try_clone()) else {
                continue;
            };
            let (mut client_w, mut server_w) = (client, server);
            std::thread::spawn(move || {
                let mut buf = [0u8; 16384];
                while let Ok(n) = client_r.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    std::thread::sleep(latency);
                    if server_w.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = server_w.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut server_r, &mut client_w);
                let _ = client_w.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    Ok(format!("http://{addr}"))
}

fn main() {
    let Ok(moto) = std::env::var("TPT_BENCH_MOTO_URL") else {
        println!("set TPT_BENCH_MOTO_URL to a running moto server (see the header of benches/apply.rs)");
        return;
    };
    let latency = env_list("TPT_BENCH_LATENCY_MS", &[0])[0];
    let url = if latency > 0 {
        match latency_proxy(
            moto.trim_start_matches("http://").to_string(),
            Duration::from_millis(latency as u64),
        ) {
            Ok(u) => u,
            Err(e) => {
                println!("cannot start the latency proxy: {e}");
                return;
            }
        }
    } else {
        moto.clone()
    };
    let count = env_list("TPT_BENCH_COUNT", &[200])[0];
    let runs = env_list("TPT_BENCH_RUNS", &[3])[0].max(1);
    let levels = env_list("TPT_BENCH_PARALLELISM", &[1, 10, 32]);
    let names: Vec<String> = (0..count).map(|i| format!("\"z{i:04}\"")).collect();
    let config = format!(
        "import std.aws\n\nfor n in [{}] {{\n  resource zone: aws.HostedZone {{\n    name = \"${{n}}.bench.example.com\"\n  }}\n}}\n",
        names.join(", ")
    );
    println!(
        "apply of {count} independent hosted zones against moto (+{latency} ms per request), best of {runs}"
    );
    println!(
        "{:>12} {:>10} {:>10} {:>9}",
        "parallelism", "best s", "median s", "speed-up"
    );
    let mut base = None;
    for p in levels {
        let mut times = Vec::new();
        for _ in 0..runs {
            reset(&moto);
            let dir = match tempfile::tempdir() {
                Ok(d) => d,
                Err(e) => {
                    println!("no temporary directory: {e}");
                    return;
                }
            };
            let _ = std::fs::write(dir.path().join("main.tpt"), &config);
            let (ok, t) = tpt(
                dir.path(),
                &[
                    "apply",
                    ".",
                    "--auto-approve",
                    "--refresh=false",
                    "--parallelism",
                    &p.to_string(),
                ],
                &url,
            );
            if !ok {
                println!("apply failed at parallelism {p}");
                return;
            }
            times.push(t);
            let _ = tpt(
                dir.path(),
                &["destroy", ".", "--auto-approve", "--parallelism", "32"],
                &url,
            );
        }
        times.sort();
        let best = times[0].as_secs_f64();
        let median = times[times.len() / 2].as_secs_f64();
        let base = *base.get_or_insert(best);
        println!("{p:>12} {best:>10.2} {median:>10.2} {:>8.1}x", base / best);
    }
}
