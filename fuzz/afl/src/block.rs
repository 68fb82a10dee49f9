//! AFL++ target `block`: see `waybill_fuzz::block`.

fn main() {
    afl::fuzz!(|data: &[u8]| waybill_fuzz::block(data));
}
