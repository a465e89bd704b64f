//! The serf-style commands against three real agents on loopback: the
//! default control socket (`$XDG_RUNTIME_DIR/swim/PORT.sock`), `members`
//! filters and `--format json`, `join` at run time, `tags`, `event` with an
//! event handler, `monitor`, `info`, `force-leave` refusals, `leave`, and
//! `--metrics`. Children are killed on drop.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

mod common;
use common::{free_addrs, Lines};

const LIMIT: Duration = Duration::from_secs(30);

struct Cluster {
    dir: PathBuf,
    children: Vec<Child>,
    addrs: Vec<SocketAddr>,
    lines: Lines,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Cluster {
    /// Agent `i`'s own runtime directory (so its default socket is found).
    fn xdg(&self, i: usize) -> PathBuf {
        self.dir.join(format!("run{i}"))
    }

    fn spawn(&mut self, i: usize, extra: &[&str]) {
        let xdg = self.xdg(i);
        std::fs::create_dir_all(&xdg).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_swim"))
            .args(["agent", "--profile", "local", "--bind"])
            .arg(self.addrs[i].to_string())
            .args(["--meta", &format!("index={i}"), "--meta", "role=test"])
            .args(extra)
            .env("XDG_RUNTIME_DIR", &xdg)
            .env_remove("SWIM_CONTROL")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::clone(&self.lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let v: Value = serde_json::from_str(&line).expect("JSON line");
                let (lock, cvar) = &*lines;
                lock.lock().unwrap()[i].push(v);
                cvar.notify_all();
            }
        });
        self.children.push(child);
        let sock = xdg
            .join("swim")
            .join(format!("{}.sock", self.addrs[i].port()));
        wait_until("the default control socket", || sock.exists());
    }

    /// `swim ARGS` against agent `i` through its default socket.
    fn swim(&self, i: usize, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_swim"))
            .args(args)
            .env("XDG_RUNTIME_DIR", self.xdg(i))
            .env_remove("SWIM_CONTROL")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn ok(&self, i: usize, args: &[&str]) -> String {
        let out = self.swim(i, args);
        assert!(
            out.status.success(),
            "swim {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, i: usize, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.extend(["--format", "json"]);
        serde_json::from_str(&self.ok(i, &a)).unwrap()
    }

    fn wait_lines(&self, what: &str, cond: impl Fn(&[Vec<Value>]) -> bool) {
        common::wait_lines(&self.lines, LIMIT, what, cond);
    }
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + LIMIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn has(out: &[Vec<Value>], i: usize, event: &str, member: SocketAddr) -> bool {
    let m = member.to_string();
    out[i]
        .iter()
        .any(|v| v["event"] == event && v["member"].as_str() == Some(m.as_str()))
}

fn scrape(addr: SocketAddr) -> String {
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(LIMIT)).unwrap();
    write!(conn, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut body = String::new();
    conn.read_to_string(&mut body).unwrap();
    body
}

fn read_file(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

#[test]
fn serf_commands_on_three_agents() {
    let dir = std::env::temp_dir().join(format!("swim-serf-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut c = Cluster {
        dir: dir.clone(),
        children: Vec::new(),
        addrs: free_addrs([127, 0, 0, 1], 3),
        lines: Arc::new((Mutex::new(vec![Vec::new(); 3]), Condvar::new())),
    };
    let metrics = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let handled = dir.join("handled.txt");
    let handler = format!(
        "printf '%s %s %s ' \"$SWIM_EVENT\" \"$SWIM_USER_EVENT\" \"$SWIM_MEMBER\" >> {p}; cat >> {p}; echo >> {p}",
        p = handled.display()
    );
    let seed = c.addrs[0].to_string();
    c.spawn(0, &["--metrics", &metrics.to_string()]);
    c.spawn(1, &["--join", &seed, "--event-handler", &handler]);
    // Agent 2 starts alone and joins at run time.
    c.spawn(2, &[]);
    let out = c.ok(2, &["join", &seed]);
    assert!(out.contains("joining through 1 seed"), "{out}");
    let addrs = c.addrs.clone();
    c.wait_lines("everyone joined", |out| {
        (0..3).all(|i| {
            (0..3)
                .filter(|&j| j != i)
                .all(|j| has(out, i, "joined", addrs[j]))
        })
    });

    // members: aligned columns, the local row marked, filters.
    let table = c.ok(0, &["members"]);
    let rows: Vec<&str> = table.lines().collect();
    assert_eq!(rows.len(), 4, "{table}");
    assert!(
        rows[1].starts_with(&addrs[0].to_string()) && rows[1].ends_with("(local)"),
        "{table}"
    );
    let state_col = rows[0].find("STATE").unwrap();
    assert!(
        rows.iter()
            .skip(1)
            .all(|r| r.get(state_col..state_col + 5) == Some("alive")),
        "{table}"
    );
    let one = c.json(0, &["members", "--tag", "index=1"]);
    let list = one["members"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{one}");
    assert_eq!(list[0]["addr"], addrs[1].to_string());
    assert_eq!(list[0]["local"], false);
    let none = c.json(0, &["members", "--status", "failed"]);
    assert!(none["members"].as_array().unwrap().is_empty(), "{none}");

    // monitor on agent 1 streams what happens next.
    let mut monitor = Command::new(env!("CARGO_BIN_EXE_swim"))
        .args(["monitor", "--format", "json"])
        .env("XDG_RUNTIME_DIR", c.xdg(1))
        .env_remove("SWIM_CONTROL")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let monitored = Arc::new(Mutex::new(Vec::<String>::new()));
    {
        let stdout = monitor.stdout.take().unwrap();
        let m = Arc::clone(&monitored);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                m.lock().unwrap().push(line);
            }
        });
    }
    std::thread::sleep(Duration::from_millis(300));

    // tags: agent 2 changes its metadata; agent 0 sees it.
    let out = c.ok(2, &["tags", "--set", "role=web", "--delete", "index"]);
    assert_eq!(out.trim(), "role=web");
    c.wait_lines("agent 0 to see agent 2's new tags", |out| {
        out[0].iter().any(|v| {
            v["event"] == "updated"
                && v["member"].as_str() == Some(addrs[2].to_string().as_str())
                && v["meta"]["role"] == "web"
        })
    });
    let web = c.json(0, &["members", "--tag", "role=web"]);
    assert_eq!(web["members"].as_array().unwrap().len(), 1, "{web}");

    // event: agent 0 sends, agents 1 and 2 print it, agent 1's handler runs.
    c.ok(0, &["event", "deploy", "v2"]);
    c.wait_lines("agents 1 and 2 to print the user event", |out| {
        (1..3).all(|i| {
            out[i]
                .iter()
                .any(|v| v["event"] == "user" && v["name"] == "deploy" && v["payload"] == "v2")
        })
    });
    wait_until("the event handler", || {
        read_file(&handled).contains(&format!("user deploy {} v2", addrs[0]))
    });
    // Membership events run the handler too (metadata on stdin).
    assert!(
        read_file(&handled).contains(&format!("joined  {}", addrs[0])),
        "{}",
        read_file(&handled)
    );

    wait_until("monitor to show the update and the event", || {
        let m = monitored.lock().unwrap();
        m.iter().any(|l| l.contains("\"updated\"")) && m.iter().any(|l| l.contains("\"user\""))
    });
    let _ = monitor.kill();
    let _ = monitor.wait();

    // info: text and JSON.
    let info = c.ok(1, &["info"]);
    assert!(
        info.contains("health:") && info.contains("encryption = off"),
        "{info}"
    );
    let info = c.json(1, &["info"]);
    assert_eq!(info["members"]["alive"], 2, "{info}");
    assert!(info["config"]["probe_interval_ms"].as_u64().unwrap() > 0);

    // metrics: OpenMetrics text with members by state.
    let body = scrape(metrics);
    assert!(body.starts_with("HTTP/1.1 200 OK"), "{body}");
    assert!(body.contains("swim_members{state=\"alive\"} 2"), "{body}");
    assert!(body.contains("swim_datagrams_received_total"), "{body}");
    assert!(body.trim_end().ends_with("# EOF"), "{body}");

    // force-leave refuses a live member and changes nothing.
    let out = c.swim(0, &["force-leave", &addrs[1].to_string()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not failed"));

    // leave: agent 2 leaves and exits 0; the others print left.
    assert_eq!(c.ok(2, &["leave"]).trim(), "left");
    let status = c.children[2].wait().unwrap();
    assert!(status.success());
    c.wait_lines("agents 0 and 1 to print left", |out| {
        (0..2).all(|i| has(out, i, "left", addrs[2]))
    });
    assert!(
        !c.xdg(2)
            .join("swim")
            .join(format!("{}.sock", addrs[2].port()))
            .exists(),
        "the agent removed its socket"
    );
}

#[test]
fn join_required_exits_non_zero_when_no_seed_answers() {
    let dir = std::env::temp_dir().join(format!("swim-joinreq-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let addrs = free_addrs([127, 0, 0, 1], 2);
    // addrs[1] is free: nobody answers there.
    let out = Command::new(env!("CARGO_BIN_EXE_swim"))
        .args([
            "agent",
            "--profile",
            "local",
            "--bind",
            &addrs[0].to_string(),
        ])
        .args([
            "--join",
            &addrs[1].to_string(),
            "--join-timeout",
            "500ms",
            "--join-required",
        ])
        .arg("--control")
        .arg(dir.join("a.sock"))
        .env("RUST_LOG", "off")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no seed answered within 500ms"), "{err}");
    assert!(!dir.join("a.sock").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
