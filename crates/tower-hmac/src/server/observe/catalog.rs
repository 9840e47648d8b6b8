//! Every metric this crate emits, with its unit and its help text: given to each `metrics`
//! recorder once, the first time the layer records into it.
//!
//! Why then, and not when the layer is built or by a function the user calls: the facade hands a
//! description to the recorder installed at the time, and an application may install its
//! recorder before or after it builds the layer (or scope one to a thread). The layer already
//! asks which recorder is installed for every request (to record nothing for nobody), so it
//! describes a recorder it has not seen yet at the cost of one comparison, and no application
//! has to remember a call. A recorder is told once: the address of the last one described is
//! kept (two recorders taking turns would be described at each turn, which is harmless: a
//! description replaces the same description).
//!
//! The names already carry their units (`_seconds`, counters `_total`, gauges none), so an
//! exporter that appends units (`metrics-exporter-prometheus`'s `set_enable_unit_suffix`) keeps
//! them as they are. No description names a label value: what the labels may say is decided in
//! `events` (a refusal's labels follow its answer).

use std::sync::atomic::{AtomicUsize, Ordering};

use metrics::{KeyName, Recorder, SharedString, Unit};

/// What a family is to the recorder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// One metric family: its name, kind, unit and one-line help.
#[derive(Debug)]
pub(crate) struct Family {
    pub(crate) name: &'static str,
    pub(crate) kind: Kind,
    pub(crate) unit: Unit,
    pub(crate) help: &'static str,
}

/// Every family this crate emits (the sessions crate describes its own).
pub(crate) const FAMILIES: &[Family] = &[
    Family {
        name: "tower_hmac_requests_total",
        kind: Kind::Counter,
        unit: Unit::Count,
        help: "Requests the HMAC layer decided, by outcome, code (as answered), scheme and app.",
    },
    Family {
        name: "tower_hmac_verification_seconds",
        kind: Kind::Histogram,
        unit: Unit::Seconds,
        help: "Time from a request's arrival to the HMAC layer's decision, by outcome.",
    },
    Family {
        name: "tower_hmac_scope_refusals_total",
        kind: Kind::Counter,
        unit: Unit::Count,
        help: "Requests refused by RequireScope after the layer accepted their signature, by code, scheme and app.",
    },
    Family {
        name: "tower_hmac_throttled_total",
        kind: Kind::Counter,
        unit: Unit::Count,
        help: "Requests refused with 429 by the failed-authentication throttle, by bucket (address, key_id, store).",
    },
    Family {
        name: "tower_hmac_registry_lookups_total",
        kind: Kind::Counter,
        unit: Unit::Count,
        help: "Key lookups of the caching registry, by result (hit, miss, stale, error).",
    },
    Family {
        name: "tower_hmac_replay_store_nonces",
        kind: Kind::Gauge,
        unit: Unit::Count,
        help: "Nonces held by the in-process replay store.",
    },
    Family {
        name: "tower_hmac_replay_store_capacity",
        kind: Kind::Gauge,
        unit: Unit::Count,
        help: "Nonces the in-process replay store can hold; at capacity new requests are refused with 503.",
    },
];

/// The address of the last recorder described (0: none yet).
static DESCRIBED: AtomicUsize = AtomicUsize::new(0);

/// Describes every family to `recorder` unless it was the last one described.
pub(crate) fn describe_once(recorder: &dyn Recorder) {
    describe_once_with(recorder, &DESCRIBED);
}

fn describe_once_with(recorder: &dyn Recorder, described: &AtomicUsize) {
    let address = std::ptr::from_ref(recorder).cast::<()>().addr();
    if described.load(Ordering::Relaxed) == address {
        return;
    }
    // Two requests may both get here with a new recorder: both describe it, to the same effect.
    for family in FAMILIES {
        let (name, unit, help) = (
            KeyName::from_const_str(family.name),
            Some(family.unit),
            SharedString::const_str(family.help),
        );
        match family.kind {
            Kind::Counter => recorder.describe_counter(name, unit, help),
            Kind::Gauge => recorder.describe_gauge(name, unit, help),
            Kind::Histogram => recorder.describe_histogram(name, unit, help),
        }
    }
    described.store(address, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A description: name, kind, unit, help.
    type Description = (String, Kind, Option<Unit>, String);

    /// A recorder keeping its descriptions.
    #[derive(Default)]
    struct Descriptions(Mutex<Vec<Description>>);

    impl Descriptions {
        fn note(&self, name: KeyName, kind: Kind, unit: Option<Unit>, help: SharedString) {
            let entry = (name.as_str().to_owned(), kind, unit, help.to_string());
            self.0.lock().unwrap().push(entry);
        }
    }

    impl Recorder for Descriptions {
        fn describe_counter(&self, name: KeyName, unit: Option<Unit>, help: SharedString) {
            self.note(name, Kind::Counter, unit, help);
        }
        fn describe_gauge(&self, name: KeyName, unit: Option<Unit>, help: SharedString) {
            self.note(name, Kind::Gauge, unit, help);
        }
        fn describe_histogram(&self, name: KeyName, unit: Option<Unit>, help: SharedString) {
            self.note(name, Kind::Histogram, unit, help);
        }
        fn register_counter(
            &self,
            _: &metrics::Key,
            _: &metrics::Metadata<'_>,
        ) -> metrics::Counter {
            metrics::Counter::noop()
        }
        fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
            metrics::Gauge::noop()
        }
        fn register_histogram(
            &self,
            _: &metrics::Key,
            _: &metrics::Metadata<'_>,
        ) -> metrics::Histogram {
            metrics::Histogram::noop()
        }
    }

    #[test]
    fn every_name_carries_its_unit_and_kind() {
        for family in FAMILIES {
            let name = family.name;
            assert!(name.starts_with("tower_hmac_"), "{name}");
            match family.kind {
                Kind::Counter => assert!(name.ends_with("_total") && family.unit == Unit::Count),
                Kind::Histogram => {
                    assert!(name.ends_with("_seconds") && family.unit == Unit::Seconds);
                }
                Kind::Gauge => assert!(
                    !name.ends_with("_total") && !name.ends_with("_seconds"),
                    "{name}"
                ),
            }
            assert!(
                !family.help.is_empty() && !family.help.contains('\n'),
                "{name}"
            );
        }
    }

    #[test]
    fn a_recorder_is_described_once_and_a_new_one_again() {
        let described = AtomicUsize::new(0);
        let (first, second) = (Descriptions::default(), Descriptions::default());
        describe_once_with(&first, &described);
        describe_once_with(&first, &described);
        assert_eq!(first.0.lock().unwrap().len(), FAMILIES.len());
        let seconds = first
            .0
            .lock()
            .unwrap()
            .iter()
            .find(|d| d.0 == "tower_hmac_verification_seconds")
            .map(|d| (d.1, d.2));
        assert_eq!(seconds, Some((Kind::Histogram, Some(Unit::Seconds))));
        // A recorder installed later (or another thread's) is described too.
        describe_once_with(&second, &described);
        assert_eq!(second.0.lock().unwrap().len(), FAMILIES.len());
    }
}
