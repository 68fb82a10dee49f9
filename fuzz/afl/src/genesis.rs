//! AFL++ target `genesis`: see `waybill_fuzz::genesis`.

fn main() {
    afl::fuzz!(|data: &[u8]| waybill_fuzz::genesis(data));
}
