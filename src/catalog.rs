//! A loaded scenario file prepared for fast browsing: lower-cased search text and the attribute
//! facets are computed once, so filtering 3,388 items on every keystroke stays cheap.

use crate::browser;
use ethos_engine::template::split_attribute;
use ethos_engine::{vital, Item, Source};

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

/// Which scenario file to show: a shipped VITAL file, a user's VITAL-format file (from disk or a
/// URL), or none (the user writes their own question).
#[derive(Clone)]
pub enum CatalogWanted {
    None,
    Shipped(Source),
    Disk(web_sys::File),
    Url { name: String, url: String },
}

impl CatalogWanted {
    /// What the list says while it loads.
    pub fn label(&self) -> String {
        match self {
            CatalogWanted::None => String::new(),
            CatalogWanted::Shipped(s) => s.label().to_string(),
            CatalogWanted::Disk(f) => f.name(),
            CatalogWanted::Url { name, .. } => name.clone(),
        }
    }

    /// Fetch (relative URL for a shipped file, so the app works under a sub-path) or read the
    /// file, and parse it. `Ok(None)` when nothing is wanted.
    pub async fn load(self) -> Result<Option<Catalog>, String> {
        let (name, text, source) = match self {
            CatalogWanted::None => return Ok(None),
            CatalogWanted::Shipped(source) => {
                let name = source.file_name().ok_or("this source has no file")?;
                let text = browser::fetch_text(&format!("./vital/{name}")).await;
                (name.to_string(), text, Some(source))
            }
            CatalogWanted::Disk(file) => {
                let name = file.name();
                let text = browser::read_file(&file).await;
                let source = Source::from_file_name(&name);
                (name, text, source)
            }
            CatalogWanted::Url { name, url } => {
                let text = browser::fetch_text(&url).await;
                let source = Source::from_file_name(&name);
                (name, text, source)
            }
        };
        let text = text.map_err(|e| e.to_string())?;
        let items = vital::load(&text, source).map_err(|e| format!("{name}: {e}"))?;
        let source = items
            .first()
            .map(|i| i.source())
            .ok_or_else(|| format!("{name}: no records"))?;
        Ok(Some(Catalog::new(source, name, items)))
    }
}
