//! Entries: the signed records the ledger keeps.
//!
//! Bodies are extended, never repurposed: a new kind of record is a new
//! variant at the end of [`Body`], and a changed shape is a new versioned
//! variant, so old entries keep their bytes, ids and signatures.

use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};

use crate::codec::{self, CodecError, MAX_ENTRY_BYTES};
use crate::codes::{Country, Currency, Decimal3, HsCode, Incoterm, Uetr, UnitCode};
use crate::crypto::{self, BatchVerifier, CryptoError, Domain, Hash32, PublicKey, Signature};
use crate::genesis::{MemberSpec, Role};
use crate::geo::Plot;
use crate::governance::GovernanceEntry;
use crate::gs1::{Gln, Gtin, LotId, ShipmentId};
use crate::sensor::Series;
use crate::terms::{PaymentConfirmation, SealedPayment};
pub use crate::terms::{PaymentMethod, PaymentStatus, Settlement};
use crate::transport::Transport;

/// The entry format version this code writes and accepts.
pub const ENTRY_VERSION: u16 = 1;

/// An entry id: SHA-256 of the canonical bytes of the [`SignedEntry`].
pub type EntryId = Hash32;

/// One record, as its author signs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Format version ([`ENTRY_VERSION`]).
    pub version: u16,
    /// The chain this entry is for (hash of the genesis).
    pub chain_id: Hash32,
    /// The author's public key; must be an active member.
    pub author: PublicKey,
    /// The author's sequence number: exactly one more than their last.
    pub nonce: u64,
    /// When the author says the event happened (ms since the Unix epoch).
    /// Shown, never trusted for ordering.
    pub recorded_at_ms: i64,
    /// What is recorded.
    pub body: Body,
}

/// An entry with its author's signature and any co-signatures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedEntry {
    /// The entry.
    pub entry: Entry,
    /// The author's signature over `Domain::Entry || canonical(entry)`.
    pub signature: Signature,
    /// Co-signatures over `Domain::Cosign || canonical(entry)`, sorted by
    /// key, without duplicates and without the author.
    pub cosignatures: Vec<Cosignature>,
}

/// One co-signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cosignature {
    /// Who co-signs.
    pub signer: PublicKey,
    /// Their signature.
    pub signature: Signature,
}

/// What an entry records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Body {
    /// A lot comes into being.
    Produce(Produce),
    /// Custody of lots leaves the author in a shipment.
    Dispatch(Dispatch),
    /// The consignee, or the named carrier taking over, accepts a shipment.
    Receive(Receive),
    /// The consignee or carrier refuses a shipment; custody returns to the sender.
    Reject(Reject),
    /// A cross-border payment record.
    Payment(Payment),
    /// An admin change to the membership, co-signed by an admin quorum.
    Membership(MembershipChange),
    /// A production with plots and regulatory facts ([`Produce`] and more).
    ProduceV2(ProduceV2),
    /// A dispatch of whole lots or parts of them, with transport facts.
    DispatchV2(DispatchV2),
    /// A receipt stating what arrived, and any shortfall with its cause.
    ReceiveV2(ReceiveV2),
    /// A shipment passes from one carrier to the next; the next carrier
    /// co-signs.
    Handover(Handover),
    /// Sensor readings taken on a shipment.
    Readings(Readings),
    /// Lots are recalled or withdrawn from the market.
    Recall(Recall),
    /// A recall is lifted by its author.
    RecallLift(RecallLift),
    /// An earlier entry is declared erroneous; the original stays.
    Correction(Correction),
    /// A change to the consortium (members, keys, prefixes, admin quorum,
    /// validators) scheduled for a later height, co-signed by an admin
    /// quorum.
    Governance(GovernanceEntry),
    /// A cross-border payment with its terms sealed ([`crate::terms`]).
    SealedPayment(SealedPayment),
    /// The payee confirms a sealed payment.
    PaymentConfirmation(PaymentConfirmation),
}

