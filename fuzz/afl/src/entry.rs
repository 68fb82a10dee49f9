//! AFL++ target `entry`: see `waybill_fuzz::entry`.

fn main() {
    afl::fuzz!(|data: &[u8]| waybill_fuzz::entry(data));
}
