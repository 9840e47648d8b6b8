//! The keys an instance holds, each with the version of the change it reflects. Changes are
//! applied in order whatever order the reads that bring them finish in: a read older than what
//! is held never replaces it — a full refresh's snapshot read before a revocation that a
//! notification already applied cannot bring the key back (issue 25, item 4).
//!
//! Two orders are used. Rows carry the database's version (one sequence for every change of
//! every key, deletions included), which orders any two reads of one key. A key missing from a
//! snapshot, with no record of its deletion, is ordered by when it was applied here: each read
//! takes a [`Ticket`] when it starts, and an entry applied after a snapshot's ticket may be newer
//! than that snapshot, so the snapshot does not remove it.

use std::collections::HashMap;

use tower_hmac_core::KeyRecord;

use crate::db::{Found, Version};

/// When a read started: how many point changes had been applied by then.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Ticket(u64);

/// What is held for one id.
#[derive(Debug)]
pub(crate) enum Held<'a> {
    /// The key.
    Key(&'a KeyRecord),
    /// Deleted (known from the database: a definite "no such key").
    Deleted,
    /// Nothing: the database was never asked about this id, or forgot it.
    No,
}

#[derive(Debug)]
struct Entry {
    version: Version,
    /// The ticket count after which this entry was written (a snapshot's entries: its ticket).
    stamp: u64,
    /// `None`: deleted.
    record: Option<KeyRecord>,
}

/// The keys held.
#[derive(Debug, Default)]
pub(crate) struct Cache {
    entries: HashMap<Box<str>, Entry>,
    /// How many point changes have been applied.
    applied: u64,
}

impl Cache {
    /// The ticket of a read starting now.
    pub(crate) fn ticket(&self) -> Ticket {
        Ticket(self.applied)
    }

