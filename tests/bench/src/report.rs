//! `BENCHMARKS.md`: the results table between `<!-- results:begin -->` and
//! `<!-- results:end -->`, and each benchmark's measured details between
//! `<!-- detail:NAME:begin -->` and `<!-- detail:NAME:end -->`. Everything else in the file
//! (what each benchmark measures, how, its command, target and analysis) is prose kept as it
//! is. Rows of benchmarks not run this time stay, with the run they came from.

use std::fmt::Write as _;

use crate::machine::Machine;

/// Every benchmark, in the table's order.
pub const ORDER: [&str; 7] = [
    "show",
    "throughput",
    "memory",
    "cold-start",
    "cost",
    "scaling",
    "load",
];

/// Whether a row met its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Met,
    Missed,
    /// A figure without a target of its own.
    Info,
}

impl Verdict {
    fn text(self) -> &'static str {
        match self {
            Self::Met => "met",
            Self::Missed => "**missed**",
            Self::Info => "",
        }
    }

    /// Met when `ok`, missed otherwise.
    #[must_use]
    pub fn of(ok: bool) -> Self {
        if ok { Self::Met } else { Self::Missed }
    }
}

/// One line of the table.
#[derive(Clone, Debug)]
pub struct Row {
    pub measure: String,
    pub result: String,
    pub baseline: String,
    pub ratio: String,
    pub target: String,
    pub verdict: Verdict,
}

impl Row {
    #[must_use]
    pub fn new(measure: impl Into<String>, result: impl Into<String>) -> Self {
        Self {
            measure: measure.into(),
            result: result.into(),
            baseline: String::new(),
            ratio: String::new(),
            target: String::new(),
            verdict: Verdict::Info,
        }
    }

    #[must_use]
    pub fn baseline(mut self, baseline: impl Into<String>, ratio: impl Into<String>) -> Self {
        self.baseline = baseline.into();
        self.ratio = ratio.into();
        self
    }

    #[must_use]
    pub fn target(mut self, target: impl Into<String>, verdict: Verdict) -> Self {
        self.target = target.into();
        self.verdict = verdict;
        self
    }
}

/// What one benchmark produced.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub name: &'static str,
    pub rows: Vec<Row>,
    /// Markdown: the measured details (samples, phases, profiles).
    pub detail: String,
}

const BEGIN: &str = "<!-- results:begin -->";
const END: &str = "<!-- results:end -->";

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The file with the table and the details of `outcomes` replaced.
#[must_use]
pub fn rewrite(
    doc: &str,
    machine: &Machine,
    outcomes: &[Outcome],
    took: std::time::Duration,
) -> String {
    // The commit as the machine read it: a dirty tree says so in every row.
    let run = format!(
        "{}, {}",
        &machine.date[..10.min(machine.date.len())],
        machine.commit
    );
    let (head, old_table, tail) = match (doc.find(BEGIN), doc.find(END)) {
        (Some(b), Some(e)) if b < e => (&doc[..b], &doc[b + BEGIN.len()..e], &doc[e + END.len()..]),
        _ => (doc, "", "\n"),
    };
    // Rows kept from earlier runs: benchmarks not run now.
    let mut kept: Vec<(String, String)> = Vec::new();
    for line in old_table.lines() {
        let cols: Vec<&str> = line.split('|').map(str::trim).collect();
        if cols.len() < 3 || !line.starts_with("| `") {
            continue;
        }
        let name = cols[1].trim_matches('`').to_owned();
        if !outcomes.iter().any(|o| o.name == name) {
            kept.push((name, line.to_owned()));
        }
    }
    let mut table = String::new();
    let _ = writeln!(table, "{BEGIN}");
    let _ = writeln!(
        table,
        "Last run: {} on {} ({} cores, {:.1} GiB, Linux {}), commit {}, `{}` build; ran: {} \
         in {:.0} min (the build before it not counted).\n",
        machine.date,
        machine.cpu,
        machine.cores,
        machine.memory_gib,
        machine.kernel,
        machine.commit,
        machine.profile,
        outcomes
            .iter()
            .map(|o| o.name)
            .collect::<Vec<_>>()
            .join(", "),
        took.as_secs_f64() / 60.0
    );
    table.push_str(
        "| benchmark | measure | result | baseline (same run) | ratio | target | verdict | run |\n",
    );
    table.push_str("|---|---|---|---|---|---|---|---|\n");
    for name in ORDER {
        if let Some(outcome) = outcomes.iter().find(|o| o.name == name) {
            for row in &outcome.rows {
                let _ = writeln!(
                    table,
                    "| `{name}` | {} | {} | {} | {} | {} | {} | {run} |",
                    cell(&row.measure),
                    cell(&row.result),
                    cell(&row.baseline),
                    cell(&row.ratio),
                    cell(&row.target),
                    row.verdict.text(),
                );
            }
        } else {
            for (_, line) in kept.iter().filter(|(n, _)| n == name) {
                let _ = writeln!(table, "{line}");
            }
        }
    }
    table.push_str(END);
    let mut out = format!("{head}{table}{tail}");
    for outcome in outcomes {
        out = replace_detail(&out, outcome.name, &outcome.detail, &run);
    }
    out
}

