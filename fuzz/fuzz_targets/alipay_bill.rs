//! Fuzzes Alipay's trade bill reader. An odd first byte feeds the rest as the detail CSV (GBK,
//! `#` comment lines, a header read by name); an even one as the whole ZIP archive. Any bytes
//! give lines or an error naming the line and the field, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paygate::providers::alipay::bill::{read_detail, read_zip};
use std::io::Cursor;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let mut lines = 0u64;
    let mut each = |_item| {
        lines += 1;
        Ok(())
    };
    let _ = if mode & 1 == 1 { read_detail(Cursor::new(rest), &mut each) } else { read_zip(Cursor::new(rest), each) };
});
