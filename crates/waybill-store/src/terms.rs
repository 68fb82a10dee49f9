//! The openings of sealed payment terms, kept beside the ledger and not
//! in it: a party stores them on its node so that the node can show them
//! to those allowed to see them, and erases them when it must (the chain
//! still verifies without them). Each is checked against the payment's
//! commitments on the ledger before it is kept.

use waybill_core::codec;
use waybill_core::codes::Uetr;
use waybill_core::entry::Body;
use waybill_core::state::View;
use waybill_core::terms::{Openings, SealedPayment, Terms};

use crate::backend::{Backend, WriteBatch};
use crate::error::StoreError;
use crate::keys;
use crate::ledger::Ledger;
use crate::read::Located;

/// The most bytes a stored terms file may have.
pub const MAX_TERMS_BYTES: usize = 16 * 1024;

/// `TERMS ‖ UETR`.
fn key(id: &Uetr) -> Vec<u8> {
    let mut k = Vec::with_capacity(17);
    k.extend_from_slice(keys::TERMS);
    k.extend_from_slice(id.as_uuid().as_bytes());
    k
}

impl<B: Backend> Ledger<B> {
    /// The entry that recorded payment `id` with sealed terms, and its
    /// body; `None` if no payment has that UETR.
    pub fn sealed_payment(
        &self,
        id: &Uetr,
    ) -> Result<Option<(Located, SealedPayment)>, StoreError> {
        let Some(state) = self.state.payment(id) else {
            return Ok(None);
        };
        let located = self.entry(&state.recorded_by)?.ok_or_else(|| {
            StoreError::Corrupt(format!("the entry that recorded payment {id} is missing"))
        })?;
        match &located.entry.entry.body {
            Body::SealedPayment(p) => {
                let p = p.clone();
                Ok(Some((located, p)))
            }
            _ => Ok(None),
        }
    }

    /// Keeps `openings` after checking them against the payment's
    /// commitments on the ledger; returns the terms they open.
    pub fn put_terms(&self, openings: &Openings) -> Result<Terms, StoreError> {
        let id = openings.payment_id;
        let (_, payment) = self
            .sealed_payment(&id)?
            .ok_or_else(|| StoreError::Terms(format!("payment {id} is not on this ledger")))?;
        let terms = openings
            .verify(&id, &payment.terms)
            .map_err(|e| StoreError::Terms(e.to_string()))?;
        let bytes = codec::encode(openings);
        if bytes.len() > MAX_TERMS_BYTES {
            return Err(StoreError::Terms(format!(
                "they take {} bytes; at most {MAX_TERMS_BYTES} are kept",
                bytes.len()
            )));
        }
        let mut batch = WriteBatch::default();
        batch.put(key(&id), bytes);
        self.backend.commit(batch)?;
        Ok(terms)
    }

    /// The openings kept for payment `id`, if any.
    pub fn terms(&self, id: &Uetr) -> Result<Option<Openings>, StoreError> {
        let Some(bytes) = self.backend.get(&key(id))? else {
            return Ok(None);
        };
        codec::decode::<Openings, MAX_TERMS_BYTES>("payment terms", &bytes)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("the kept terms of payment {id}: {e}")))
    }

    /// Whether openings of payment `id` are kept (without reading them).
    pub fn has_terms(&self, id: &Uetr) -> Result<bool, StoreError> {
        Ok(self.backend.read(&key(id), |_| ())?.is_some())
    }

    /// Forgets the openings of payment `id`; whether there were any.
    pub fn erase_terms(&self, id: &Uetr) -> Result<bool, StoreError> {
        let had = self.has_terms(id)?;
        let mut batch = WriteBatch::default();
        batch.delete(key(id));
        self.backend.commit(batch)?;
        Ok(had)
    }
}