impl Body {
    /// Every document and certificate the entry references, in field
    /// order.
    pub fn doc_refs(&self) -> Vec<&DocRef> {
        fn produce(p: &Produce) -> Vec<&DocRef> {
            p.certificates.iter().chain(&p.documents).collect()
        }
        match self {
            Body::Produce(p) => produce(p),
            Body::ProduceV2(p) => produce(&p.produce),
            Body::Dispatch(d) => d.documents.iter().collect(),
            Body::DispatchV2(d) => d.documents.iter().collect(),
            Body::Receive(r) => r.documents.iter().collect(),
            Body::ReceiveV2(r) => r.documents.iter().collect(),
            Body::Handover(h) => h.documents.iter().collect(),
            Body::Recall(r) => r.documents.iter().collect(),
            Body::Reject(_)
            | Body::Payment(_)
            | Body::Membership(_)
            | Body::Readings(_)
            | Body::RecallLift(_)
            | Body::Correction(_)
            | Body::Governance(_)
            | Body::SealedPayment(_)
            | Body::PaymentConfirmation(_) => Vec::new(),
        }
    }

    /// A short name for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Body::Produce(_) => "produce",
            Body::Dispatch(_) => "dispatch",
            Body::Receive(_) => "receive",
            Body::Reject(_) => "reject",
            Body::Payment(_) => "payment",
            Body::Membership(_) => "membership",
            Body::ProduceV2(_) => "produce",
            Body::DispatchV2(_) => "dispatch",
            Body::ReceiveV2(_) => "receive",
            Body::Handover(_) => "handover",
            Body::Readings(_) => "readings",
            Body::Recall(_) => "recall",
            Body::RecallLift(_) => "recall lift",
            Body::Correction(_) => "correction",
            Body::Governance(_) => "governance",
            Body::SealedPayment(_) => "payment",
            Body::PaymentConfirmation(_) => "payment confirmation",
        }
    }
}

/// A reference to an off-chain document: only its digest is on the ledger,
/// salted by its author ([`crate::terms::document_digest`]; `waybill
/// record` always salts) so that a guessable document cannot be
/// recognised without the salt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocRef {
    /// The document's salted digest ([`crate::terms::document_digest`]).
    pub sha256: Hash32,
    /// IANA media type, e.g. `application/pdf`.
    pub media_type: String,
    /// Where the document can be fetched, if anywhere.
    pub uri: Option<String>,
    /// What it is, e.g. `fairtrade certificate`.
    pub label: Option<String>,
}

/// A product description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Product {
    /// The trade item's GTIN, if it has one.
    pub gtin: Option<Gtin>,
    /// A free product id when there is no GTIN (or as well).
    pub id: Option<String>,
    /// What it is, for people.
    pub description: String,
}

/// An amount of product with its UN/CEFACT unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quantity {
    /// How much (up to three decimals).
    pub value: Decimal3,
    /// UN/CEFACT Recommendation 20 unit code.
    pub unit: UnitCode,
}

/// A point on Earth in micro-degrees (WGS 84).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoPoint {
    /// Latitude × 10⁶, in [-90e6, 90e6].
    pub lat_micro: i32,
    /// Longitude × 10⁶, in [-180e6, 180e6].
    pub lon_micro: i32,
}

/// A place: a GLN, a country, a name, or any of these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Location {
    /// GS1 Global Location Number: under a GS1 company prefix of a party
    /// to the entry, or of no member (see `rules`, module `keys`).
    pub gln: Option<Gln>,
    /// ISO 3166-1 alpha-2 country.
    pub country: Option<Country>,
    /// A name for people, e.g. `Port of Buenaventura`.
    pub name: Option<String>,
    /// Coordinates.
    pub geo: Option<GeoPoint>,
}

/// A lot it was made from and how much of it was used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// The input lot; the author must hold it.
    pub lot: LotId,
    /// How much of it is consumed, in the input lot's unit.
    pub quantity: Decimal3,
}

/// A lot comes into being.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Produce {
    /// The new lot's id; must be unused.
    pub lot: LotId,
    /// What it is.
    pub product: Product,
    /// How much.
    pub quantity: Quantity,
    /// Where it was produced.
    pub origin: Location,
    /// When it was produced (ms since the Unix epoch, the author's claim).
    pub produced_at_ms: i64,
    /// Certificates (organic, fair trade, phytosanitary, …).
    pub certificates: Vec<DocRef>,
    /// Other documents.
    pub documents: Vec<DocRef>,
    /// Lots it was made from; they are consumed by the given quantities.
    pub inputs: Vec<Input>,
}

