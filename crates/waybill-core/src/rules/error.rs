//! Why an entry is refused: [`RuleError`], one variant per broken rule.
//!
//! The messages are what a member sees when an entry is refused, so each
//! one says what to fix.

use crate::codec::MAX_ENTRY_BYTES;
use crate::codes::{Decimal3, Uetr};
use crate::crypto::PublicKey;
use crate::entry::{SignatureError, ENTRY_VERSION};
use crate::gs1::{CompanyPrefix, Gln, Gtin, LotId, ShipmentId, Sscc};

/// Why an entry is refused. Each variant says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// Unknown entry format.
    #[error(
        "entry format version {got} is not supported (this node accepts version {ENTRY_VERSION})"
    )]
    UnsupportedVersion {
        /// The entry's version.
        got: u16,
    },
    /// Signed for another chain.
    #[error("the entry is for chain {got}, but this ledger is chain {expected}; sign it with this chain's genesis")]
    WrongChain {
        /// This chain.
        expected: String,
        /// The entry's.
        got: String,
    },
    /// The entry is too big.
    #[error("the entry is {0} bytes; entries may be at most {MAX_ENTRY_BYTES} bytes")]
    TooLarge(usize),
    /// A field is out of bounds.
    #[error("{0}")]
    BadField(String),
    /// Signatures.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// The author is not a member.
    #[error("the author {0} is not a member of this chain")]
    UnknownAuthor(PublicKey),
    /// The author is a member scheduled to join at a later height.
    #[error("the author {key} is not a member of this chain yet: a governance entry adds it as `{name}` from height {height}; its entries go in blocks of that height or later")]
    NotYetMember {
        /// The author's key.
        key: PublicKey,
        /// The name it joins under.
        name: String,
        /// The height it joins at.
        height: u64,
    },
    /// The author is a node key: it connects to the networks, it signs
    /// no entry.
    #[error("the key {key} is a node key of `{name}`: a node key lets a node connect but signs no entry; sign with the member's own key")]
    NodeKeySigned {
        /// The node key.
        key: PublicKey,
        /// The member it belongs to.
        name: String,
    },
    /// The author's key was removed or rotated out.
    #[error("the key {key} of `{name}` was removed or rotated out at height {height} and can sign nothing after it")]
    AuthorRemoved {
        /// Member name.
        name: String,
        /// Key.
        key: PublicKey,
        /// Height.
        height: u64,
    },
    /// The author lacks the role.
    #[error(
        "`{name}` may not record a {kind} entry: that needs the role {needed}, and it has {has}"
    )]
    MissingRole {
        /// Member name.
        name: String,
        /// Entry kind.
        kind: &'static str,
        /// Roles that would permit it.
        needed: String,
        /// Roles it has.
        has: String,
    },
    /// The nonce was used already.
    #[error("nonce {got} of `{name}` was already used (a replay?); the next nonce is {expected}")]
    NonceReplayed {
        /// Member name.
        name: String,
        /// Given.
        got: u64,
        /// Expected.
        expected: u64,
    },
    /// The nonce skips ahead.
    #[error("nonce {got} of `{name}` skips ahead; the next nonce is {expected} (submit the missing entries first)")]
    NonceGap {
        /// Member name.
        name: String,
        /// Given.
        got: u64,
        /// Expected.
        expected: u64,
    },
    /// A lot id is taken.
    #[error("lot {0} already exists; lot ids are used once")]
    LotExists(LotId),
    /// A GTIN the author records (a lot's or its product's) outside its
    /// GS1 company prefixes.
    #[error("GTIN {gtin} is not under a GS1 company prefix of `{member}` ({prefixes}){owner}; a member records only products under its own prefixes, and one without a prefix records free lot ids without a GTIN")]
    ForeignGtin {
        /// The GTIN.
        gtin: Gtin,
        /// Member name.
        member: String,
        /// Its prefixes (`it has none` when empty).
        prefixes: String,
        /// `, but under prefix P of `M`` when another member owns it.
        owner: String,
    },
    /// An SSCC (a lot's or a shipment's id) outside the prefixes of
    /// those who may mint it.
    #[error("SSCC {sscc} ({usage}) is not under a GS1 company prefix of {allowed}{owner}; {hint}")]
    ForeignSscc {
        /// The SSCC.
        sscc: Sscc,
        /// What it identifies: `lot id` or `shipment id`.
        usage: &'static str,
        /// Who may mint it, with their prefixes.
        allowed: String,
        /// `, but under prefix P of `M`` when another member owns it.
        owner: String,
        /// What to do instead.
        hint: &'static str,
    },
    /// A place's GLN under the prefix of a member that is no party to
    /// the entry.
    #[error("GLN {gln} ({place}) lies under GS1 company prefix {prefix} of `{owner}`, which is not {parties}; name a place of theirs, or one under no member's prefix (a public port, say)")]
    ForeignGln {
        /// The GLN.
        gln: Gln,
        /// Which place of the entry (`from`, `to`, `at`, `origin`,
        /// `tlc_source`).
        place: &'static str,
        /// The prefix it lies under.
        prefix: CompanyPrefix,
        /// The member that owns the prefix.
        owner: String,
        /// Whose places the entry may name.
        parties: &'static str,
    },
    /// An unknown lot.
    #[error("lot {0} does not exist on this ledger")]
    UnknownLot(LotId),
    /// A lot listed twice.
    #[error("lot {0} is listed twice in one entry")]
    DuplicateLot(LotId),
    /// The author does not hold the lot.
    #[error("`{author}` does not hold lot {lot}; its custodian is `{custodian}`")]
    NotCustodian {
        /// The lot.
        lot: LotId,
        /// The author's name.
        author: String,
        /// The custodian's name.
        custodian: String,
    },
    /// The lot is in transit.
    #[error("lot {lot} is in transit in shipment {shipment}; it must be received first")]
    LotInTransit {
        /// The lot.
        lot: LotId,
        /// Its shipment.
        shipment: ShipmentId,
    },
    /// The lot was consumed.
    #[error("lot {0} was consumed as an input and no longer exists as goods")]
    LotConsumed(LotId),
    /// Not enough of a lot left.
    #[error("lot {lot} has {have} left, less than the {want} to be consumed")]
    InsufficientQuantity {
        /// The lot.
        lot: LotId,
        /// Left.
        have: Decimal3,
        /// Wanted.
        want: Decimal3,
    },
    /// A shipment id is taken.
    #[error("shipment {0} already exists; shipment ids are used once")]
    ShipmentExists(ShipmentId),
    /// An unknown shipment.
    #[error("shipment {0} does not exist on this ledger")]
    UnknownShipment(ShipmentId),
    /// A counterparty is not an active member with a suitable role.
    #[error("{what} {key} {problem}")]
    BadCounterparty {
        /// Which party.
        what: &'static str,
        /// Its key.
        key: PublicKey,
        /// What is wrong.
        problem: String,
    },
    /// The shipment is closed.
    #[error("shipment {shipment} is already {stage}; it cannot be received or rejected again")]
    ShipmentClosed {
        /// The shipment.
        shipment: ShipmentId,
        /// Its stage.
        stage: &'static str,
    },
    /// Received or rejected by the wrong member.
    #[error("`{author}` cannot {action} shipment {shipment}: only its consignee `{consignee}`{carrier} can")]
    NotConsignee {
        /// The shipment.
        shipment: ShipmentId,
        /// What was attempted.
        action: &'static str,
        /// The author's name.
        author: String,
        /// The consignee's name.
        consignee: String,
        /// ` or carrier …`, when there is one.
        carrier: String,
    },
    /// The payer is not the author.
    #[error("the payer of a payment must be its author; record it with the payer's key")]
    PayerNotAuthor,
    /// A payment id is taken.
    #[error("payment {0} is already recorded; UETRs are used once")]
    PaymentExists(Uetr),
    /// A payment with its terms in the clear.
    #[error("a payment's terms must be sealed (amount, currency, rate and references committed, not written out); record it with `waybill record pay`")]
    PlainPayment,
    /// A sealed payment's terms are malformed.
    #[error("{0}")]
    Terms(#[from] crate::terms::TermsError),
    /// A payment that is not on the ledger.
    #[error("payment {0} is not recorded on this ledger")]
    UnknownPayment(Uetr),
    /// A confirmation the rules refuse.
    #[error("payment {payment} cannot be confirmed: {problem}")]
    Confirmation {
        /// The payment.
        payment: Uetr,
        /// Why not.
        problem: String,
    },
    /// Too few admins signed.
    #[error("a membership or governance change needs {need} admin signatures (of {admins} admins) but has {have}; collect co-signatures with `waybill cosign`")]
    AdminQuorum {
        /// Needed.
        need: usize,
        /// Valid admin signatures.
        have: usize,
        /// Active admins.
        admins: usize,
    },
    /// A co-signer is not an active admin.
    #[error("co-signer {0} is not an active admin")]
    CosignerNotAdmin(PublicKey),
    /// Co-signatures on an entry that takes none.
    #[error(
        "only membership and governance changes, carrier handovers, recalls and corrections carry co-signatures"
    )]
    UnexpectedCosignatures,
    /// A membership change that does not fit the member table.
    #[error("{0}")]
    Membership(String),
    /// A governance change that cannot be scheduled.
    #[error("{0}")]
    Governance(String),
    /// The entry claims a time after its block's.
    #[error("recorded_at {recorded} lies after the time of the block that would commit it ({block}) by more than the allowed {skew_s} s of clock skew; record events when they have happened")]
    FromTheFuture {
        /// The entry's `recorded_at`, RFC 3339.
        recorded: String,
        /// The block's time, RFC 3339.
        block: String,
        /// The allowed skew in seconds.
        skew_s: i64,
    },
    /// The lot's production was corrected away.
    #[error("lot {lot} was voided by correction {correction}; it no longer exists as goods")]
    LotVoided {
        /// The lot.
        lot: LotId,
        /// The correction's short id.
        correction: String,
    },
    /// A quantity does not add up.
    #[error("{0}")]
    Quantity(String),
    /// A transformation's yield is outside the declared range.
    #[error("{0}")]
    Yield(String),
    /// A carrier handover without the next carrier's signature, or by the
    /// wrong carrier.
    #[error("{0}")]
    Handover(String),
    /// A recall or its lifting that the author may not record.
    #[error("{0}")]
    Recall(String),
    /// A correction that is not the author's to make or cannot be made.
    #[error("{0}")]
    Correction(String),
}
