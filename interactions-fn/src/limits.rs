//! Discord's message limits, and the clipping that keeps every reply inside them.
//!
//! Lengths are counted in UTF-16 code units, which is never less than the character count
//! Discord's documentation speaks of: text that fits by this count fits by any count.

use twilight_model::channel::message::component::{ActionRow, Button};
use twilight_model::channel::message::{Component, Embed};

use crate::reply::Message;

pub const TITLE: usize = 256;
pub const DESCRIPTION: usize = 4096;
pub const FIELDS: usize = 25;
pub const FIELD_NAME: usize = 256;
pub const FIELD_VALUE: usize = 1024;
pub const FOOTER: usize = 2048;
pub const AUTHOR: usize = 256;
/// Characters across every embed of one message.
pub const EMBEDS_TOTAL: usize = 6000;
pub const EMBEDS: usize = 10;
pub const CONTENT: usize = 2000;
pub const CUSTOM_ID: usize = 100;
pub const BUTTON_LABEL: usize = 80;
pub const ACTION_ROWS: usize = 5;
pub const BUTTONS_PER_ROW: usize = 5;
pub const CHOICES: usize = 25;

/// Length as Discord counts it (conservatively).
#[must_use]
pub fn len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// `s` cut to at most `max` units, ending in `…` when cut. Never splits a character.
#[must_use]
pub fn clip(s: &str, max: usize) -> String {
    if len(s) <= max {
        return s.to_owned();
    }
    if max == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        if used + c.len_utf16() > max - 1 {
            break;
        }
        used += c.len_utf16();
        out.push(c);
    }
    // Do not leave an unclosed code block behind.
    if out.matches("```").count() % 2 == 1
        && let Some(at) = out.rfind("```")
    {
        out.truncate(at);
    }
    out.push('…');
    out
}

/// The characters of an embed that count towards [`EMBEDS_TOTAL`].
#[must_use]
pub fn embed_len(embed: &Embed) -> usize {
    embed.title.as_deref().map_or(0, len)
        + embed.description.as_deref().map_or(0, len)
        + embed.footer.as_ref().map_or(0, |f| len(&f.text))
        + embed.author.as_ref().map_or(0, |a| len(&a.name))
        + embed
            .fields
            .iter()
            .map(|f| len(&f.name) + len(&f.value))
            .sum::<usize>()
}

/// Clips every part of `embed` to its limit, then shortens fields and the description until
/// the whole fits in `budget` characters.
pub fn fit(embed: &mut Embed, budget: usize) {
    clip_opt(&mut embed.title, TITLE);
    clip_opt(&mut embed.description, DESCRIPTION);
    if let Some(footer) = &mut embed.footer {
        footer.text = clip(&footer.text, FOOTER);
    }
    if let Some(author) = &mut embed.author {
        author.name = clip(&author.name, AUTHOR);
    }
    embed.fields.truncate(FIELDS);
    for field in &mut embed.fields {
        field.name = clip(&field.name, FIELD_NAME);
        field.value = clip(&field.value, FIELD_VALUE);
        if field.name.is_empty() {
            field.name = "\u{200b}".into();
        }
        if field.value.is_empty() {
            field.value = "\u{200b}".into();
        }
    }
    let budget = budget.min(EMBEDS_TOTAL);
    // Drop fields from the end, then cut the description, until the total fits.
    while embed_len(embed) > budget && !embed.fields.is_empty() {
        embed.fields.pop();
    }
    let over = embed_len(embed).saturating_sub(budget);
    if over > 0
        && let Some(description) = &mut embed.description
    {
        let keep = len(description).saturating_sub(over);
        *description = clip(description, keep);
    }
}

fn clip_opt(value: &mut Option<String>, max: usize) {
    if let Some(v) = value {
        *v = clip(v, max);
    }
}

/// A limit a message breaks.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{what} is {actual}, over the limit of {limit}")]
pub struct LimitError {
    pub what: String,
    pub actual: usize,
    pub limit: usize,
}