    /// What is held for `key_id`.
    pub(crate) fn get(&self, key_id: &str) -> Held<'_> {
        match self.entries.get(key_id) {
            Some(Entry {
                record: Some(record),
                ..
            }) => Held::Key(record),
            Some(Entry { record: None, .. }) => Held::Deleted,
            None => Held::No,
        }
    }

    /// How many keys are held (deletions not counted).
    pub(crate) fn len(&self) -> usize {
        self.entries.values().filter(|e| e.record.is_some()).count()
    }

    /// Applies what a read of one key started at `ticket` found (a notification's reload, or
    /// the lookup of an id not held), unless what is held is newer; returns the key now held.
    pub(crate) fn apply(
        &mut self,
        key_id: &str,
        found: Found,
        ticket: Ticket,
    ) -> Option<KeyRecord> {
        let held = self.entries.get(key_id);
        let (version, record) = match found {
            Found::Key(version, record) => (version, Some(record)),
            Found::Deleted(version) => (version, None),
            // No row and no deletion recorded (a table emptied by hand): what is held goes,
            // unless it was applied after this read started. Kept as a deletion at its version,
            // so that a snapshot read before this read does not bring it back.
            Found::Nothing => match held {
                Some(entry) if entry.stamp <= ticket.0 => (entry.version, None),
                _ => return self.get_record(key_id),
            },
        };
        let newer = match held {
            None => true,
            Some(entry) => {
                entry.version < version
                    || (entry.version == version && entry.record.is_some() && record.is_none())
            }
        };
        if newer {
            self.applied += 1;
            let entry = Entry {
                version,
                stamp: self.applied,
                record,
            };
            self.entries.insert(key_id.into(), entry);
        }
        self.get_record(key_id)
    }

    /// Applies a full refresh's snapshot, read from `ticket` on: every key at least as new as
    /// what is held replaces it; what is held and newer stays; what the snapshot does not have
    /// goes, unless it was applied after the snapshot started.
    pub(crate) fn apply_snapshot(
        &mut self,
        snapshot: HashMap<Box<str>, (Version, KeyRecord)>,
        ticket: Ticket,
    ) {
        let mut next: HashMap<Box<str>, Entry> = snapshot
            .into_iter()
            .map(|(id, (version, record))| {
                let entry = Entry {
                    version,
                    stamp: ticket.0,
                    record: Some(record),
                };
                (id, entry)
            })
            .collect();
        for (id, held) in self.entries.drain() {
            let keep = match next.get(&id) {
                Some(read) => held.version >= read.version,
                None => held.stamp > ticket.0,
            };
            if keep {
                next.insert(id, held);
            }
        }
        self.entries = next;
    }

    fn get_record(&self, key_id: &str) -> Option<KeyRecord> {
        match self.get(key_id) {
            Held::Key(record) => Some(record.clone()),
            Held::Deleted | Held::No => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use tower_hmac_core::{KeyState, SecretKey};

    use super::*;

    fn record(state: KeyState) -> KeyRecord {
        KeyRecord::new("app", SecretKey::from_bytes(&[7; 32]).unwrap()).with_state(state)
    }

    fn key(version: Version, state: KeyState) -> Found {
        Found::Key(version, record(state))
    }

    fn snapshot(keys: &[(&str, Version, KeyState)]) -> HashMap<Box<str>, (Version, KeyRecord)> {
        keys.iter()
            .map(|&(id, v, s)| (id.into(), (v, record(s))))
            .collect()
    }

    fn state(cache: &Cache, id: &str) -> Option<KeyState> {
        match cache.get(id) {
            Held::Key(r) => Some(r.state()),
            Held::Deleted | Held::No => None,
        }
    }

    #[test]
    fn a_snapshot_read_before_a_revocation_does_not_undo_it() {
        let mut cache = Cache::default();
        cache.apply_snapshot(snapshot(&[("a", 1, KeyState::Active)]), cache.ticket());
        let ticket = cache.ticket(); // the refresh starts reading: "a" active at 1
        cache.apply("a", key(2, KeyState::Revoked), cache.ticket()); // NOTIFY applied
        cache.apply_snapshot(snapshot(&[("a", 1, KeyState::Active)]), ticket);
        assert_eq!(state(&cache, "a"), Some(KeyState::Revoked));
        // A snapshot read after it agrees, and one newer still wins.
        cache.apply_snapshot(snapshot(&[("a", 2, KeyState::Revoked)]), cache.ticket());
        assert_eq!(state(&cache, "a"), Some(KeyState::Revoked));
        cache.apply_snapshot(snapshot(&[("a", 3, KeyState::Active)]), cache.ticket());
        assert_eq!(state(&cache, "a"), Some(KeyState::Active));
    }

    #[test]
    fn an_older_read_of_one_key_does_not_replace_a_newer_one() {
        let mut cache = Cache::default();
        let lookup = cache.ticket(); // a lookup of an id not held reads "b" active at 4 …
        cache.apply("b", key(5, KeyState::Revoked), cache.ticket()); // … NOTIFY: revoked at 5
        let now = cache.apply("b", key(4, KeyState::Active), lookup);
        assert_eq!(now.map(|r| r.state()), Some(KeyState::Revoked));
    }

    #[test]
    fn a_deletion_is_ordered_like_any_change() {
        let mut cache = Cache::default();
        cache.apply_snapshot(snapshot(&[("c", 1, KeyState::Active)]), cache.ticket());
        let ticket = cache.ticket();
        cache.apply("c", Found::Deleted(2), cache.ticket());
        cache.apply_snapshot(snapshot(&[("c", 1, KeyState::Active)]), ticket);
        assert!(matches!(cache.get("c"), Held::Deleted));
        assert_eq!(cache.len(), 0);
        // Added again later: the new row is newer than the deletion.
        cache.apply("c", key(3, KeyState::Active), cache.ticket());
        assert_eq!(state(&cache, "c"), Some(KeyState::Active));
    }

    #[test]
    fn a_key_gone_without_a_trace_is_not_brought_back_by_an_older_snapshot() {
        let mut cache = Cache::default();
        cache.apply_snapshot(snapshot(&[("d", 1, KeyState::Active)]), cache.ticket());
        let ticket = cache.ticket();
        cache.apply("d", Found::Nothing, cache.ticket()); // the table emptied by hand
        cache.apply_snapshot(snapshot(&[("d", 1, KeyState::Active)]), ticket);
        assert_eq!(state(&cache, "d"), None);
        // A snapshot read after it, without the key, forgets it altogether.
        cache.apply_snapshot(snapshot(&[]), cache.ticket());
        assert!(matches!(cache.get("d"), Held::No));
    }

    #[test]
    fn a_snapshot_keeps_a_key_added_while_it_was_read_and_drops_one_gone_before() {
        let mut cache = Cache::default();
        cache.apply_snapshot(snapshot(&[("old", 1, KeyState::Active)]), cache.ticket());
        let ticket = cache.ticket();
        cache.apply("new", key(2, KeyState::Active), cache.ticket());
        cache.apply_snapshot(snapshot(&[]), ticket);
        assert_eq!(state(&cache, "new"), Some(KeyState::Active));
        assert_eq!(state(&cache, "old"), None);
    }

    #[test]
    fn a_lookup_that_finds_nothing_leaves_a_newer_entry_alone() {
        let mut cache = Cache::default();
        let lookup = cache.ticket();
        cache.apply("e", key(1, KeyState::Active), cache.ticket());
        assert!(cache.apply("e", Found::Nothing, lookup).is_some());
        assert_eq!(cache.len(), 1);
    }
}
