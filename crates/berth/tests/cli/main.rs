//! The `berth` binary, run as a user runs it.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

mod edge;
mod kv;
mod multivac;
mod rates;

/// Every service `berth serve` runs when none is named.
const SERVICES: [&str; 5] = ["clock", "users", "rates", "kv", "multivac"];

/// `berth` isolated from this machine: its data in `data_dir`, every service on a free
/// port of 127.0.0.1 (a test's own flags override), no store URL from the environment.
fn berth(data_dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(BERTH);
    cmd.env("BERTH_DATA_DIR", data_dir);
    for service in SERVICES {
        cmd.env(
            format!("BERTH_{}_ADDR", service.to_uppercase()),
            "127.0.0.1:0",
        );
    }
    for var in ["DATABASE_URL", "REDIS_URL", "BERTH_API_TOKENS"] {
        cmd.env_remove(var);
    }
    cmd
}

/// A `berth serve` child process and the address of each service it announced.
struct Serve {
    child: Child,
    addrs: Vec<(String, String)>,
    /// The data directory when this `Serve` owns it (removed on drop).
    _data_dir: Option<tempfile::TempDir>,
}

impl Serve {
    fn start(args: &[&str]) -> Self {
        let data_dir = tempfile::tempdir().unwrap();
        let path = data_dir.path().to_owned();
        Self::launch(&path, Some(data_dir), args)
    }

    /// Like [`Serve::start`], with the data in `data_dir` (which outlives the process).
    fn start_in(data_dir: &std::path::Path, args: &[&str]) -> Self {
        Self::launch(data_dir, None, args)
    }

    fn launch(data_dir: &std::path::Path, owned: Option<tempfile::TempDir>, args: &[&str]) -> Self {
        let mut child = berth(data_dir)
            .arg("serve")
            .args(args)
            .env("BERTH_LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn berth");
        // A thread reads stdout (and keeps draining it, so the child never blocks on a
        // full pipe); the lines come here with a deadline.
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut addrs = Vec::new();
        let named = args.iter().filter(|a| SERVICES.contains(a)).count();
        let expected = if named == 0 { SERVICES.len() } else { named };
        let deadline = Instant::now() + Duration::from_secs(60);
        while addrs.len() < expected {
            let line = rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|e| panic!("berth did not announce {expected} services: {e}"));
            let v: serde_json::Value = serde_json::from_str(&line).expect("JSON log line");
            if let (Some(service), Some(url)) = (v["service"].as_str(), v["url"].as_str())
                && v["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("listening"))
            {
                addrs.push((service.to_owned(), url.to_owned()));
            }
        }
        Self {
            child,
            addrs,
            _data_dir: owned,
        }
    }

    fn url(&self, service: &str) -> &str {
        &self.addrs.iter().find(|(s, _)| s == service).unwrap().1
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }

    fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                start.elapsed() < within,
                "berth did not exit within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn healthcheck(url: &str) -> std::process::Output {
    Command::new(BERTH)
        .args(["healthcheck", "--timeout", "2s", url])
        .output()
        .unwrap()
}

#[test]
fn serve_answers_and_healthcheck_command_agrees() {
    let serve = Serve::start(&["clock", "--clock-addr", "127.0.0.1:0"]);
    let url = serve.url("clock").to_owned();
    let out = healthcheck(&format!("{url}/healthcheck"));
    assert!(out.status.success(), "{out:?}");
    let out = healthcheck(&format!("{url}/clock?mirror_time=2:11"));
    assert!(out.status.success());
    let out = healthcheck(&format!("{url}/clock"));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("400"), "{stderr}");
}

#[test]
fn healthcheck_fails_with_a_reason_when_nothing_listens() {
    // Bind and drop to find a port nobody listens on.
    let port = testkit::free_port();
    let out = healthcheck(&format!("http://127.0.0.1:{port}/healthcheck"));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("request failed"), "{stderr}");
    let out = healthcheck("not a url");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn sigterm_and_sigint_stop_it_cleanly_with_exit_0() {
    for sig in ["TERM", "INT"] {
        let mut serve = Serve::start(&["clock", "--clock-addr", "127.0.0.1:0"]);
        serve.signal(sig);
        let status = serve.wait_exit(Duration::from_secs(10));
        assert_eq!(status.code(), Some(0), "after SIG{sig}");
    }
}

#[test]
fn serve_with_no_names_runs_every_service() {
    let serve = Serve::start(&[]);
    let mut names: Vec<&str> = serve.addrs.iter().map(|(s, _)| s.as_str()).collect();
    names.sort_unstable();
    let mut all = SERVICES.to_vec();
    all.sort_unstable();
    assert_eq!(names, all);
    for (service, url) in &serve.addrs {
        let out = healthcheck(&format!("{url}/healthcheck"));
        assert!(out.status.success(), "{service}: {out:?}");
    }
    // The embedded defaults answer with data: rates seeded itself, users has demo users.
    let out = healthcheck(&format!("{}/user/1", serve.url("users")));
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn an_address_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(BERTH)
        .args(["serve", "clock", "--clock-addr", &addr])
        .env("BERTH_LOG_FORMAT", "text")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot listen on") && stderr.contains(&addr),
        "{stderr}"
    );
}

