//! AFL++ target `consensus`: see `waybill_fuzz::consensus`.

fn main() {
    afl::fuzz!(|data: &[u8]| waybill_fuzz::consensus(data));
}
