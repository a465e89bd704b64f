//! `swim agent` with `--key-file`, `--label` and `--allow`, on loopback:
//! agents with different keys (or labels) never merge and count each
//! other's datagrams as `envelope_rejected`; agents sharing key and label
//! merge; a key rotation add → use → remove across three agents through the
//! control socket prints no `failed`; bad key files fail at once with a
//! clear message; `--allow` keeps a peer out. Children are killed on drop.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Generous bounds: debug builds on a small shared machine.
const LIMIT: Duration = Duration::from_secs(30);
/// How long "never merges" is watched: ~10 protocol periods of `local`.
const APART: Duration = Duration::from_secs(2);

/// Two fixed test keys, one written as hex and one as base64 (the same
/// bytes either way would do; these differ).
const KEY1_HEX: &str = "5f1c0e6a9b2d4c7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9012345678abcd";
const KEY2_B64: &str = "q83vASNFZ4mrze8BI0VniavN7wEjRWeJq83vASNFZ4k=";

mod common;
use common::{free_addrs, Lines};

/// Files and agents of one test; everything is removed / killed on drop.
struct Scratch {
    dir: PathBuf,
    agents: Vec<Agent>,
    lines: Lines,
}

struct Agent {
    child: Child,
    addr: SocketAddr,
    control: PathBuf,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        self.agents.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("swim-agentsec-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch {
            dir,
            agents: Vec::new(),
            lines: Arc::new((Mutex::new(Vec::new()), Condvar::new())),
        }
    }

    /// Writes `text` to a 0600 file in the scratch directory.
    fn file(&self, name: &str, text: &[u8]) -> PathBuf {
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.dir.join(name);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .unwrap();
        f.write_all(text).unwrap();
        path
    }

    /// Starts agent number `self.agents.len()` bound to `addr` with extra
    /// arguments; returns its index.
    fn spawn(&mut self, addr: SocketAddr, extra: &[&str]) -> usize {
        let i = self.agents.len();
        let control = self.dir.join(format!("{i}.sock"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_swim"))
            .args(["agent", "--profile", "local", "--bind", &addr.to_string()])
            .arg("--control")
            .arg(&control)
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn swim agent");
        let stdout = child.stdout.take().expect("stdout");
        self.lines.0.lock().unwrap().push(Vec::new());
        let lines = Arc::clone(&self.lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let value: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("agent {i} printed a non-JSON line {line:?}: {e}"));
                let (lock, cvar) = &*lines;
                lock.lock().unwrap()[i].push(value);
                cvar.notify_all();
            }
        });
        self.agents.push(Agent {
            child,
            addr,
            control,
        });
        // The control socket exists once the agent is up.
        wait_until(&format!("agent {i}'s control socket"), || {
            UnixStream::connect(&self.agents[i].control).is_ok()
        });
        i
    }

    /// Waits until `cond` holds over everything printed so far.
    fn wait_lines(&self, what: &str, cond: impl Fn(&[Vec<Value>]) -> bool) {
        common::wait_lines(&self.lines, LIMIT, what, cond);
    }

    fn printed(&self) -> Vec<Vec<Value>> {
        self.lines.0.lock().unwrap().clone()
    }

    /// Events agent `i` printed about agent `j`.
    fn events_about(&self, i: usize, j: usize) -> Vec<String> {
        let m = self.agents[j].addr.to_string();
        self.printed()[i]
            .iter()
            .filter(|v| v["member"].as_str() == Some(m.as_str()))
            .filter_map(|v| v["event"].as_str().map(str::to_owned))
            .collect()
    }

    fn joined(&self, i: usize, j: usize) -> bool {
        self.events_about(i, j).iter().any(|e| e == "joined")
    }

    /// Runs `swim ARGS --control <agent i's socket>` and returns its output.
    fn swim(&self, i: usize, args: &[&str]) -> Output {
        run_bounded(
            Command::new(env!("CARGO_BIN_EXE_swim"))
                .args(args)
                .arg("--control")
                .arg(&self.agents[i].control),
        )
    }

    /// `swim stats` of agent `i`, field `core.<name>`.
    fn stat(&self, i: usize, name: &str) -> u64 {
        let out = self.swim(i, &["stats"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let v: Value = serde_json::from_slice(&out.stdout).expect("stats JSON");
        v["core"][name].as_u64().expect("counter")
    }

    /// One raw request on agent `i`'s control socket.
    fn control(&self, i: usize, req: &Value) -> Value {
        let mut conn = UnixStream::connect(&self.agents[i].control).expect("control socket");
        conn.set_read_timeout(Some(LIMIT)).unwrap();
        writeln!(conn, "{req}").unwrap();
        let mut line = String::new();
        BufReader::new(conn).read_line(&mut line).unwrap();
        serde_json::from_str(&line).expect("control JSON")
    }

    fn members(&self, i: usize) -> Vec<String> {
        let v = self.control(i, &json!({ "cmd": "members" }));
        v["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["addr"].as_str().unwrap().to_owned())
            .collect()
    }

    fn key_ids(&self, i: usize) -> Vec<String> {
        let v = self.control(i, &json!({ "cmd": "keys" }));
        v["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap().to_owned())
            .collect()
    }
}

/// Runs a command that must end by itself; killed (and the test failed)
/// after `LIMIT`.
fn run_bounded(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn swim");
    let deadline = Instant::now() + LIMIT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not exit within {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + LIMIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn different_keys_never_merge() {
    let mut s = Scratch::new("diffkeys");
    let k1 = s.file("k1", KEY1_HEX.as_bytes());
    let k2 = s.file("k2", format!("{KEY2_B64}\n").as_bytes());
    let addrs = free_addrs([127, 0, 0, 1], 2);
    // Each joins the other, so both keep retrying and both hear garbage.
    let a = s.spawn(
        addrs[0],
        &["--key-file", path_str(&k1), "--join", &addrs[1].to_string()],
    );
    let b = s.spawn(
        addrs[1],
        &["--key-file", path_str(&k2), "--join", &addrs[0].to_string()],
    );
    wait_until("both agents to reject the other's datagrams", || {
        s.stat(a, "envelope_rejected") > 0 && s.stat(b, "envelope_rejected") > 0
    });
    std::thread::sleep(APART);
    // Each only ever sees itself.
    for i in [a, b] {
        assert!(s.members(i).is_empty(), "agent {i}: {:?}", s.members(i));
        assert!(s.printed()[i].is_empty(), "agent {i}: {:?}", s.printed()[i]);
        assert_eq!(s.stat(i, "decode_errors"), 0);
    }
}

#[test]
fn same_key_and_label_merge_another_label_does_not() {
    let mut s = Scratch::new("samekey");
    let k1 = s.file("k1", format!("{KEY1_HEX}\n").as_bytes());
    let addrs = free_addrs([127, 0, 0, 1], 3);
    let seed = addrs[0].to_string();
    let key = ["--key-file", path_str(&k1)];
    let a = s.spawn(addrs[0], &[&key[..], &["--label", "blue"]].concat());
    let b = s.spawn(
        addrs[1],
        &[&key[..], &["--label", "blue", "--join", &seed]].concat(),
    );
    // Same key, another label: its datagrams do not authenticate.
    let c = s.spawn(
        addrs[2],
        &[&key[..], &["--label", "green", "--join", &seed]].concat(),
    );
    s.wait_lines("a and b to print joined for each other", |out| {
        joined_in(out, a, addrs[1]) && joined_in(out, b, addrs[0])
    });
    wait_until("a to reject the green agent's joins", || {
        s.stat(a, "envelope_rejected") > 0
    });
    std::thread::sleep(APART);
    assert!(s.printed()[c].is_empty(), "{:?}", s.printed()[c]);
    assert!(s.events_about(a, c).is_empty() && s.events_about(b, c).is_empty());
    assert_eq!(s.members(a), vec![addrs[1].to_string()]);
    let keys = s.control(a, &json!({ "cmd": "keys" }));
    assert_eq!(keys["label"], "blue", "{keys}");
    assert_eq!(keys["keys"].as_array().unwrap().len(), 1, "{keys}");
}

/// Whether agent `i` printed `joined` for `member` in `out`.
fn joined_in(out: &[Vec<Value>], i: usize, member: SocketAddr) -> bool {
    let m = member.to_string();
    out[i]
        .iter()
        .any(|v| v["event"] == "joined" && v["member"] == m.as_str())
}

#[test]
fn rotation_across_three_agents_prints_no_failure() {
    let mut s = Scratch::new("rotate");
    let old = s.file("old", format!("{KEY1_HEX}\n").as_bytes());
    let new = s.file("new", format!("{KEY2_B64}\n").as_bytes());
    let addrs = free_addrs([127, 0, 0, 1], 4);
    let seed = addrs[0].to_string();
    let old_flag = ["--key-file", path_str(&old), "--label", "rot"];
    for (i, addr) in addrs.iter().take(3).enumerate() {
        let join: &[&str] = if i == 0 { &[] } else { &["--join", &seed] };
        s.spawn(*addr, &[&old_flag[..], join].concat());
    }
    let all = [0, 1, 2];
    s.wait_lines("three agents to know each other", |out| {
        all.iter().all(|&i| {
            all.iter()
                .filter(|&&j| j != i)
                .all(|&j| joined_in(out, i, addrs[j]))
        })
    });
    let old_id = s.key_ids(0)[0].clone();

    // 1. add the new key everywhere: the CLI on agent 0, raw requests on 1, 2.
    let out = s.swim(0, &["keys", "add", "--key-file", path_str(&new)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let new_id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(new_id.len(), 8, "{new_id:?}");
    for i in [1, 2] {
        let v = s.control(i, &json!({ "cmd": "key-add", "key": KEY2_B64 }));
        assert_eq!(v["id"], new_id.as_str(), "{v}");
    }
    for i in all {
        assert_eq!(s.key_ids(i), vec![old_id.clone(), new_id.clone()]);
    }
    std::thread::sleep(Duration::from_secs(1));

    // 2. use it everywhere.
    for i in all {
        let out = s.swim(i, &["keys", "use", &new_id]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let out = s.swim(1, &["keys", "list"]);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("{new_id} primary\n{old_id}\n")
    );
    std::thread::sleep(Duration::from_secs(1));

    // 3. remove the old key everywhere (agent 2 through the raw request).
    for i in [0, 1] {
        let out = s.swim(i, &["keys", "remove", &old_id]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let v = s.control(2, &json!({ "cmd": "key-remove", "id": old_id }));
    assert_eq!(v["ok"], true, "{v}");
    // The primary cannot be removed; an unknown id is refused.
    let v = s.control(2, &json!({ "cmd": "key-remove", "id": new_id }));
    assert!(v["error"].as_str().unwrap().contains("primary"), "{v}");
    let out = s.swim(2, &["keys", "use", "0badc0de"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no key with id 0badc0de"),
        "{}",
        stderr(&out)
    );
    std::thread::sleep(Duration::from_secs(1));

    for i in all {
        assert_eq!(s.key_ids(i), vec![new_id.clone()]);
        assert_eq!(s.stat(i, "envelope_rejected"), 0, "agent {i}");
        assert_eq!(s.members(i).len(), 2, "agent {i}");
    }
    let printed = s.printed();
    for (i, lines) in printed.iter().enumerate() {
        let failed: Vec<&Value> = lines.iter().filter(|v| v["event"] == "failed").collect();
        assert!(failed.is_empty(), "agent {i} printed failed: {failed:?}");
    }

    // A late agent with only the old key cannot get in.
    let stale = s.spawn(addrs[3], &[&old_flag[..], &["--join", &seed]].concat());
    wait_until("agent 0 to reject the stale agent", || {
        s.stat(0, "envelope_rejected") > 0
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(s.printed()[stale].is_empty(), "{:?}", s.printed()[stale]);
}

#[test]
fn bad_key_files_and_flags_fail_clearly() {
    let s = Scratch::new("badkeys");
    let short = s.file("short", b"00112233445566778899aabbccddeeff\n");
    let short_b64 = s.file("short_b64", b"ABEiM0RVZneImaq7zN3u/w==\n");
    let junk = s.file("junk", b"this is not a key\n");
    let zero = s.file("zero", "0".repeat(64).as_bytes());
    let empty = s.file("empty", b"\n");
    let raw = s.file("raw", &[0xff; 32]);
    let good = s.file("good", KEY1_HEX.as_bytes());
    let missing = s.dir.join("missing");
    let p = |f: &Path| f.to_str().unwrap().to_owned();
    let bind = free_addrs([127, 0, 0, 1], 1)[0].to_string();
    let cases: Vec<(Vec<String>, Vec<String>)> = vec![
        (
            vec!["--key-file".into(), p(&missing)],
            vec![p(&missing), "cannot read".into()],
        ),
        (
            vec!["--key-file".into(), p(&short)],
            vec![
                p(&short),
                "key is 32 hex digits; expected exactly 64".into(),
            ],
        ),
        (
            vec!["--key-file".into(), p(&short_b64)],
            vec![p(&short_b64), "key is 16 bytes; expected exactly 32".into()],
        ),
        (
            vec!["--key-file".into(), p(&junk)],
            vec![p(&junk), "neither 64 hex digits nor standard base64".into()],
        ),
        (
            vec!["--key-file".into(), p(&zero)],
            vec![p(&zero), "all zeros".into()],
        ),
        (
            vec!["--key-file".into(), p(&empty)],
            vec![p(&empty), "key is empty".into()],
        ),
        (
            vec!["--key-file".into(), p(&raw)],
            vec![p(&raw), "not text".into()],
        ),
        // The second file is bad: the first being good does not help.
        (
            vec!["--key-file".into(), p(&good), "--key-file".into(), p(&junk)],
            vec![p(&junk)],
        ),
        (
            vec!["--allow".into(), "10.0.0.1/8".into()],
            vec!["did you mean 10.0.0.0/8".into()],
        ),
        (
            vec!["--allow".into(), "example.com".into()],
            vec!["--allow".into(), "not an IPv4 or IPv6 address".into()],
        ),
        (
            vec!["--label".into(), String::new()],
            vec!["--label".into(), "empty".into()],
        ),
        (
            vec!["--key-file".into(), p(&good), "--send-plaintext".into()],
            vec!["requires --accept-plaintext".into()],
        ),
        (
            vec!["--accept-plaintext".into()],
            vec!["only apply with --label or --key-file".into()],
        ),
    ];
    for (args, wanted) in cases {
        let out = run_bounded(
            Command::new(env!("CARGO_BIN_EXE_swim"))
                .args(["agent", "--profile", "local", "--bind", &bind])
                .args(&args)
                .env("RUST_LOG", "warn"),
        );
        let err = stderr(&out);
        assert!(!out.status.success(), "{args:?} must fail; stderr: {err}");
        for w in &wanted {
            assert!(err.contains(w.as_str()), "{args:?}: {w:?} not in {err:?}");
        }
    }
    // `swim keys add` checks the file before reaching any agent.
    let out = run_bounded(
        Command::new(env!("CARGO_BIN_EXE_swim"))
            .args(["keys", "add", "--control"])
            .arg(s.dir.join("nobody.sock"))
            .arg("--key-file")
            .arg(&short),
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("32 hex digits"), "{}", stderr(&out));
    let out = run_bounded(
        Command::new(env!("CARGO_BIN_EXE_swim"))
            .args(["keys", "use", "--control"])
            .arg(s.dir.join("nobody.sock"))
            .arg("xyz"),
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("8 hex digits"), "{}", stderr(&out));
}

#[test]
fn allow_list_keeps_a_peer_out() {
    let mut s = Scratch::new("allow");
    let addrs = free_addrs([127, 0, 0, 1], 2);
    // 127.0.0.2 is loopback too (Linux routes all of 127/8 to lo).
    let outsider_addr = free_addrs([127, 0, 0, 2], 1)[0];
    let seed = addrs[0].to_string();
    let a = s.spawn(
        addrs[0],
        &["--allow", "127.0.0.1/32", "--allow", "fd00::/8"],
    );
    let b = s.spawn(addrs[1], &["--join", &seed]);
    let c = s.spawn(outsider_addr, &["--join", &seed]);
    s.wait_lines("a and b to merge", |out| {
        joined_in(out, a, addrs[1]) && joined_in(out, b, addrs[0])
    });
    wait_until("a to refuse the outsider", || s.stat(a, "not_allowed") > 0);
    std::thread::sleep(APART);
    assert!(s.printed()[c].is_empty(), "{:?}", s.printed()[c]);
    assert!(!s.joined(a, c) && !s.joined(b, c));
    assert_eq!(s.members(a), vec![addrs[1].to_string()]);
}
