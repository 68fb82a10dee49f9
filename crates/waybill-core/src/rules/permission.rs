//! Who may record what: the roles each kind of entry needs.

use super::error::RuleError;
use crate::entry::Body;
use crate::genesis::{MemberSpec, Role};

/// Refuses `body` unless `author` has one of the roles it needs.
pub(super) fn check_role(author: &MemberSpec, body: &Body) -> Result<(), RuleError> {
    let needed = permitted(body);
    if !needed.iter().any(|r| author.has(*r)) {
        return Err(RuleError::MissingRole {
            name: author.name.clone(),
            kind: body.kind(),
            needed: needed
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(" or "),
            has: roles_text(&author.roles),
        });
    }
    Ok(())
}

/// The roles any one of which lets a member record `body`.
fn permitted(body: &Body) -> &'static [Role] {
    const GOODS: &[Role] = &[
        Role::Producer,
        Role::Processor,
        Role::Carrier,
        Role::Distributor,
        Role::Retailer,
    ];
    match body {
        Body::Produce(p) if p.inputs.is_empty() => &[Role::Producer, Role::Processor],
        Body::Produce(_) => &[Role::Processor, Role::Producer],
        Body::ProduceV2(p) if p.produce.inputs.is_empty() => &[Role::Producer, Role::Processor],
        Body::ProduceV2(_) => &[Role::Processor, Role::Producer],
        Body::Dispatch(_)
        | Body::Receive(_)
        | Body::Reject(_)
        | Body::DispatchV2(_)
        | Body::ReceiveV2(_)
        | Body::Readings(_) => GOODS,
        Body::Handover(_) => &[Role::Carrier],
        Body::Payment(_) | Body::SealedPayment(_) => &[Role::Payer],
        Body::Membership(_) | Body::Governance(_) => &[Role::Admin],
        // Who may recall, lift or correct depends on the record (its
        // producer or author, a regulator, an admin quorum): the body's
        // own rules decide.
        // Only the payee may confirm, whatever its roles.
        Body::Recall(_)
        | Body::RecallLift(_)
        | Body::Correction(_)
        | Body::PaymentConfirmation(_) => &Role::ALL,
    }
}

/// `roles` as a list for a message ("no roles" when empty).
pub(super) fn roles_text(roles: &[Role]) -> String {
    if roles.is_empty() {
        "no roles".into()
    } else {
        roles
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}
