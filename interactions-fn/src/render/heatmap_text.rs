//! Heatmaps as text for embed fields: a bar of block characters per hour, a bar per weekday.

use callstats_core::heatmap::LocalHeatmap;

use twilight_model::channel::message::embed::EmbedField;

use crate::render::field;
use crate::render::format::human_duration;

const LEVELS: [char; 9] = ['·', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const BAR_WIDTH: u64 = 12;

/// The two heatmap fields of an embed, hours of the day and days of the week, each titled
/// with `label` (the timezone, and what the heatmap covers).
#[must_use]
pub fn fields(local: &LocalHeatmap, label: &str) -> [EmbedField; 2] {
    [
        field(
            format!("Hours of the day ({label})"),
            format!("```\n{}\n```", hours(local)),
            false,
        ),
        field(
            format!("Days of the week ({label})"),
            format!("```\n{}\n```", days(local)),
            false,
        ),
    ]
}

/// 24 block characters, one per hour, scaled to the busiest hour, over an hour axis; made
/// for a code block in an embed field.
#[must_use]
pub fn hours(local: &LocalHeatmap) -> String {
    let max = local.hours.iter().copied().max().unwrap_or(0);
    let bars: String = local.hours.iter().map(|&s| level(s, max)).collect();
    format!("{bars}\n0     6     12    18   23")
}

/// One line per weekday: a bar scaled to the busiest day and the time spent.
#[must_use]
pub fn days(local: &LocalHeatmap) -> String {
    let max = local.days.iter().copied().max().unwrap_or(0);
    let lines: Vec<String> = WEEKDAYS
        .iter()
        .zip(local.days.iter())
        .map(|(name, &secs)| {
            let filled = if max == 0 {
                0
            } else {
                (secs * BAR_WIDTH).div_ceil(max)
            };
            let bar: String = (0..BAR_WIDTH)
                .map(|i| if i < filled { '█' } else { '░' })
                .collect();
            format!("{name} {bar} {}", human_duration(secs))
        })
        .collect();
    lines.join("\n")
}

fn level(secs: u64, max: u64) -> char {
    if secs == 0 || max == 0 {
        return LEVELS[0];
    }
    // 1..=8, so any time at all shows as at least the lowest block.
    let step = 1 + (secs * 7) / max;
    LEVELS[step.min(8) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_blocks_and_bars() {
        let mut local = LocalHeatmap::default();
        local.hours[0] = 100;
        local.hours[12] = 50;
        local.days[2] = 3600;
        let text = hours(&local);
        assert!(text.starts_with('█'));
        assert_eq!(text.lines().next().unwrap().chars().count(), 24);
        assert_eq!(text.lines().next().unwrap().chars().nth(12), Some('▄'));
        let text = days(&local);
        assert_eq!(text.lines().count(), 7);
        assert!(text.contains("Wed ████████████ 1 h 00 min"));
        assert!(text.contains("Mon ░░░░░░░░░░░░ 0 s"));
        assert!(hours(&LocalHeatmap::default()).starts_with("····"));
    }
}
