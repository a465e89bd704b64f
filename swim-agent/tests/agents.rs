//! Eight `swim agent` processes on loopback: kill -9 one (all others print
//! `failed`), SIGSTOP another past its suspicion timeout then SIGCONT it (it
//! refutes: everyone ends up printing it alive again), SIGTERM a third (all
//! others print `left`, never `failed`). Children are killed on drop, so
//! nothing outlives the test even when an assertion fails.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

const AGENTS: usize = 8;
/// Generous bounds: debug builds of 8 processes on a small shared machine.
const LIMIT: Duration = Duration::from_secs(30);

mod common;
use common::Lines;

struct Agent {
    child: Child,
    control: PathBuf,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.control);
    }
}

impl Agent {
    fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {sig} failed");
    }

    fn members(&self) -> Value {
        let out = Command::new(env!("CARGO_BIN_EXE_swim"))
            .args(["members", "--json", "--control"])
            .arg(&self.control)
            .output()
            .expect("run swim members");
        assert!(
            out.status.success(),
            "swim members: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("members JSON")
    }
}

/// Distinct free UDP ports (held together while picking, so they differ).
fn free_ports(n: usize) -> Vec<u16> {
    common::free_addrs([127, 0, 0, 1], n)
        .iter()
        .map(SocketAddr::port)
        .collect()
}

fn spawn(i: usize, addr: SocketAddr, seed: Option<SocketAddr>, lines: &Lines) -> Agent {
    let control = std::env::temp_dir().join(format!("swim-agents-{}-{i}.sock", std::process::id()));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_swim"));
    cmd.args([
        "agent",
        "--profile",
        "local",
        "--bind",
        &addr.to_string(),
        "--control",
    ])
    .arg(&control)
    .args(["--meta", &format!("index={i}")])
    .env("RUST_LOG", "warn")
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    if let Some(seed) = seed {
        cmd.args(["--join", &seed.to_string()]);
    }
    let mut child = cmd.spawn().expect("spawn swim agent");
    let stdout = child.stdout.take().expect("stdout");
    let lines = Arc::clone(lines);
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let value: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("agent {i} printed a non-JSON line {line:?}: {e}"));
            let (lock, cvar) = &*lines;
            lock.lock().unwrap()[i].push(value);
            cvar.notify_all();
        }
    });
    Agent { child, control }
}

/// Waits until `cond` holds over everything printed so far.
fn wait_for(lines: &Lines, what: &str, cond: impl Fn(&[Vec<Value>]) -> bool) {
    common::wait_lines(lines, LIMIT, what, cond);
}

/// The events agent `i` printed about `member`, in order.
fn events_about(out: &[Vec<Value>], i: usize, member: SocketAddr) -> Vec<&str> {
    let m = member.to_string();
    out[i]
        .iter()
        .filter(|v| v["member"].as_str() == Some(m.as_str()))
        .filter_map(|v| v["event"].as_str())
        .collect()
}

fn state_at(agent: &Agent, member: SocketAddr) -> Option<String> {
    let table = agent.members();
    let m = member.to_string();
    table["members"]
        .as_array()?
        .iter()
        .find(|r| r["addr"].as_str() == Some(m.as_str()))
        .and_then(|r| r["state"].as_str().map(str::to_owned))
}