/// Custody leaves the author.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dispatch {
    /// Shipment id (an SSCC or a free id); must be unused.
    pub shipment: ShipmentId,
    /// The lots shipped; the author must hold each, none in transit.
    pub lots: Vec<LotId>,
    /// Who is to receive them (a member).
    pub consignee: PublicKey,
    /// Who carries them (a member with the carrier role), if recorded.
    pub carrier: Option<PublicKey>,
    /// Where from.
    pub from: Location,
    /// Where to.
    pub to: Location,
    /// Bill of lading, packing list, … as digests.
    pub documents: Vec<DocRef>,
}

/// A shipment is accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receive {
    /// The shipment.
    pub shipment: ShipmentId,
    /// Where it was received.
    pub at: Location,
    /// Receipt documents.
    pub documents: Vec<DocRef>,
}

/// A shipment is refused; custody returns to its sender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reject {
    /// The shipment.
    pub shipment: ShipmentId,
    /// Why, for people.
    pub reason: String,
}

/// Customs data for the goods paid for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Customs {
    /// Harmonized System codes of the goods.
    pub hs_codes: Vec<HsCode>,
    /// Digest of the customs declaration (salted: it names people).
    pub declaration_sha256: Option<Hash32>,
}

/// A cross-border payment record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payment {
    /// The payment's UETR (a UUID v4); must be unused.
    pub payment_id: Uetr,
    /// Who pays: must be the author.
    pub payer: PublicKey,
    /// Who is paid: a member.
    pub payee: PublicKey,
    /// Amount in the currency's minor units; more than zero.
    pub amount_minor: u64,
    /// ISO 4217 currency.
    pub currency: Currency,
    /// Settlement, when converted.
    pub settlement: Option<Settlement>,
    /// Incoterms 2020 rule of the sale.
    pub incoterm: Incoterm,
    /// The shipments paid for; each must exist.
    pub shipments: Vec<ShipmentId>,
    /// Customs data.
    pub customs: Option<Customs>,
    /// How it was paid.
    pub method: PaymentMethod,
    /// Its state.
    pub status: PaymentStatus,
}

/// A change to the membership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MembershipChange {
    /// A new member.
    Add(MemberSpec),
    /// A member leaves; its key signs nothing after this block.
    Remove {
        /// The member's key.
        public_key: PublicKey,
    },
    /// A member replaces its key; the old key signs nothing after this block.
    RotateKey {
        /// The current key.
        old: PublicKey,
        /// The new key.
        new: PublicKey,
    },
    /// A member's roles change.
    SetRoles {
        /// The member's key.
        public_key: PublicKey,
        /// The new roles.
        roles: Vec<Role>,
    },
}

/// The key data elements of the FDA food traceability rule (21 CFR 1
/// subpart S) that an entry carries when the member supplies them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kdes {
    /// The reference document the event is recorded on.
    pub reference_document: Option<ReferenceDocument>,
    /// Where the traceability lot code was assigned (its source).
    pub tlc_source: Option<Location>,
}

/// The kind of a reference document, as the FDA rule lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferenceDocumentType {
    /// Bill of lading.
    BillOfLading,
    /// Invoice.
    Invoice,
    /// Purchase order.
    PurchaseOrder,
    /// Advance shipping notice.
    AdvanceShippingNotice,
    /// Production or work order.
    WorkOrder,
    /// Any other document.
    Other,
}

impl ReferenceDocumentType {
    /// Every type.
    pub const ALL: [ReferenceDocumentType; 6] = [
        ReferenceDocumentType::BillOfLading,
        ReferenceDocumentType::Invoice,
        ReferenceDocumentType::PurchaseOrder,
        ReferenceDocumentType::AdvanceShippingNotice,
        ReferenceDocumentType::WorkOrder,
        ReferenceDocumentType::Other,
    ];

    /// The type's name in entries and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            ReferenceDocumentType::BillOfLading => "bill_of_lading",
            ReferenceDocumentType::Invoice => "invoice",
            ReferenceDocumentType::PurchaseOrder => "purchase_order",
            ReferenceDocumentType::AdvanceShippingNotice => "advance_shipping_notice",
            ReferenceDocumentType::WorkOrder => "work_order",
            ReferenceDocumentType::Other => "other",
        }
    }
}

/// A reference document's type and number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceDocument {
    /// What kind of document.
    pub kind: ReferenceDocumentType,
    /// Its number.
    pub number: String,
}

