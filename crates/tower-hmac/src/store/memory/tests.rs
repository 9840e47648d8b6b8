use std::collections::HashMap;

use super::table::{Probe, Slot, Table};

/// A tiny deterministic generator, so the model test needs no dependency.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn the_table_agrees_with_a_model_under_random_inserts_expiry_and_rebuilds() {
    let mut table = Table::default();
    let mut model: HashMap<u64, u64> = HashMap::new();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for step in 0..200_000u64 {
        let now = step / 1000;
        // Few distinct fingerprints (so that many collide in probe runs) and short lives.
        let fingerprint = next(&mut state) % 4096 + 1;
        let expires = now + next(&mut state) % 5 + 1;
        if table.crowded() || step % 7919 == 0 {
            let before = table.used;
            let mut dropped = 0;
            table.rebuild(now, 1 << 20, |_| dropped += 1);
            assert_eq!(table.used, before - dropped);
            model.retain(|_, e| *e > now);
            assert_eq!(
                table.used,
                model.len(),
                "after a rebuild only live slots remain"
            );
        }
        let live_in_model = model.get(&fingerprint).is_some_and(|e| *e > now);
        match table.probe(fingerprint, now) {
            Probe::Live => assert!(live_in_model, "step {step}: live in the table only"),
            Probe::Vacant(index, empty) => {
                assert!(!live_in_model, "step {step}: a live fingerprint was missed");
                table.put(
                    index,
                    empty,
                    Slot {
                        fingerprint,
                        meta: expires,
                    },
                );
                model.insert(fingerprint, expires);
            }
        }
        assert!(table.used * 4 <= table.slots.len() * 3);
    }
}

#[test]
fn steady_churn_keeps_the_table_and_its_size() {
    // Issue 16: the headroom counted expired slots, so a crowded table of mostly expired
    // slots doubled under churn; and every rebuild allocated a new table.
    let mut table = Table::default();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut insert = |table: &mut Table, now: u64, expires: u64| loop {
        let fingerprint = next(&mut state) | 1;
        if let Probe::Vacant(index, empty) = table.probe(fingerprint, now) {
            if table.crowded() {
                table.rebuild(now, 1 << 20, |_| {});
                continue;
            }
            table.put(
                index,
                empty,
                Slot {
                    fingerprint,
                    meta: expires,
                },
            );
            return;
        }
    };
    // 1000 live slots, then 52 arriving and about 50 expiring per tick, each living 20
    // ticks: the live count drifts to 1040, past the 1024 at which the headroom asks for
    // a larger table.
    for n in 0..1000u64 {
        insert(&mut table, 0, 1 + n / 50);
    }
    let (size, buffer) = (table.slots.len(), table.slots.as_ptr());
    for now in 1..400u64 {
        for _ in 0..52 {
            insert(&mut table, now, now + 20);
        }
    }
    assert_eq!(
        table.slots.len(),
        size,
        "the table changed size under steady churn"
    );
    assert_eq!(
        table.slots.as_ptr(),
        buffer,
        "a rebuild allocated a new table"
    );
    let live = table.slots.iter().filter(|s| s.live(399)).count();
    assert!((1000..=1040).contains(&live), "{live} live");
}

#[test]
fn a_live_copy_behind_an_expired_slot_is_found() {
    let mut table = Table::default();
    table.rebuild(0, 1 << 20, |_| {});
    let mask = table.slots.len() as u64 - 1;
    // Three fingerprints with the same home slot.
    let (a, b, c) = (1 + mask + 1, 1 + 2 * (mask + 1), 1 + 3 * (mask + 1));
    for (fp, expires) in [(a, 1), (b, 100), (c, 100)] {
        match table.probe(fp, 0) {
            Probe::Vacant(i, empty) => {
                table.put(
                    i,
                    empty,
                    Slot {
                        fingerprint: fp,
                        meta: expires,
                    },
                );
            }
            Probe::Live => panic!("fresh table"),
        }
    }
    // At time 5, `a` has expired but `b` and `c` further along are live.
    assert!(matches!(table.probe(b, 5), Probe::Live));
    assert!(matches!(table.probe(c, 5), Probe::Live));
    // A new fingerprint with the same home reuses `a`'s slot.
    assert!(matches!(
        table.probe(1 + 4 * (mask + 1), 5),
        Probe::Vacant(_, false)
    ));
}
