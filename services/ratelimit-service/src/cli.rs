//! Command line: `--listen ADDR (--redis URL | --memory) --limits FILE`.

use std::net::SocketAddr;
use std::path::PathBuf;

pub const USAGE: &str = "\
edgeward-ratelimit-service: an Envoy Rate Limit Service (gRPC ShouldRateLimit) on limitador.

Usage:
  edgeward-ratelimit-service --listen 127.0.0.1:PORT (--redis redis://HOST:PORT | --memory) --limits FILE

Options:
  --listen ADDR     address to serve gRPC on (HTTP/2 cleartext), e.g. 127.0.0.1:8081
  --redis URL       keep counters in Redis (>= 7.0), shared by every instance using it
  --memory          keep counters in this process only (quick runs; lost on exit)
  --limits FILE     limits file, YAML or JSON (format: services/ratelimit-service/README.md)
  -h, --help        print this help

Prints `edgeward-ratelimit-service ready on ADDR` on stdout once it accepts connections.
Exit status: 0 after SIGTERM/SIGINT, 2 for bad arguments or limits, 1 if Redis is unreachable at start.
";

#[derive(Debug, PartialEq, Eq)]
pub enum Storage {
    Redis(String),
    Memory,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Args {
    pub listen: SocketAddr,
    pub storage: Storage,
    pub limits: PathBuf,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Run(Args),
    Help,
}

pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Parsed, String> {
    let mut listen = None;
    let mut redis = None;
    let mut memory = false;
    let mut limits = None;
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        // Accept both `--flag value` and `--flag=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Parsed::Help),
            "--listen" => {
                let v = value("--listen")?;
                let addr = v.parse::<SocketAddr>().map_err(|_| {
                    format!(
                        "--listen {v}: expected HOST:PORT with an IP address, e.g. 127.0.0.1:8081"
                    )
                })?;
                listen = Some(addr);
            }
            "--redis" => {
                let v = value("--redis")?;
                if v.starts_with("rediss://") {
                    return Err(format!(
                        "--redis {v}: TLS to Redis is not built in; use redis:// on a trusted network"
                    ));
                }
                if !(v.starts_with("redis://") || v.starts_with("unix://")) {
                    return Err(format!(
                        "--redis {v}: expected a URL like redis://127.0.0.1:6379"
                    ));
                }
                redis = Some(v);
            }
            "--memory" => memory = true,
            "--limits" => limits = Some(PathBuf::from(value("--limits")?)),
            other => return Err(format!("unknown argument `{other}` (see --help)")),
        }
    }
    let listen = listen.ok_or("--listen is required")?;
    let limits = limits.ok_or("--limits is required")?;
    let storage = match (redis, memory) {
        (Some(url), false) => Storage::Redis(url),
        (None, true) => Storage::Memory,
        (Some(_), true) => return Err("give either --redis or --memory, not both".into()),
        (None, false) => return Err("give --redis URL or --memory".into()),
    };
    Ok(Parsed::Run(Args {
        listen,
        storage,
        limits,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Parsed, String> {
        parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn parses_both_forms() {
        let want = Parsed::Run(Args {
            listen: "127.0.0.1:9000".parse().unwrap(),
            storage: Storage::Redis("redis://127.0.0.1:6379".into()),
            limits: "l.yaml".into(),
        });
        assert_eq!(
            p(&[
                "--listen",
                "127.0.0.1:9000",
                "--redis",
                "redis://127.0.0.1:6379",
                "--limits",
                "l.yaml"
            ]),
            Ok(want)
        );
        let mem = p(&["--listen=127.0.0.1:9000", "--memory", "--limits=l.yaml"]).unwrap();
        assert!(matches!(
            mem,
            Parsed::Run(Args {
                storage: Storage::Memory,
                ..
            })
        ));
        assert_eq!(p(&["--help"]), Ok(Parsed::Help));
    }

    #[test]
    fn errors_say_what_to_do() {
        assert!(p(&["--listen", "localhost:1", "--memory", "--limits", "x"])
            .unwrap_err()
            .contains("--listen"));
        assert!(p(&["--listen", "127.0.0.1:1", "--limits", "x"])
            .unwrap_err()
            .contains("--redis URL or --memory"));
        assert!(p(&[
            "--listen",
            "127.0.0.1:1",
            "--memory",
            "--redis",
            "redis://x",
            "--limits",
            "x"
        ])
        .unwrap_err()
        .contains("not both"));
        assert!(p(&[
            "--listen",
            "127.0.0.1:1",
            "--redis",
            "http://x",
            "--limits",
            "x"
        ])
        .unwrap_err()
        .contains("redis://"));
        assert!(p(&[
            "--listen",
            "127.0.0.1:1",
            "--redis",
            "rediss://x",
            "--limits",
            "x"
        ])
        .unwrap_err()
        .contains("TLS"));
        assert!(p(&["--bogus"]).unwrap_err().contains("unknown argument"));
        assert!(p(&["--limits"]).unwrap_err().contains("needs a value"));
    }
}