/// What a producer declares about where and when a lot was grown, as the
/// EU deforestation regulation asks for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlotFacts {
    /// The plots it was grown on (at least one).
    pub plots: Vec<Plot>,
    /// First day of harvest (ms since the Unix epoch).
    pub harvest_start_ms: i64,
    /// Last day of harvest.
    pub harvest_end_ms: i64,
    /// The producer declares no deforestation on these plots after
    /// 31 December 2020.
    pub deforestation_free: bool,
    /// The due-diligence statement's reference number, if filed.
    pub due_diligence_ref: Option<String>,
}

/// A production with plots and regulatory facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProduceV2 {
    /// The production itself, as a [`Produce`] records it.
    pub produce: Produce,
    /// Plots, harvest and deforestation declaration.
    pub plots: Option<PlotFacts>,
    /// FDA key data elements.
    pub kdes: Kdes,
}

/// A lot, or part of it, in a shipment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShippedLot {
    /// The lot.
    pub lot: LotId,
    /// How much of it; `None` ships all the sender holds. In the lot's
    /// unit or one that converts to it exactly (kg and t, l and ml).
    pub quantity: Option<Quantity>,
}

/// Custody of lots, or parts of them, leaves the author.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispatchV2 {
    /// Shipment id (an SSCC or a free id); must be unused.
    pub shipment: ShipmentId,
    /// What is shipped; the author must hold it, and the rest of each lot
    /// stays with the author.
    pub lots: Vec<ShippedLot>,
    /// Who is to receive them (a member).
    pub consignee: PublicKey,
    /// Who carries the first leg (a member with the carrier role).
    pub carrier: Option<PublicKey>,
    /// Where from.
    pub from: Location,
    /// Where to.
    pub to: Location,
    /// Documents as digests.
    pub documents: Vec<DocRef>,
    /// The first leg's transport facts.
    pub transport: Transport,
    /// FDA key data elements.
    pub kdes: Kdes,
}

/// Why part of a shipment did not arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossCause {
    /// Missing: fewer arrived than were sent.
    Shortage,
    /// Arrived damaged and is not taken into stock.
    Damage,
    /// Spoiled in transit.
    Spoilage,
    /// Stolen.
    Theft,
    /// Anything else (say what in the note).
    Other,
}

impl LossCause {
    /// Every cause.
    pub const ALL: [LossCause; 5] = [
        LossCause::Shortage,
        LossCause::Damage,
        LossCause::Spoilage,
        LossCause::Theft,
        LossCause::Other,
    ];

    /// The cause's name in entries and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            LossCause::Shortage => "shortage",
            LossCause::Damage => "damage",
            LossCause::Spoilage => "spoilage",
            LossCause::Theft => "theft",
            LossCause::Other => "other",
        }
    }
}

/// What did not arrive of a lot, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shortfall {
    /// How much.
    pub quantity: Quantity,
    /// Why.
    pub cause: LossCause,
    /// For people.
    pub note: Option<String>,
}

/// What arrived of one lot of a shipment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceivedLot {
    /// The lot.
    pub lot: LotId,
    /// How much arrived and is taken over.
    pub received: Quantity,
    /// What did not; `received` plus this must be what was shipped.
    pub shortfall: Option<Shortfall>,
}

/// A shipment is accepted, with what arrived of each lot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiveV2 {
    /// The shipment.
    pub shipment: ShipmentId,
    /// Where it was received.
    pub at: Location,
    /// Receipt documents.
    pub documents: Vec<DocRef>,
    /// Lots that did not arrive whole; every other lot of the shipment is
    /// received in full.
    pub lots: Vec<ReceivedLot>,
    /// The arriving leg's transport facts.
    pub transport: Transport,
    /// FDA key data elements.
    pub kdes: Kdes,
}

/// A shipment passes from the carrier holding it (the author) to the next
/// carrier, who co-signs the entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Handover {
    /// The shipment.
    pub shipment: ShipmentId,
    /// The next carrier (a member with the carrier role); must co-sign.
    pub to: PublicKey,
    /// Where it changes hands (a port, a hub).
    pub at: Location,
    /// The next leg's transport facts.
    pub transport: Transport,
    /// Documents as digests.
    pub documents: Vec<DocRef>,
}

