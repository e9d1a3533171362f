//! Turns rounds of numbers into markdown rows: the median over rounds with its min–max, and
//! the median (min–max) of the per-round ratios to a reference measured in the same round.

use crate::measure::Round;

/// What a row promises.
#[derive(Clone, Copy, Debug)]
pub enum Goal {
    None,
    /// The ratio is at most this.
    RatioMax(f64),
    /// The ratio is at least this.
    RatioMin(f64),
    /// The value is at most this (in the row's unit).
    ValueMax(f64),
}

pub struct Row {
    pub measurement: &'static str,
    pub metric: &'static str,
    pub client: String,
    pub unit: &'static str,
    /// (metric, client) of the reference in the same round, and how to name it.
    pub reference: Option<(&'static str, String, &'static str)>,
    pub goal: Goal,
}

pub const HEADER: &str = "| measurement | client | median | min–max | ratio: median (min–max) | ratio to | goal |\n|---|---|---:|---:|---:|---|---|";

fn fmt(v: f64, unit: &str) -> String {
    if v.is_nan() {
        return "—".to_owned();
    }
    match unit {
        "µs" if v >= 10_000.0 => format!("{:.1} ms", v / 1000.0),
        "µs" => format!("{v:.0} µs"),
        "req/s" => format!("{} req/s", thousands(v)),
        "MiB" => format!("{v:.1} MiB"),
        "s" => format!("{v:.1} s"),
        "ms" => format!("{v:.0} ms"),
        "" => format!("{v:.0}"),
        _ => format!("{v:.2} {unit}"),
    }
}

fn thousands(v: f64) -> String {
    let n = v.round() as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| !x.is_nan());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn min_max(v: &[f64]) -> (f64, f64) {
    v.iter()
        .filter(|x| !x.is_nan())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        })
}

/// One markdown row (None when no round measured it).
pub fn render(row: &Row, rounds: &[Round]) -> Option<String> {
    let key = (row.metric, row.client.clone());
    let values: Vec<f64> = rounds.iter().filter_map(|r| r.get(&key).copied()).collect();
    if values.is_empty() {
        return None;
    }
    let med = median(values.clone());
    let (lo, hi) = min_max(&values);
    let range = if values.len() > 1 {
        format!("{}–{}", fmt(lo, row.unit), fmt(hi, row.unit))
    } else {
        "—".to_owned()
    };
    let mut ratio_text = "—".to_owned();
    let mut ratio_to = "—".to_owned();
    let mut ratio_med = f64::NAN;
    if let Some((metric, client, name)) = &row.reference {
        let rkey = (*metric, client.clone());
        let ratios: Vec<f64> = rounds
            .iter()
            .filter_map(|r| Some(r.get(&key)? / r.get(&rkey)?))
            .collect();
        if !ratios.is_empty() {
            ratio_med = median(ratios.clone());
            let (rlo, rhi) = min_max(&ratios);
            ratio_text = if ratios.len() > 1 {
                format!("{}× ({}–{})", rx(ratio_med), rx(rlo), rx(rhi))
            } else {
                format!("{}×", rx(ratio_med))
            };
            ratio_to = (*name).to_owned();
        }
    }
    let goal = match row.goal {
        Goal::None => "—".to_owned(),
        Goal::RatioMax(g) => verdict(format!("≤ {g:.2}×"), ratio_med <= g),
        Goal::RatioMin(g) => verdict(format!("≥ {g:.2}×"), ratio_med >= g),
        Goal::ValueMax(g) => verdict(format!("≤ {}", fmt(g, row.unit)), med <= g),
    };
    Some(format!(
        "| {} | {} | {} | {} | {} | {} | {} |",
        row.measurement,
        row.client,
        fmt(med, row.unit),
        range,
        ratio_text,
        ratio_to,
        goal
    ))
}

fn rx(r: f64) -> String {
    if r >= 100.0 {
        format!("{r:.0}")
    } else if r >= 10.0 {
        format!("{r:.1}")
    } else {
        // Three decimals, so a ratio shown next to a goal is never rounded across it.
        format!("{r:.3}")
    }
}

fn verdict(goal: String, met: bool) -> String {
    if met {
        format!("{goal}: met")
    } else {
        format!("{goal}: **missed**")
    }
}
