//! AFL++ target `checkpoint`: see `waybill_fuzz::checkpoint`.

fn main() {
    afl::fuzz!(|data: &[u8]| waybill_fuzz::checkpoint(data));
}