/// Sensor readings taken on a shipment, recorded by its sender, the
/// carrier holding it when they are recorded, or its consignee (an
/// earlier carrier hands its logger's data to one of them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Readings {
    /// The shipment.
    pub shipment: ShipmentId,
    /// One series per device and measure.
    pub series: Vec<Series>,
}

/// A recall or a market withdrawal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecallClass {
    /// The product may harm: take it back from everyone, consumers too.
    Recall,
    /// Take it off the market (a quality or labelling problem).
    Withdrawal,
}

impl RecallClass {
    /// The class's name in entries and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            RecallClass::Recall => "recall",
            RecallClass::Withdrawal => "withdrawal",
        }
    }
}

/// Lots are recalled or withdrawn. By the lots' producer, a member with
/// the regulator or quality role, or any member with an admin quorum's
/// co-signatures. It reaches every lot made from them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recall {
    /// The lots (at least one).
    pub lots: Vec<LotId>,
    /// Recall or withdrawal.
    pub class: RecallClass,
    /// Why, for people.
    pub reason: String,
    /// What it covers, for people (e.g. `all packs best before 2027-03`).
    pub scope: String,
    /// Notices, lab reports, … as digests.
    pub documents: Vec<DocRef>,
}

/// A recall is lifted by its author (or an admin quorum).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecallLift {
    /// The recall entry.
    pub recall: EntryId,
    /// The lots it named, each of which it lifts.
    pub lots: Vec<LotId>,
    /// Why, for people.
    pub reason: String,
}

/// What a correction corrects: the record the erroneous entry made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Corrected {
    /// A lot whose production was recorded wrongly: it is voided and its
    /// inputs go back to the author.
    Lot(LotId),
    /// A shipment dispatched wrongly, before anyone took it over: it is
    /// cancelled and its lots go back to the sender.
    Shipment(ShipmentId),
    /// A payment recorded wrongly: it is struck out.
    Payment(Uetr),
    /// The latest custody step of a shipment recorded wrongly (its first
    /// carrier's take-over, a handover between carriers, or the
    /// consignee's receipt), while nothing has been built on it: the
    /// parts go back in transit with the previous custodian, what it
    /// recorded as lost is restored, and the step can be recorded again.
    /// (Appended last: the variants before keep their encoding.)
    Receipt(ShipmentId),
    /// A readings entry on a shipment recorded wrongly (a logger of
    /// another shipment, a wrong range): it is struck, and the excursions
    /// it counted are taken off the shipment's lots.
    Readings(ShipmentId),
}

/// An earlier entry is declared erroneous, by its author (or an admin
/// quorum). The original stays in the chain; the rules replay custody and
/// quantities without it, and lookups show it struck through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Correction {
    /// The erroneous entry.
    pub target: EntryId,
    /// The record it made.
    pub corrected: Corrected,
    /// Why, for people.
    pub reason: String,
    /// Entries that record what should have been recorded, if any.
    pub corrective: Vec<EntryId>,
}

impl Entry {
    /// Canonical bytes of the entry (what the author signs).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Signs the entry as its author.
    pub fn sign(self, key: &SigningKey) -> SignedEntry {
        let signature = crypto::sign(key, Domain::Entry, &self.canonical_bytes());
        SignedEntry {
            entry: self,
            signature,
            cosignatures: Vec::new(),
        }
    }
}

/// Why a signed entry's signatures or shape are wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The author's key is not a valid key.
    #[error("the author key {0} is not a valid ed25519 key")]
    BadAuthorKey(PublicKey),
    /// The author's signature does not verify.
    #[error("the author's signature does not verify (the entry was changed after signing, or signed by another key)")]
    BadSignature,
    /// A co-signature does not verify.
    #[error("the co-signature of {0} does not verify")]
    BadCosignature(PublicKey),
    /// Co-signatures must be sorted by key with no duplicates.
    #[error("co-signatures must be sorted by key, each key once, and must not include the author")]
    CosignatureOrder,
}

/// A signed entry with its canonical bytes, encoded once, and its id (the
/// hash of those bytes). The fields are private, so the bytes are always
/// the entry's: paths that need the bytes, the signed message and the id
/// (a submission is verified, pooled and gossiped) encode it only here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedEntry {
    entry: SignedEntry,
    bytes: Vec<u8>,
    message_len: usize,
    id: EntryId,
}

