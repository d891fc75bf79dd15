//! Interned strings: every name in a trace (kernels, operators, API calls,
//! threads) is stored once and referred to by a 4-byte [`StrId`].

use rustc_hash::FxHashMap;

/// Index of a string in a [`StringTable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct StrId(pub u32);

/// Append-only set of strings.
#[derive(Debug, Default, Clone)]
pub struct StringTable {
    strings: Vec<Box<str>>,
    index: FxHashMap<Box<str>, StrId>,
}

impl StringTable {
    /// Returns the id of `s`, adding it on first sight.
    pub fn intern(&mut self, s: &str) -> StrId {
        if let Some(&id) = self.index.get(s) {
            return id;
        }
        let id = StrId(u32::try_from(self.strings.len()).unwrap_or(u32::MAX));
        self.strings.push(s.into());
        self.index.insert(s.into(), id);
        id
    }

    /// Returns the id of `s` if it was interned.
    pub fn get(&self, s: &str) -> Option<StrId> {
        self.index.get(s).copied()
    }

    /// The text of `id` (empty for an id from another table).
    pub fn resolve(&self, id: StrId) -> &str {
        self.strings.get(id.0 as usize).map_or("", |s| s)
    }

    pub fn len(&self) -> usize {
        self.strings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.strings.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interns_once() {
        let mut t = StringTable::default();
        let a = t.intern("aten::add");
        let b = t.intern("aten::mul");
        assert_ne!(a, b);
        assert_eq!(t.intern("aten::add"), a);
        assert_eq!(t.resolve(b), "aten::mul");
        assert_eq!(t.len(), 2);
        assert_eq!(t.get("nope"), None);
    }
}
