//! AFL++ target `key_proof`: see `waybill_fuzz::key_proof`.

fn main() {
    afl::fuzz!(|data: &[u8]| waybill_fuzz::key_proof(data));
}
