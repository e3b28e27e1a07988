//! A slab whose keys carry a generation, so a stale key never reaches a new entry.

/// Key into a [`GenSlab`]: slot index plus the generation of the entry it named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Key {
    index: u32,
    generation: u32,
}

#[derive(Debug)]
struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

/// Vec-backed slab with generation-checked keys and a free list.
#[derive(Debug)]
pub(crate) struct GenSlab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Default for GenSlab<T> {
    fn default() -> Self {
        GenSlab {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<T> GenSlab<T> {
    pub(crate) fn insert(&mut self, value: T) -> Key {
        self.len += 1;
        if let Some(index) = self.free.pop() {
            let slot = &mut self.slots[index as usize];
            slot.value = Some(value);
            return Key {
                index,
                generation: slot.generation,
            };
        }
        let index = u32::try_from(self.slots.len()).expect("fewer than 2^32 peers");
        self.slots.push(Slot {
            generation: 0,
            value: Some(value),
        });
        Key {
            index,
            generation: 0,
        }
    }

    pub(crate) fn get(&self, key: Key) -> Option<&T> {
        let slot = self.slots.get(key.index as usize)?;
        if slot.generation == key.generation {
            slot.value.as_ref()
        } else {
            None
        }
    }

    pub(crate) fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        let slot = self.slots.get_mut(key.index as usize)?;
        if slot.generation == key.generation {
            slot.value.as_mut()
        } else {
            None
        }
    }

    pub(crate) fn contains(&self, key: Key) -> bool {
        self.get(key).is_some()
    }

    pub(crate) fn remove(&mut self, key: Key) -> Option<T> {
        let slot = self.slots.get_mut(key.index as usize)?;
        if slot.generation != key.generation {
            return None;
        }
        let value = slot.value.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(key.index);
        self.len -= 1;
        Some(value)
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (Key, &T)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            s.value.as_ref().map(|v| {
                (
                    Key {
                        index: i as u32,
                        generation: s.generation,
                    },
                    v,
                )
            })
        })
    }

    pub(crate) fn drain(&mut self) -> impl Iterator<Item = T> + '_ {
        self.len = 0;
        self.free.clear();
        self.slots.drain(..).filter_map(|s| s.value)
    }
}

/// A value for some of a [`GenSlab`]'s keys, found by the key's slot without hashing (the
/// fair queue's peer → routing id, looked up for every message a ROUTER, REP or SERVER
/// receives). Holds one slot per index up to the highest key inserted.
#[derive(Debug)]
pub(crate) struct KeyMap<V> {
    slots: Vec<Option<(u32, V)>>,
}

impl<V> Default for KeyMap<V> {
    fn default() -> Self {
        KeyMap { slots: Vec::new() }
    }
}

impl<V> KeyMap<V> {
    /// Sets `key`'s value, replacing what its slot held (for this key or a stale one).
    pub(crate) fn insert(&mut self, key: Key, value: V) {
        let index = key.index as usize;
        if self.slots.len() <= index {
            self.slots.resize_with(index + 1, || None);
        }
        self.slots[index] = Some((key.generation, value));
    }

    #[inline]
    pub(crate) fn get(&self, key: Key) -> Option<&V> {
        match self.slots.get(key.index as usize) {
            Some(Some((generation, value))) if *generation == key.generation => Some(value),
            _ => None,
        }
    }

    pub(crate) fn contains_key(&self, key: Key) -> bool {
        self.get(key).is_some()
    }

    pub(crate) fn remove(&mut self, key: Key) -> Option<V> {
        let slot = self.slots.get_mut(key.index as usize)?;
        match slot {
            Some((generation, _)) if *generation == key.generation => {
                slot.take().map(|(_, value)| value)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_keys_miss() {
        let mut s = GenSlab::default();
        let a = s.insert("a");
        assert_eq!(s.remove(a), Some("a"));
        let b = s.insert("b");
        assert_eq!(
            s.get(a),
            None,
            "slot reused, old key must not see the new peer"
        );
        assert_eq!(s.get(b), Some(&"b"));
        assert_eq!(s.remove(a), None);
        assert_eq!(s.len(), 1);
        assert_eq!(s.iter().count(), 1);
    }

    #[test]
    fn a_key_map_answers_only_the_key_it_was_given() {
        let mut s = GenSlab::default();
        let mut m = KeyMap::default();
        let a = s.insert(());
        let far = (0..5).map(|_| s.insert(())).last().unwrap_or(a);
        m.insert(far, "far");
        assert_eq!(m.get(a), None, "an index below the highest, never set");
        m.insert(a, "a");
        assert_eq!((m.get(a), m.get(far)), (Some(&"a"), Some(&"far")));
        let _ = s.remove(a);
        let b = s.insert(());
        assert_eq!(
            m.get(b),
            None,
            "same slot, new generation: the old value is not b's"
        );
        assert!(!m.contains_key(b));
        assert_eq!(m.remove(b), None, "a stale removal leaves the slot alone");
        assert_eq!(m.remove(a), Some("a"));
        assert_eq!(m.get(a), None);
        m.insert(b, "b");
        assert_eq!((m.get(b), m.get(a)), (Some(&"b"), None));
        assert_eq!(m.get(far), Some(&"far"));
    }
}
