//! Samples of a Prometheus text exposition, as the sidecar serves them on `/metrics`.

/// The value of one sample, named with its labels as exposed
/// (`callstats_writes_applied_total{kind="start"}`).
#[must_use]
pub fn sample_of(text: &str, sample: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let (name, value) = line.rsplit_once(' ')?;
        (name == sample).then(|| value.parse().ok()).flatten()
    })
}

/// Every sample of a metric, whatever its labels.
#[must_use]
pub fn samples_of(text: &str, metric: &str) -> Vec<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            let base = name.split('{').next()?;
            (base == metric).then(|| value.parse().ok()).flatten()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# HELP callstats_shard_settled 1 when the shard is in sync
# TYPE callstats_shard_settled gauge
callstats_shard_settled{shard=\"0\"} 1
callstats_shard_settled{shard=\"1\"} 0
callstats_spool_depth 3
callstats_spool_depth_max 9
";

    #[test]
    fn reads_one_sample_or_every_sample_of_a_metric() {
        assert_eq!(sample_of(TEXT, "callstats_spool_depth"), Some(3.0));
        assert_eq!(
            sample_of(TEXT, "callstats_shard_settled{shard=\"1\"}"),
            Some(0.0)
        );
        assert_eq!(sample_of(TEXT, "callstats_missing"), None);
        assert_eq!(samples_of(TEXT, "callstats_shard_settled"), vec![1.0, 0.0]);
        assert_eq!(samples_of(TEXT, "callstats_spool_depth"), vec![3.0]);
    }
}