impl EncodedEntry {
    /// Encodes `entry`.
    pub fn new(entry: SignedEntry) -> Self {
        // The message its signatures cover is a prefix of the bytes.
        let mut bytes = Vec::with_capacity(codec::encoded_len(&entry));
        let message_len = entry.append_canonical(&mut bytes);
        EncodedEntry {
            id: Hash32::digest(&bytes),
            entry,
            bytes,
            message_len,
        }
    }

    /// The entry.
    pub fn entry(&self) -> &SignedEntry {
        &self.entry
    }

    /// The entry, without its bytes.
    pub fn into_entry(self) -> SignedEntry {
        self.entry
    }

    /// Its canonical bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The canonical bytes of the unsigned entry: what its signatures
    /// cover.
    pub fn message(&self) -> &[u8] {
        self.bytes.get(..self.message_len).unwrap_or_default()
    }

    /// The entry id.
    pub fn id(&self) -> EntryId {
        self.id
    }

    /// The length of its canonical bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Never true: an encoded entry has bytes. (For the `len` convention.)
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Queues its signatures, as [`SignedEntry::queue_signatures`] does,
    /// over the bytes at hand.
    pub fn queue_signatures(&self, batch: &mut BatchVerifier) -> Result<(), SignatureError> {
        self.entry.queue_signatures_over(batch, self.message())
    }
}

/// Queues every signature of `entries` in `batch`, with one verdict each
/// so far. An entry refused before any curve arithmetic (co-signature
/// order) gets the one-at-a-time check's verdict at once, which names the
/// same problem or the author's signature before it. Once `batch` is
/// verified, [`settle_each`] gives the final verdicts.
pub fn queue_each(
    entries: &[EncodedEntry],
    batch: &mut BatchVerifier,
) -> Vec<Result<(), SignatureError>> {
    entries
        .iter()
        .map(|e| {
            e.queue_signatures(batch)
                .or_else(|_| e.entry().verify_signatures())
        })
        .collect()
}

/// The verdicts of [`queue_each`] once the batch is verified: as they are
/// if it passed (`batch_ok`), else each entry still passing is checked on
/// its own (a bad signature anywhere in the batch fails it). Either way,
/// exactly [`SignedEntry::verify_signatures`]'s verdict on each entry.
pub fn settle_each(
    entries: &[EncodedEntry],
    verdicts: &mut [Result<(), SignatureError>],
    batch_ok: bool,
) {
    if batch_ok {
        return;
    }
    for (v, e) in verdicts.iter_mut().zip(entries) {
        if v.is_ok() {
            *v = e.entry().verify_signatures();
        }
    }
}

/// What one encoding of a signed entry gives (see [`SignedEntry::encoded`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// The entry id: the hash of the whole signed encoding.
    pub id: EntryId,
    /// The unsigned entry's canonical bytes, which its signatures cover.
    pub message: Vec<u8>,
    /// The length of the whole signed encoding (for the size rule).
    pub len: usize,
}

impl SignedEntry {
    /// Canonical bytes of the signed entry.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes untrusted canonical bytes.
    pub fn from_canonical_bytes(bytes: &[u8]) -> Result<Self, CodecError> {
        codec::decode::<Self, MAX_ENTRY_BYTES>("entry", bytes)
    }

    /// The entry id.
    pub fn id(&self) -> EntryId {
        Hash32::digest(&self.canonical_bytes())
    }

    /// The entry id, the canonical bytes of the unsigned entry (what its
    /// signatures cover) and the encoded length, from one encoding of the
    /// entry: the signed encoding is the entry's followed by the
    /// signature's and the co-signatures' (fields in order, no framing).
    pub fn encoded(&self) -> Encoded {
        self.encode_into(&mut Vec::with_capacity(codec::encoded_len(self)))
    }