fn replace_detail(doc: &str, name: &str, detail: &str, run: &str) -> String {
    let begin = format!("<!-- detail:{name}:begin -->");
    let end = format!("<!-- detail:{name}:end -->");
    let body = format!("{begin}\n_Measured {run}._\n\n{}\n{end}", detail.trim_end());
    match (doc.find(&begin), doc.find(&end)) {
        (Some(b), Some(e)) if b < e => {
            format!("{}{body}{}", &doc[..b], &doc[e + end.len()..])
        }
        _ => format!(
            "{}\n\n## `{name}`: measured details\n\n{body}\n",
            doc.trim_end()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine(commit: &str) -> Machine {
        Machine {
            cpu: "cpu".into(),
            cores: 2,
            memory_gib: 1.0,
            kernel: "6".into(),
            date: "2026-01-02 03:04 UTC".into(),
            commit: commit.into(),
            profile: "release",
        }
    }

    fn outcome(name: &'static str, result: &str) -> Outcome {
        Outcome {
            name,
            rows: vec![Row::new("m", result).target("t", Verdict::Met)],
            detail: format!("details of {name} {result}"),
        }
    }

    #[test]
    fn keeps_prose_and_other_rows() {
        let doc = "# B\n\nintro\n<!-- results:begin -->\n<!-- results:end -->\n\n## show\nprose\n<!-- detail:show:begin -->\nold\n<!-- detail:show:end -->\nafter\n";
        let once = rewrite(
            doc,
            &machine("aaa"),
            &[outcome("show", "1 ms"), outcome("cost", "2 WCU")],
            std::time::Duration::ZERO,
        );
        assert!(once.contains("| `show` | m | 1 ms |"));
        assert!(once.contains("details of show 1 ms"));
        assert!(!once.contains("\nold\n"));
        assert!(once.contains("prose") && once.contains("after"));
        assert!(once.contains("## `cost`: measured details"));
        let twice = rewrite(
            &once,
            &machine("bbb"),
            &[outcome("show", "3 ms")],
            std::time::Duration::ZERO,
        );
        assert!(twice.contains("| `show` | m | 3 ms |"));
        assert!(twice.contains("| `cost` | m | 2 WCU |") && twice.contains("aaa"));
        assert!(!twice.contains("1 ms |"));
        assert!(twice.contains("details of cost 2 WCU"));
        assert_eq!(twice.matches("<!-- results:begin -->").count(), 1);
        let dirty = rewrite(
            &twice,
            &machine("ccc (with local changes)"),
            &[outcome("show", "4 ms")],
            std::time::Duration::ZERO,
        );
        assert!(
            dirty.contains(
                "| `show` | m | 4 ms |  |  | t | met | 2026-01-02, ccc (with local changes) |"
            ),
            "{dirty}"
        );
    }
}