fn at_most(what: impl Into<String>, actual: usize, limit: usize) -> Result<(), LimitError> {
    if actual <= limit {
        Ok(())
    } else {
        Err(LimitError {
            what: what.into(),
            actual,
            limit,
        })
    }
}

/// Checks a message against every limit this module knows.
pub fn check(message: &Message) -> Result<(), LimitError> {
    at_most(
        "content",
        message.content.as_deref().map_or(0, len),
        CONTENT,
    )?;
    at_most("embeds", message.embeds.len(), EMBEDS)?;
    let mut total = 0;
    for (i, e) in message.embeds.iter().enumerate() {
        at_most(
            format!("embed {i} title"),
            e.title.as_deref().map_or(0, len),
            TITLE,
        )?;
        at_most(
            format!("embed {i} description"),
            e.description.as_deref().map_or(0, len),
            DESCRIPTION,
        )?;
        at_most(
            format!("embed {i} footer"),
            e.footer.as_ref().map_or(0, |f| len(&f.text)),
            FOOTER,
        )?;
        at_most(
            format!("embed {i} author"),
            e.author.as_ref().map_or(0, |a| len(&a.name)),
            AUTHOR,
        )?;
        at_most(format!("embed {i} fields"), e.fields.len(), FIELDS)?;
        for (j, f) in e.fields.iter().enumerate() {
            at_most(
                format!("embed {i} field {j} name"),
                len(&f.name),
                FIELD_NAME,
            )?;
            at_most(
                format!("embed {i} field {j} value"),
                len(&f.value),
                FIELD_VALUE,
            )?;
            if f.name.is_empty() || f.value.is_empty() {
                return Err(LimitError {
                    what: format!("embed {i} field {j} is empty"),
                    actual: 0,
                    limit: 1,
                });
            }
        }
        total += embed_len(e);
    }
    at_most("characters across embeds", total, EMBEDS_TOTAL)?;
    check_components(&message.components)
}

/// Checks action rows and buttons: at most 5 rows of 5, labels and `custom_id`s in bounds.
pub fn check_components(components: &[Component]) -> Result<(), LimitError> {
    at_most("action rows", components.len(), ACTION_ROWS)?;
    for component in components {
        let Component::ActionRow(ActionRow { components, .. }) = component else {
            return Err(LimitError {
                what: "a top-level component that is not an action row".into(),
                actual: 1,
                limit: 0,
            });
        };
        at_most("buttons in a row", components.len(), BUTTONS_PER_ROW)?;
        for c in components {
            if let Component::Button(Button {
                custom_id, label, ..
            }) = c
            {
                let id = custom_id.as_deref().unwrap_or_default();
                at_most("custom_id", len(id), CUSTOM_ID)?;
                if id.is_empty() {
                    return Err(LimitError {
                        what: "custom_id is empty".into(),
                        actual: 0,
                        limit: 1,
                    });
                }
                at_most(
                    "button label",
                    label.as_deref().map_or(0, len),
                    BUTTON_LABEL,
                )?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use twilight_model::channel::message::embed::EmbedField;

    use crate::render::embed;

    #[test]
    fn clipping_counts_utf16_and_marks_the_cut() {
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(clip("abcd", 3), "ab…");
        // An emoji outside the BMP is two units.
        assert_eq!(len("😀"), 2);
        assert_eq!(clip("😀😀😀", 4), "😀…");
        assert_eq!(clip("x```code", 6), "x…");
        assert_eq!(clip("anything", 0), "");
    }

    #[test]
    fn fit_brings_a_huge_embed_inside_every_limit() {
        let mut e = embed();
        e.title = Some("t".repeat(1000));
        e.description = Some("d".repeat(5000));
        e.fields = (0..40)
            .map(|i| EmbedField {
                inline: true,
                name: format!("{i}").repeat(300),
                value: "v".repeat(2000),
            })
            .collect();
        fit(&mut e, EMBEDS_TOTAL);
        let message = Message::embed(e);
        check(&message).unwrap();
        assert!(embed_len(&message.embeds[0]) <= EMBEDS_TOTAL);
    }
}
