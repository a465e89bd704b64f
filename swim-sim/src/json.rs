//! `--json` output: a tiny hand-written JSON writer (no serde needed for one
//! flat object).

use crate::Report;
use std::fmt::{self, Write};

/// A JSON value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(u64),
    /// A float (non-finite values print as `null`).
    Num(f64),
    /// A string.
    Str(String),
    /// An array.
    Arr(Vec<Value>),
    /// An object, keys in the given order.
    Obj(Vec<(&'static str, Value)>),
}

impl From<Option<f64>> for Value {
    fn from(v: Option<f64>) -> Self {
        v.map_or(Value::Null, Value::Num)
    }
}

fn escape(s: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            c if (c as u32) < 0x20 => write!(f, "\\u{:04x}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Num(x) if x.is_finite() => {
                let r = (x * 1e6).round() / 1e6;
                if r.fract() == 0.0 && r.abs() < 1e15 {
                    write!(f, "{r:.1}")
                } else {
                    write!(f, "{r}")
                }
            }
            Value::Num(_) => f.write_str("null"),
            Value::Str(s) => escape(s, f),
            Value::Arr(items) => {
                f.write_char('[')?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_char(']')
            }
            Value::Obj(fields) => {
                f.write_char('{')?;
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    escape(k, f)?;
                    write!(f, ":{v}")?;
                }
                f.write_char('}')
            }
        }
    }
}

/// The report as one JSON object (the `--json` keys).
pub fn report(r: &Report) -> Value {
    use Value::*;
    let d = &r.detection;
    let crashes = d
        .crashes
        .iter()
        .map(|c| {
            Obj(vec![
                ("node", Int(u64::from(c.node))),
                ("at_s", Num(c.at_s)),
                ("first_suspect_s", c.first_suspect_s.into()),
                ("first_failed_s", c.first_failed_s.into()),
                ("all_failed_s", c.all_failed_s.into()),
            ])
        })
        .collect();
    Obj(vec![
        ("nodes", Int(r.nodes as u64)),
        ("seed", Int(r.seed)),
        ("sim_seconds", Num(r.sim_seconds)),
        ("wall_seconds", Num(r.wall_seconds)),
        ("period_s", Num(r.period_s)),
        (
            "detection",
            Obj(vec![
                ("crashed", Int(d.crashed as u64)),
                ("first_suspect_median_s", d.first_suspect_median_s.into()),
                ("first_failed_median_s", d.first_failed_median_s.into()),
                ("all_failed_median_s", d.all_failed_median_s.into()),
                ("all_failed_max_s", d.all_failed_max_s.into()),
                ("undetected", Int(d.undetected as u64)),
                ("crashes", Arr(crashes)),
            ]),
        ),
        (
            "false_positives",
            Obj(vec![
                (
                    "failed_events_about_live",
                    Int(r.false_positives.failed_events_about_live),
                ),
                (
                    "distinct_live_declared_failed",
                    Int(r.false_positives.distinct_live_declared_failed as u64),
                ),
                (
                    "left_events_about_running",
                    Int(r.false_positives.left_events_about_running),
                ),
                (
                    "failed_events_about_leavers",
                    Int(r.false_positives.failed_events_about_leavers),
                ),
            ]),
        ),
        (
            "load",
            Obj(vec![
                (
                    "datagrams_per_member_per_period",
                    Num(r.load.datagrams_per_member_per_period),
                ),
                (
                    "bytes_per_member_per_period",
                    Num(r.load.bytes_per_member_per_period),
                ),
                ("max_datagram_bytes", Int(r.load.max_datagram_bytes as u64)),
                (
                    "window_s",
                    Arr(vec![Num(r.load.window_s.0), Num(r.load.window_s.1)]),
                ),
                ("window_has_faults", Bool(r.load.window_has_faults)),
                ("datagrams_total", Int(r.load.datagrams_total)),
                ("lost", Int(r.load.lost)),
                ("blocked", Int(r.load.blocked)),
            ]),
        ),
        (
            "dissemination",
            Obj(vec![(
                "rounds_to_99_9_percent",
                r.dissemination_rounds.into(),
            )]),
        ),
        (
            "convergence",
            Obj(vec![
                ("converged", Bool(r.convergence.converged)),
                ("converged_at_end", Bool(r.convergence.converged_at_end)),
                (
                    "seconds_after_heal",
                    r.convergence.seconds_after_heal.into(),
                ),
                ("first_converged_s", r.convergence.first_converged_s.into()),
            ]),
        ),
        (
            "invariants",
            Obj(vec![
                ("violations", Int(r.violations)),
                (
                    "first",
                    Arr(r
                        .violation_list
                        .iter()
                        .take(20)
                        .map(|v| Str(v.to_string()))
                        .collect()),
                ),
            ]),
        ),
        ("suspicions", Int(r.suspicions)),
        ("refutations", Int(r.refutations)),
        ("events", Int(r.events)),
        ("trace_hash", Str(format!("{:016x}", r.trace_hash))),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_valid_json_shapes() {
        let v = Value::Obj(vec![
            ("a", Value::Int(1)),
            ("b", Value::Num(2.5)),
            ("c", Value::Num(3.0)),
            ("d", Value::Null),
            ("e", Value::Str("x\"y\n".into())),
            (
                "f",
                Value::Arr(vec![Value::Bool(true), Value::Num(f64::NAN)]),
            ),
        ]);
        assert_eq!(
            v.to_string(),
            r#"{"a":1,"b":2.5,"c":3.0,"d":null,"e":"x\"y\n","f":[true,null]}"#
        );
    }

    #[test]
    fn report_has_the_documented_keys() {
        let s = report(&Report::default()).to_string();
        for key in [
            "\"nodes\"",
            "\"seed\"",
            "\"sim_seconds\"",
            "\"wall_seconds\"",
            "\"first_suspect_median_s\"",
            "\"all_failed_max_s\"",
            "\"undetected\"",
            "\"failed_events_about_live\"",
            "\"distinct_live_declared_failed\"",
            "\"datagrams_per_member_per_period\"",
            "\"bytes_per_member_per_period\"",
            "\"max_datagram_bytes\"",
            "\"converged\"",
            "\"seconds_after_heal\"",
            "\"violations\"",
        ] {
            assert!(s.contains(key), "{key} missing from {s}");
        }
    }
}