#[test]
fn every_flag_documents_its_env_var_and_default() {
    let help = |args: &[&str]| {
        let out = Command::new(BERTH)
            .args(args)
            .arg("--help")
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let serve = help(&["serve"]);
    for (flag, env) in [
        ("--clock-addr", "BERTH_CLOCK_ADDR"),
        ("--users-addr", "BERTH_USERS_ADDR"),
        ("--rates-addr", "BERTH_RATES_ADDR"),
        ("--kv-addr", "BERTH_KV_ADDR"),
        ("--multivac-addr", "BERTH_MULTIVAC_ADDR"),
        ("--request-timeout", "BERTH_REQUEST_TIMEOUT"),
        ("--body-limit", "BERTH_BODY_LIMIT"),
        ("--drain-timeout", "BERTH_DRAIN_TIMEOUT"),
        ("--health-timeout", "BERTH_HEALTH_TIMEOUT"),
        ("--log-level", "RUST_LOG"),
        ("--log-format", "BERTH_LOG_FORMAT"),
        ("--data-dir", "BERTH_DATA_DIR"),
        ("--database-url", "DATABASE_URL"),
        ("--redis-url", "REDIS_URL"),
        ("--api-tokens", "BERTH_API_TOKENS"),
        ("--api-tokens-file", "BERTH_API_TOKENS_FILE"),
    ] {
        assert!(serve.contains(flag), "{flag} missing");
        assert!(serve.contains(&format!("[env: {env}")), "{env} missing");
    }
    // Every option block (from one `--flag` line to the next) names an env var, and a
    // default unless the setting is optional (a URL, a token, a file).
    let mut blocks: Vec<String> = Vec::new();
    for line in serve.lines() {
        if line.trim_start().starts_with("--")
            || line.trim_start().starts_with("-h,")
            || line.trim_start().starts_with("-V,")
        {
            blocks.push(String::new());
        }
        if let Some(block) = blocks.last_mut() {
            block.push_str(line);
            block.push('\n');
        }
    }
    assert!(blocks.len() >= 7, "{serve}");
    for block in blocks {
        if block.contains("--help") || block.contains("--version") {
            continue;
        }
        assert!(block.contains("[env: "), "{block}");
        let first = block.lines().next().unwrap();
        let optional = ["-url ", "-file ", "--api-tokens ", " <FILE>"]
            .iter()
            .any(|o| first.contains(o));
        assert!(optional || block.contains("[default: "), "{block}");
    }
    // `.env.example` lists every variable `serve` reads.
    let example = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.env.example"),
    )
    .unwrap();
    let mut named = 0;
    for (i, _) in serve.match_indices("[env: ") {
        let name: String = serve[i + 6..]
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        assert!(example.contains(&name), "{name} is not in .env.example");
        named += 1;
    }
    assert!(named >= 30, "{named} variables in `serve --help`");
    let hc = help(&["healthcheck"]);
    assert!(hc.contains("BERTH_HEALTHCHECK_TIMEOUT"));
    let top = help(&[]);
    assert!(top.contains("serve") && top.contains("healthcheck"));
}

/// Starts `command`, reads the first line it prints, and kills it.
fn first_line(command: &mut Command) -> String {
    let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.next().unwrap().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    line
}

#[test]
fn env_vars_configure_the_service() {
    let port = testkit::free_port();
    let mut command = Command::new(BERTH);
    command
        .args(["serve", "clock"])
        .env("BERTH_CLOCK_ADDR", format!("127.0.0.1:{port}"))
        .env("BERTH_LOG_FORMAT", "json");
    let line = first_line(&mut command);
    assert!(line.contains(&format!("127.0.0.1:{port}")), "{line}");
}

#[test]
fn a_bad_flag_value_is_a_usage_error() {
    let out = Command::new(BERTH)
        .args(["serve", "clock", "--request-timeout", "soon"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("request-timeout"));
    let out = Command::new(BERTH)
        .args(["serve", "nosuchservice"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn no_subcommand_means_serve() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut child = berth(data_dir.path())
        .env("BERTH_LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let found = lines
        .by_ref()
        .take(100)
        .map_while(Result::ok)
        .any(|l| l.contains("listening") && l.contains("clock"));
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        found,
        "berth without a subcommand did not start the services"
    );
}

#[test]
fn a_dot_env_file_in_the_working_directory_is_read() {
    let dir = std::env::temp_dir().join(format!("berth-dotenv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = testkit::free_port();
    std::fs::write(
        dir.join(".env"),
        format!("# a comment\nBERTH_CLOCK_ADDR=127.0.0.1:{port}\nBERTH_LOG_FORMAT=json\n"),
    )
    .unwrap();
    let mut command = Command::new(BERTH);
    command
        .args(["serve", "clock"])
        .current_dir(&dir)
        .env_remove("BERTH_CLOCK_ADDR")
        .env_remove("BERTH_LOG_FORMAT");
    let line = first_line(&mut command);
    let _ = std::fs::remove_dir_all(&dir);
    let v: serde_json::Value = serde_json::from_str(&line).expect("JSON, as .env asked");
    assert_eq!(v["addr"], format!("127.0.0.1:{port}"), "{line}");
}
