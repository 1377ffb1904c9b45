//! A loaded scenario file prepared for fast browsing: lower-cased search text and the attribute
//! facets are computed once, so filtering 3,388 items on every keystroke stays cheap.

use ethos_engine::template::split_attribute;
use ethos_engine::{Item, Source};

pub struct Catalog {
    pub source: Source,
    /// Where it came from (file name), for the heading and the run record.
    pub name: String,
    pub items: Vec<Item>,
    hay: Vec<String>,
    /// Distinct attributes with their item counts, in first-seen order.
    pub attributes: Vec<(String, usize)>,
}

impl Catalog {
    pub fn new(source: Source, name: String, items: Vec<Item>) -> Self {
        let hay = items
            .iter()
            .map(|it| {
                format!(
                    "{} {} {}",
                    it.id(),
                    it.title(),
                    it.attribute().unwrap_or("")
                )
                .to_lowercase()
            })
            .collect();
        let mut attributes: Vec<(String, usize)> = Vec::new();
        for it in &items {
            if let Some(a) = it.attribute().filter(|a| !a.is_empty()) {
                match attributes.iter_mut().find(|(name, _)| name == a) {
                    Some((_, n)) => *n += 1,
                    None => attributes.push((a.to_string(), 1)),
                }
            }
        }
        // Many distinct values (e.g. steerable-value vrd strings) make a useless dropdown.
        if attributes.len() > 300 {
            attributes.clear();
        }
        attributes
            .sort_unstable_by(|a, b| attribute_label(source, &a.0).cmp(&attribute_label(source, &b.0)));
        Self {
            source,
            name,
            items,
            hay,
            attributes,
        }
    }

    /// Indices of the items with `attribute` (empty = any) whose text contains every word of `query`.
    pub fn filter(&self, attribute: &str, query: &str) -> Vec<usize> {
        let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
        (0..self.items.len())
            .filter(|&i| {
                let Some(item) = self.items.get(i) else {
                    return false;
                };
                if !attribute.is_empty() && item.attribute() != Some(attribute) {
                    return false;
                }
                let hay = self.hay.get(i).map(String::as_str).unwrap_or("");
                words.iter().all(|w| hay.contains(w.as_str()))
            })
            .collect()
    }

    /// What the attribute filter is called for this file.
    pub fn attribute_name(&self) -> &'static str {
        attribute_kind(self.source)
    }
}

pub fn attribute_kind(source: Source) -> &'static str {
    match source {
        Source::OpinionQa => "Group",
        Source::GlobalOpinionQa => "Country",
        Source::MoralChoice => "Ambiguity",
        Source::SteerableValueKaleidoscope => "Value",
        _ => "Attribute",
    }
}

/// A readable attribute: `POLPARTY_Democrat` -> "political party: Democrat",
/// `low_ambiguity` -> "low ambiguity".
pub fn attribute_label(source: Source, attribute: &str) -> String {
    match source {
        Source::OpinionQa => {
            let (category, group) = split_attribute(attribute);
            if category.is_empty() {
                group
            } else {
                format!("{category}: {group}")
            }
        }
        Source::MoralChoice => attribute.replace('_', " "),
        _ => attribute.to_string(),
    }
}

/// The shipped VITAL files, in the order the picker lists them.
pub const SHIPPED: [Source; 4] = [
    Source::MoralChoice,
    Source::OvertonValueKaleidoscope,
    Source::OpinionQa,
    Source::GlobalOpinionQa,
];

/// A list title without boilerplate every record of a file shares (MoralChoice items all start
/// with "Below is a scenario and two potential actions…  Scenario:").
pub fn display_title(item: &Item) -> String {
    let title = item.title();
    match title.find("Scenario:") {
        Some(at) if at < 160 => title[at + "Scenario:".len()..].trim().to_string(),
        _ => title,
    }
}
