//! Line-based formats of a stage-1 reply: `#`/numbered/bulleted/bold lines, Markdown tables,
//! and unmarked `Name: dim, dim` lines.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Marker {
    /// A single `#` (the reference form).
    Hash,
    /// `##` or more.
    Heading,
    Numbered,
    Bullet,
    /// `**Name**…` with no other marker.
    Bold,
    None,
}

/// Strip list/heading markers. Returns the outermost marker, the content, and for a single
/// `#` the reference raw text (after one `#`, trimmed).
pub(super) fn strip_marker(line: &str) -> (Marker, &str) {
    let mut s = line.trim();
    let mut first = Marker::None;
    loop {
        let (m, rest) = strip_one_marker(s);
        if m == Marker::None {
            break;
        }
        if first == Marker::None {
            first = m;
        }
        s = rest.trim_start();
    }
    if first == Marker::None && (s.starts_with("**") || s.starts_with("__")) {
        first = Marker::Bold;
    }
    (first, s.trim())
}

pub(super) fn strip_one_marker(s: &str) -> (Marker, &str) {
    if let Some(rest) = s.strip_prefix('#') {
        let hashes = 1 + rest.chars().take_while(|c| *c == '#').count();
        let rest = rest.trim_start_matches('#');
        return (
            if hashes == 1 {
                Marker::Hash
            } else {
                Marker::Heading
            },
            rest,
        );
    }
    for b in ['-', '*', '•', '+', '–', '—', '·'] {
        if let Some(rest) = s.strip_prefix(b) {
            if rest.starts_with(char::is_whitespace) {
                return (Marker::Bullet, rest);
            }
        }
    }
    // (1) / 1. / 1) / 1:
    let inner = s.strip_prefix('(').unwrap_or(s);
    let digits = inner.chars().take_while(char::is_ascii_digit).count();
    if (1..=3).contains(&digits) {
        let after = &inner[digits..];
        for close in ['.', ')', ':'] {
            if let Some(rest) = after.strip_prefix(close) {
                if rest.is_empty()
                    || rest.starts_with(char::is_whitespace)
                    || rest.starts_with("**")
                {
                    return (Marker::Numbered, rest);
                }
            }
        }
    }
    (Marker::None, s)
}

pub(super) struct Block {
    p: Perspective,
    marker: Marker,
    filled: bool,
}

pub(super) fn finish(block: Option<Block>, out: &mut Vec<Perspective>) {
    let Some(mut b) = block else { return };
    if b.filled {
        b.p.raw = b.p.compose_raw();
        if !b.p.raw.is_empty() {
            out.push(b.p);
        }
    } else if matches!(b.marker, Marker::Hash | Marker::Numbered | Marker::Bullet)
        && !b.p.name.is_empty()
        && !looks_like_title(&b.p)
    {
        out.push(b.p);
    }
}

/// A name-only line such as "# Perspectives:" or "1. Six ethical perspectives" is a title.
pub(super) fn looks_like_title(p: &Perspective) -> bool {
    p.raw.trim_end().ends_with(':') || p.name.to_lowercase().contains("perspective")
}

pub(super) fn parse_marked_lines(text: &str) -> Vec<Perspective> {
    let mut out = Vec::new();
    let mut block: Option<Block> = None;
    for line in text.lines() {
        let (marker, content) = strip_marker(line);
        if content.is_empty() {
            continue;
        }
        let clean = strip_bold(content);
        // A `Label: value` line fills the open block (or names a new one). `#` lines are always
        // perspectives, as in the reference.
        let field_line = if matches!(marker, Marker::Hash | Marker::Heading) {
            None
        } else {
            labelled(&clean)
        };
        if let Some((field, value)) = field_line {
            let value = clean_value(value);
            if field == Field::Name {
                // "Name: Nurse, Core value: Care, …" is a whole perspective on one line.
                let whole = split_fields(&clean);
                if whole.has_dims() {
                    finish(block.take(), &mut out);
                    out.push(Perspective {
                        raw: content.to_string(),
                        ..whole
                    });
                    continue;
                }
                let reuse = block.as_ref().is_some_and(|b| b.p.name.is_empty());
                if !reuse {
                    finish(block.take(), &mut out);
                    block = Some(Block {
                        p: Perspective::default(),
                        marker: Marker::Bold,
                        filled: false,
                    });
                }
                if let Some(b) = block.as_mut() {
                    b.p.raw = value.clone();
                    b.p.name = value;
                }
            } else if let Some(b) = block.as_mut() {
                let target = b.p.field_mut(field);
                if target.is_empty() {
                    *target = value;
                } else if !value.is_empty() {
                    target.push_str(&format!("; {value}"));
                }
                b.filled = true;
            }
            continue;
        }
        if marker == Marker::None {
            continue;
        }
        let raw = if marker == Marker::Hash {
            // Exactly the reference's raw text.
            line.trim_start()
                .strip_prefix('#')
                .unwrap_or(content)
                .trim()
        } else {
            content
        };
        let mut p = split_fields(content);
        p.raw = raw.to_string();
        finish(block.take(), &mut out);
        if p.has_dims() {
            out.push(p);
        } else if !p.name.is_empty() {
            block = Some(Block {
                p,
                marker,
                filled: false,
            });
        }
    }
    finish(block, &mut out);
    out
}

pub(super) fn table_cells(line: &str) -> Option<Vec<String>> {
    let t = line.trim();
    let inner = t.strip_prefix('|')?;
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    Some(
        inner
            .split('|')
            .map(|c| clean_value(&strip_bold(c)))
            .collect(),
    )
}

pub(super) fn is_rule_row(cells: &[String]) -> bool {
    cells
        .iter()
        .all(|c| !c.is_empty() && c.chars().all(|ch| matches!(ch, '-' | ':' | ' ')))
}

/// Markdown tables: the first `|` row is the header; its cells name the fields.
pub(super) fn parse_table(text: &str) -> Vec<Perspective> {
    let rows: Vec<Vec<String>> = text.lines().filter_map(table_cells).collect();
    let Some((header, body)) = rows.split_first() else {
        return Vec::new();
    };
    let columns: Vec<Option<Field>> = header.iter().map(|h| json_key_field(h)).collect();
    if columns.iter().flatten().count() < 2 {
        return Vec::new();
    }
    body.iter()
        .filter(|r| !is_rule_row(r))
        .filter_map(|row| {
            let mut p = Perspective::default();
            for (cell, col) in row.iter().zip(&columns) {
                if let Some(f) = col {
                    let target = p.field_mut(*f);
                    if target.is_empty() {
                        *target = cell.clone();
                    }
                }
            }
            p.raw = p.compose_raw();
            (!p.raw.is_empty()).then_some(p)
        })
        .collect()
}

pub(super) fn parse_unmarked_lines(text: &str) -> Vec<Perspective> {
    text.lines()
        .map(str::trim)
        .filter(|l| l.contains(':'))
        .map(split_fields)
        .filter(|p| {
            !p.name.is_empty()
                && p.name.chars().count() <= 80
                && p.dims().iter().filter(|d| !d.is_empty()).count() >= 2
        })
        .collect()
}