#[test]
fn eight_agents_crash_pause_and_leave() {
    let lines: Lines = Arc::new((Mutex::new(vec![Vec::new(); AGENTS]), Condvar::new()));
    let addrs: Vec<SocketAddr> = free_ports(AGENTS)
        .into_iter()
        .map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
        .collect();
    let mut agents: Vec<Agent> = Vec::new();
    for (i, addr) in addrs.iter().enumerate() {
        let seed = (i > 0).then_some(addrs[0]);
        agents.push(spawn(i, *addr, seed, &lines));
    }

    // 1. Everyone joins everyone (through agent 0).
    wait_for(
        &lines,
        "every agent to print joined for every other",
        |out| {
            (0..AGENTS).all(|i| {
                addrs
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .all(|(_, a)| events_about(out, i, *a).contains(&"joined"))
            })
        },
    );
    // Metadata travels with the join.
    {
        let out = lines.0.lock().unwrap();
        let joined = out[0]
            .iter()
            .find(|v| v["event"] == "joined" && v["member"] == addrs[3].to_string());
        assert_eq!(joined.expect("joined line")["meta"]["index"], "3");
    }

    // 2. kill -9 agent 7: every other prints failed.
    let (crashed, paused, leaver) = (7, 6, 5);
    agents[crashed].signal("-KILL");
    wait_for(
        &lines,
        "all others to print failed for the killed agent",
        |out| {
            (0..AGENTS)
                .filter(|i| *i != crashed)
                .all(|i| events_about(out, i, addrs[crashed]).contains(&"failed"))
        },
    );

    // 3. SIGSTOP agent 6 until every running agent declared it failed (its
    //    suspicion timed out everywhere), then SIGCONT: it refutes.
    let running: Vec<usize> = (0..AGENTS)
        .filter(|i| *i != crashed && *i != paused)
        .collect();
    agents[paused].signal("-STOP");
    wait_for(
        &lines,
        "all running agents to print failed for the paused agent",
        |out| {
            running
                .iter()
                .all(|i| events_about(out, *i, addrs[paused]).contains(&"failed"))
        },
    );
    agents[paused].signal("-CONT");
    wait_for(
        &lines,
        "all running agents to print the paused agent alive again",
        |out| {
            running.iter().all(|i| {
                let ev = events_about(out, *i, addrs[paused]);
                let failed_at = ev.iter().rposition(|e| *e == "failed").unwrap_or(0);
                ev[failed_at..].contains(&"alive")
            })
        },
    );
    // Nobody keeps it failed: every running agent's table shows it alive.
    let start = Instant::now();
    for i in &running {
        loop {
            let state = state_at(&agents[*i], addrs[paused]);
            if state.as_deref() == Some("alive") {
                break;
            }
            assert!(
                start.elapsed() < LIMIT,
                "agent {i} still holds the paused agent {state:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    // 4. SIGTERM agent 5: it leaves and exits 0; others print left, not failed.
    agents[leaver].signal("-TERM");
    let others: Vec<usize> = (0..AGENTS)
        .filter(|i| *i != crashed && *i != leaver)
        .collect();
    wait_for(
        &lines,
        "all others to print left for the terminated agent",
        |out| {
            others
                .iter()
                .all(|i| events_about(out, *i, addrs[leaver]).contains(&"left"))
        },
    );
    let deadline = Instant::now() + LIMIT;
    let status = loop {
        if let Some(status) = agents[leaver].child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the terminated agent did not exit"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "SIGTERM must exit 0, got {status}");
    {
        let out = lines.0.lock().unwrap();
        for i in &others {
            let ev = events_about(&out, *i, addrs[leaver]);
            assert!(
                !ev.contains(&"failed"),
                "agent {i} printed failed for a leaver: {ev:?}"
            );
        }
        // The live agents never declared each other failed for good.
        for i in &others {
            for j in &others {
                if i != j {
                    let ev = events_about(&out, *i, addrs[*j]);
                    let last = ev.iter().rev().find(|e| **e != "updated");
                    assert_ne!(
                        last,
                        Some(&"failed"),
                        "agent {i} ended with {j} failed: {ev:?}"
                    );
                }
            }
        }
    }
    // Everyone else leaves on SIGINT and exits 0; Drop kills whatever remains.
    for i in &others {
        agents[*i].signal("-INT");
    }
    let deadline = Instant::now() + LIMIT;
    for i in &others {
        let status = loop {
            if let Some(status) = agents[*i].child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "agent {i} did not exit on SIGINT"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(
            status.success(),
            "SIGINT must exit 0, agent {i} gave {status}"
        );
    }
}

#[test]
fn facilitator_members_table_and_leave_command() {
    let lines: Lines = Arc::new((Mutex::new(vec![Vec::new(); 3]), Condvar::new()));
    let addrs: Vec<SocketAddr> = free_ports(3)
        .into_iter()
        .map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
        .collect();
    let control =
        |i: usize| std::env::temp_dir().join(format!("swim-fac-{}-{i}.sock", std::process::id()));
    let mut agents = Vec::new();
    for (i, addr) in addrs.iter().enumerate() {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_swim"));
        cmd.args([
            "agent",
            "--profile",
            "local",
            "--bind",
            &addr.to_string(),
            "--control",
        ])
        .arg(control(i))
        .args(["--meta", "role=test", "--meta", &format!("index={i}")])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
        if i == 0 {
            cmd.arg("--facilitator");
        } else {
            // A host name seed, resolved through DNS.
            cmd.args(["--join", &format!("localhost:{}", addrs[0].port())]);
        }
        let mut child = cmd.spawn().expect("spawn swim agent");
        let stdout = child.stdout.take().expect("stdout");
        let lines = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let value: Value = serde_json::from_str(&line).expect("JSON line");
                let (lock, cvar) = &*lines;
                lock.lock().unwrap()[i].push(value);
                cvar.notify_all();
            }
        });
        agents.push(Agent {
            child,
            control: control(i),
        });
    }
    wait_for(&lines, "all three to know each other", |out| {
        (0..3).all(|i| {
            (0..3)
                .filter(|j| *j != i)
                .all(|j| events_about(out, i, addrs[j]).contains(&"joined"))
        })
    });

    // The table: a header, the local member first, then the others.
    let out = Command::new(env!("CARGO_BIN_EXE_swim"))
        .args(["members", "--control"])
        .arg(control(1))
        .output()
        .expect("swim members");
    assert!(out.status.success());
    let table = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<&str> = table.lines().collect();
    assert!(rows[0].starts_with("ADDRESS"), "{table}");
    assert!(rows[1].starts_with(&addrs[1].to_string()), "{table}");
    assert_eq!(rows.len(), 4, "{table}");
    assert!(
        rows.iter()
            .skip(1)
            .all(|r| r.contains(" alive ") && r.contains("role=test")),
        "{table}"
    );

    // `swim stats`: the counters as JSON.
    let out = Command::new(env!("CARGO_BIN_EXE_swim"))
        .args(["stats", "--control"])
        .arg(control(0))
        .output()
        .expect("swim stats");
    assert!(out.status.success());
    let stats: Value = serde_json::from_slice(&out.stdout).expect("stats JSON");
    assert!(
        stats["core"]["datagrams_received"].as_u64().unwrap() > 0,
        "{stats}"
    );
    assert_eq!(stats["io"]["send_errors"], 0, "{stats}");

    // `swim leave`: the agent leaves, exits 0, the others print left.
    let out = Command::new(env!("CARGO_BIN_EXE_swim"))
        .args(["leave", "--control"])
        .arg(control(2))
        .output()
        .expect("swim leave");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = agents[2].child.wait().unwrap();
    assert!(status.success());
    wait_for(&lines, "the others to print left", |out| {
        (0..2).all(|i| events_about(out, i, addrs[2]).contains(&"left"))
    });
}