    /// Appends the entry's canonical bytes to `out` (as when encoding a
    /// block) and gives its [`Encoded`] parts, read from what was appended.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Encoded {
        let start = out.len();
        let message_end = self.append_canonical(out);
        let whole = out.get(start..).unwrap_or_default();
        Encoded {
            id: Hash32::digest(whole),
            message: out.get(start..message_end).unwrap_or_default().to_vec(),
            len: whole.len(),
        }
    }

    /// Appends the entry's canonical bytes to `out`: the unsigned entry's,
    /// then the signature's and co-signatures' (fields in order, no
    /// framing). Returns where the unsigned part, the signed message, ends.
    fn append_canonical(&self, out: &mut Vec<u8>) -> usize {
        codec::encode_append(out, &self.entry);
        let message_end = out.len();
        codec::encode_append(out, &(&self.signature, &self.cosignatures));
        message_end
    }

    /// Adds a co-signature, keeping the list sorted.
    pub fn cosign(&mut self, key: &SigningKey) {
        let signer = crypto::public_key(key);
        if signer == self.entry.author {
            return;
        }
        let signature = crypto::sign(key, Domain::Cosign, &self.entry.canonical_bytes());
        self.cosignatures.retain(|c| c.signer != signer);
        self.cosignatures.push(Cosignature { signer, signature });
        self.cosignatures.sort_by_key(|c| c.signer);
    }

    /// Queues the author's signature and every co-signature in `batch`,
    /// after the checks that need no curve arithmetic (co-signature order).
    pub fn queue_signatures(&self, batch: &mut BatchVerifier) -> Result<(), SignatureError> {
        self.queue_signatures_over(batch, &self.entry.canonical_bytes())
    }

    /// [`SignedEntry::queue_signatures`] with the entry's canonical bytes
    /// already at hand (see [`SignedEntry::encoded`]).
    pub fn queue_signatures_over(
        &self,
        batch: &mut BatchVerifier,
        bytes: &[u8],
    ) -> Result<(), SignatureError> {
        batch.queue(&self.entry.author, Domain::Entry, bytes, &self.signature);
        let mut prev: Option<&PublicKey> = None;
        for c in &self.cosignatures {
            if c.signer == self.entry.author || prev.is_some_and(|p| p >= &c.signer) {
                return Err(SignatureError::CosignatureOrder);
            }
            prev = Some(&c.signer);
            batch.queue(&c.signer, Domain::Cosign, bytes, &c.signature);
        }
        Ok(())
    }

    /// Checks the author's signature and every co-signature.
    pub fn verify_signatures(&self) -> Result<(), SignatureError> {
        let bytes = self.entry.canonical_bytes();
        self.entry
            .author
            .verify(Domain::Entry, &bytes, &self.signature)
            .map_err(|e| match e {
                CryptoError::BadPublicKey(_) => SignatureError::BadAuthorKey(self.entry.author),
                _ => SignatureError::BadSignature,
            })?;
        let mut prev: Option<&PublicKey> = None;
        for c in &self.cosignatures {
            if c.signer == self.entry.author || prev.is_some_and(|p| p >= &c.signer) {
                return Err(SignatureError::CosignatureOrder);
            }
            prev = Some(&c.signer);
            c.signer
                .verify(Domain::Cosign, &bytes, &c.signature)
                .map_err(|_| SignatureError::BadCosignature(c.signer))?;
        }
        Ok(())
    }
}

/// Verifies every signature of `entries` in one batch, with exactly the
/// verdict of [`SignedEntry::verify_signatures`] on each. On a failure the
/// entries are checked one by one, and the first bad one is named by its
/// index. `rng` supplies the batch's random coefficients.
pub fn verify_batch<R: rand_core::RngCore + rand_core::CryptoRng>(
    entries: &[SignedEntry],
    rng: R,
) -> Result<(), (usize, SignatureError)> {
    let messages: Vec<Vec<u8>> = entries.iter().map(|e| e.entry.canonical_bytes()).collect();
    let pairs: Vec<(&SignedEntry, &[u8])> = entries
        .iter()
        .zip(&messages)
        .map(|(e, m)| (e, m.as_slice()))
        .collect();
    verify_batch_over(&pairs, rng)
}

/// [`verify_batch`] over borrowed entries, each with its canonical
/// unsigned bytes (from [`SignedEntry::encoded`]).
pub fn verify_batch_over<R: rand_core::RngCore + rand_core::CryptoRng>(
    entries: &[(&SignedEntry, &[u8])],
    rng: R,
) -> Result<(), (usize, SignatureError)> {
    let mut batch = BatchVerifier::new();
    for (i, (e, message)) in entries.iter().enumerate() {
        e.queue_signatures_over(&mut batch, message)
            .map_err(|err| (i, err))?;
    }
    if batch.verify(rng).is_ok() {
        return Ok(());
    }
    for (i, (e, _)) in entries.iter().enumerate() {
        e.verify_signatures().map_err(|err| (i, err))?;
    }
    Ok(())
}
