//! Counted resources with a cap per namespace and a cap for the whole server, so that one
//! tenant can take at most its share of anything (see `SECURITY.md`, "Limits").

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};

/// Which cap refused a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Full {
    /// The namespace has its share.
    Namespace,
    /// The server is full.
    Server,
}

/// How many of one resource each namespace holds, with both caps.
#[derive(Debug)]
pub struct Gauge {
    per_namespace: usize,
    total: usize,
    held: Mutex<(usize, HashMap<String, usize>)>,
}

/// One unit of a [`Gauge`], given back when dropped.
#[derive(Debug)]
pub struct Slot {
    gauge: Arc<Gauge>,
    key: String,
}

impl Gauge {
    /// A gauge with a cap per namespace and a cap in all.
    #[must_use]
    pub fn new(per_namespace: usize, total: usize) -> Arc<Gauge> {
        Arc::new(Gauge { per_namespace, total, held: Mutex::new((0, HashMap::new())) })
    }

    /// Takes one unit for namespace `key`.
    ///
    /// # Errors
    ///
    /// Which cap is reached.
    pub fn take(self: &Arc<Self>, key: &str) -> Result<Slot, Full> {
        // A poisoned lock only means a panic elsewhere while counting: the counts are still
        // consistent (each update is one statement).
        let mut held = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (total, map) = &mut *held;
        if *total >= self.total {
            return Err(Full::Server);
        }
        let n = map.entry(key.to_owned()).or_insert(0);
        if *n >= self.per_namespace {
            return Err(Full::Namespace);
        }
        *n += 1;
        *total += 1;
        Ok(Slot { gauge: Arc::clone(self), key: key.to_owned() })
    }

    /// Units held by namespace `key` and in all.
    #[must_use]
    pub fn held(&self, key: &str) -> (usize, usize) {
        let held = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        (held.1.get(key).copied().unwrap_or(0), held.0)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.gauge.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (total, map) = &mut *held;
        *total = total.saturating_sub(1);
        if let Some(n) = map.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.key);
            }
        }
    }
}

/// An `io::Write` that only counts: the size of a response as it will be sent, without
/// building it twice.
#[derive(Debug, Default)]
pub struct CountingWriter(pub usize);

impl io::Write for CountingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Bytes of `v` serialized as JSON (what the response carries).
#[must_use]
pub fn json_size<T: serde::Serialize + ?Sized>(v: &T) -> usize {
    let mut w = CountingWriter::default();
    // Serializing to a counter cannot fail for lack of space; a value that cannot be
    // serialized at all is not sent either, so it counts as nothing.
    let _ = serde_json::to_writer(&mut w, v);
    w.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_per_namespace_and_in_all_and_slots_come_back() {
        let g = Gauge::new(2, 3);
        let a1 = g.take("a").expect("a1");
        let _a2 = g.take("a").expect("a2");
        assert_eq!(g.take("a").expect_err("a is full"), Full::Namespace);
        let _b1 = g.take("b").expect("b1");
        assert_eq!(g.take("c").expect_err("the server is full"), Full::Server);
        drop(a1);
        assert_eq!(g.held("a"), (1, 2));
        let _c1 = g.take("c").expect("c1 after a slot came back");
        assert_eq!(json_size(&serde_json::json!({"a": [1, "xy"]})), r#"{"a":[1,"xy"]}"#.len());
    }
}
