//! The journal between localStorage and the database: every change is also written at once to
//! localStorage and removed when its transaction commits; the next start moves what is left.

use super::*;

/// The journal: every change is also written at once to localStorage (synchronous, unlike the
/// database), and removed once its transaction has committed. A reload between the two loses
/// nothing: the next start moves what the journal holds into the database. It holds only the
/// last moments' changes, so it stays small.
const JOURNAL: &str = "ethos.journal.";

impl Store {
    fn journal_code(self) -> &'static str {
        match self {
            Store::BatchCalls => "c.",
            Store::BatchOutcomes => "o.",
            Store::BatchMeta => "m.",
            Store::Runs => "r.",
            Store::RunBaselines => "b.",
        }
    }

    fn from_journal_code(code: &str) -> Option<Store> {
        Store::ALL.into_iter().find(|s| s.journal_code() == code)
    }
}

fn journal_key(store: Store, key: &str) -> String {
    format!("{JOURNAL}{}{key}", store.journal_code())
}

/// Write a change to the journal. A journal that is full or blocked is skipped: the database
/// write still happens, only a reload in the next moments would then repeat those calls.
pub fn journal(op: &Op) {
    match op {
        Op::Put { store, key, value } => {
            let _ = set(Area::Local, &journal_key(*store, key), value);
        }
        Op::Delete { store, key } => remove(Area::Local, &journal_key(*store, key)),
        Op::Clear(store) => {
            for k in keys_with_prefix(Area::Local, &journal_key(*store, "")) {
                remove(Area::Local, &k);
            }
            let _ = set(Area::Local, &clear_key(*store), "1");
        }
    }
}

/// The journal's note that a store is to be emptied (before its entries are written).
fn clear_key(store: Store) -> String {
    format!("{JOURNAL}clear.{}", store.journal_code())
}

/// These changes are in the database: their journal entries go (unless a later change of the
/// same key replaced them meanwhile).
pub fn journal_done(ops: &[Op]) {
    for op in ops {
        match op {
            Op::Put { store, key, value } => {
                let k = journal_key(*store, key);
                if get(Area::Local, &k).as_deref() == Some(value.as_str()) {
                    remove(Area::Local, &k);
                }
            }
            Op::Clear(store) => remove(Area::Local, &clear_key(*store)),
            Op::Delete { .. } => {}
        }
    }
}

/// Move what the journal holds (changes of an earlier page that were not committed yet) into
/// the database, in one transaction; returns how many.
pub(super) async fn replay_journal() -> Result<usize, StorageError> {
    let keys = keys_with_prefix(Area::Local, JOURNAL);
    // Stores to empty first; the entries in the journal all came after.
    let mut ops: Vec<Op> = Store::ALL
        .into_iter()
        .filter(|s| keys.contains(&clear_key(*s)))
        .map(Op::Clear)
        .collect();
    for k in &keys {
        let rest = &k[JOURNAL.len()..];
        let (Some(store), Some(key)) = (
            rest.get(..2).and_then(Store::from_journal_code),
            rest.get(2..),
        ) else {
            continue;
        };
        if let Some(v) = get(Area::Local, k) {
            ops.push(Op::put(store, key, v));
        }
    }
    if ops.is_empty() {
        return Ok(0);
    }
    write(&ops).await?;
    for k in &keys {
        remove(Area::Local, k);
    }
    Ok(ops.len())
}
