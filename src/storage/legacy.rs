//! The one-time move of what versions before the database kept in localStorage (a benchmark,
//! saved runs) into it.

use super::*;

/// localStorage keys of the benchmark as versions before the database kept it.
const LEGACY_SPEC: &str = "ethos.batch.spec";
const LEGACY_STATE: &str = "ethos.batch.state";
const LEGACY_CALLS: &str = "ethos.bc.";
const LEGACY_OUTCOMES: &str = "ethos.bo.";

/// Move a benchmark that an earlier version kept in localStorage into the database, in one
/// transaction; the localStorage copies are removed only once it is committed. Returns how many
/// entries moved. A database that already holds a benchmark is left alone (and so are the old
/// entries: nothing is dropped).
pub(super) async fn migrate_legacy_batch() -> Result<usize, StorageError> {
    let mut ops = Vec::new();
    let mut keys = Vec::new();
    for (key, store, name) in [
        (LEGACY_SPEC, Store::BatchMeta, "spec"),
        (LEGACY_STATE, Store::BatchMeta, "state"),
    ] {
        if let Some(v) = get(Area::Local, key) {
            ops.push(Op::put(store, name, v));
            keys.push(key.to_string());
        }
    }
    legacy_entries(
        &[
            (LEGACY_CALLS, Store::BatchCalls),
            (LEGACY_OUTCOMES, Store::BatchOutcomes),
        ],
        &mut ops,
        &mut keys,
    );
    if ops.is_empty() {
        return Ok(0);
    }
    if get_entry(Store::BatchMeta, "spec").await?.is_some() {
        return Ok(0);
    }
    move_legacy(&ops, &keys).await
}

/// The localStorage entries under each prefix, as puts into their store (key without prefix).
fn legacy_entries(prefixes: &[(&str, Store)], ops: &mut Vec<Op>, keys: &mut Vec<String>) {
    for &(prefix, store) in prefixes {
        for k in keys_with_prefix(Area::Local, prefix) {
            if let Some(v) = get(Area::Local, &k) {
                ops.push(Op::put(store, &k[prefix.len()..], v));
                keys.push(k);
            }
        }
    }
}

/// Write the moved entries in one transaction, then remove their localStorage copies.
async fn move_legacy(ops: &[Op], keys: &[String]) -> Result<usize, StorageError> {
    write(ops).await?;
    for k in keys {
        remove(Area::Local, k);
    }
    Ok(ops.len())
}

/// Move the runs that versions before the database kept in localStorage (`ethos.run.<id>`,
/// `ethos.runb.<id>`) into it, as they are (a damaged one stays damaged, and is reported as
/// such by the saved list), in one transaction; the localStorage copies are removed once it is
/// committed. Returns how many entries moved.
pub async fn migrate_legacy_runs() -> Result<usize, StorageError> {
    let mut ops = Vec::new();
    let mut keys = Vec::new();
    legacy_entries(
        &[
            (key::RUN_PREFIX, Store::Runs),
            (key::BASELINE_PREFIX, Store::RunBaselines),
        ],
        &mut ops,
        &mut keys,
    );
    if ops.is_empty() {
        return Ok(0);
    }
    move_legacy(&ops, &keys).await
}
