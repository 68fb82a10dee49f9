//! The fixed chain the targets check against: the test kit's consortium
//! (four validators, powers 40/30/20/10), its genesis, and a first block
//! with a commit certificate. The seed corpora are made from the same
//! values, so seeds pass the checks and mutations of them probe each one.

use std::sync::OnceLock;

use waybill_consensus::WaybillCtx;
use waybill_core::block::{Block, CommitCertificate};
use waybill_core::genesis::{ChainId, Genesis};
use waybill_testkit::certs::commit_certificate;
use waybill_testkit::workload::{workload_mix, Mix};
use waybill_testkit::{Consortium, T0};

/// The fixed chain.
#[derive(Debug)]
pub struct Fixture {
    /// The consortium: its parties sign the seeds.
    pub consortium: Consortium,
    /// Its genesis.
    pub genesis: Genesis,
    /// Its chain id.
    pub chain_id: ChainId,
    /// Block 1: valid entries of several kinds, proposed by the first
    /// validator.
    pub block: Block,
    /// A certificate for block 1 from the first three validators (90 of
    /// 100 voting power).
    pub certificate: CommitCertificate,
    /// The consensus context of the chain.
    pub ctx: WaybillCtx,
}

/// Seed of the workload that fills block 1.
const WORKLOAD_SEED: u64 = 27;

/// The fixed chain, made once per process.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let consortium = Consortium::new();
        let genesis = consortium.genesis.clone();
        let chain_id = consortium.chain_id();
        let entries = workload_mix(&consortium, WORKLOAD_SEED, 6, Mix::Consortium);
        let block = Block::seal(
            chain_id,
            None,
            T0 + 60_000,
            consortium.validator.pk,
            entries,
        );
        let certificate = commit_certificate(&consortium, &block.header, &[0, 1, 2]);
        Fixture {
            ctx: WaybillCtx { chain_id },
            consortium,
            genesis,
            chain_id,
            block,
            certificate,
        }
    })
}
