//! AFL++ target `gossip_batch`: see `waybill_fuzz::gossip_batch`.

fn main() {
    afl::fuzz!(|data: &[u8]| waybill_fuzz::gossip_batch(data));
}
