//! The set the generator picks random lots and shipments from.

use std::collections::BTreeMap;

/// A set that picks a random member in O(1): members in a vector, with
/// their places in a map; removal swaps the last member in.
#[derive(Debug, Clone)]
pub(super) struct Bag<T: Ord + Clone> {
    items: Vec<T>,
    place: BTreeMap<T, usize>,
}

impl<T: Ord + Clone> Default for Bag<T> {
    fn default() -> Self {
        Bag {
            items: Vec::new(),
            place: BTreeMap::new(),
        }
    }
}

impl<T: Ord + Clone> Bag<T> {
    pub(super) fn len(&self) -> usize {
        self.items.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub(super) fn get(&self, i: usize) -> Option<&T> {
        self.items.get(i)
    }

    pub(super) fn insert(&mut self, item: &T) {
        if !self.place.contains_key(item) {
            self.place.insert(item.clone(), self.items.len());
            self.items.push(item.clone());
        }
    }

    pub(super) fn remove(&mut self, item: &T) {
        if let Some(i) = self.place.remove(item) {
            self.items.swap_remove(i);
            if let Some(moved) = self.items.get(i) {
                self.place.insert(moved.clone(), i);
            }
        }
    }
}
