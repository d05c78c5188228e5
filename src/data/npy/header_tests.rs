//! The header parser on NumPy's own headers and on bad ones.

use super::*;

fn npy(dict: &str) -> Vec<u8> {
    let mut b = MAGIC.to_vec();
    b.extend_from_slice(&[1, 0]);
    b.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    b.extend_from_slice(dict.as_bytes());
    b
}

#[test]
fn numpys_own_headers_parse() {
    let h = parse(&npy("{'descr': '<f4', 'fortran_order': False, 'shape': (150, 4), }          \n")).unwrap();
    assert_eq!((h.dtype.kind, h.dtype.size, h.dtype.big_endian, h.fortran), (Kind::Float, 4, false, false));
    assert_eq!((h.shape.clone(), h.data_len, h.shape_text()), (vec![150, 4], 2400, "(150, 4)".to_string()));
    let h = parse(&npy("{\"descr\":\">i8\",\"fortran_order\":True,\"shape\":(3L,)}\n")).unwrap();
    assert_eq!((h.dtype.kind, h.dtype.big_endian, h.fortran, h.shape_text()), (Kind::Int, true, true, "(3,)".into()));
    assert_eq!(parse(&npy("{'descr': '|b1', 'fortran_order': False, 'shape': ()}")).unwrap().data_len, 1);
}

#[test]
fn bad_headers_say_what_is_wrong() {
    let err = |d: &str| parse(&npy(d)).unwrap_err().1;
    assert!(err("{'descr': '<c16', 'fortran_order': False, 'shape': (2,)}").contains("complex"));
    assert!(err("{'descr': '|O', 'fortran_order': False, 'shape': (2,)}").contains("Python objects"));
    assert!(err("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,)}").contains("structured"));
    assert!(err("{'descr': '<f4', 'fortran_order': 0, 'shape': (2,)}").contains("True or False"));
    assert!(err("{'descr': '<f4', 'fortran_order': False}").contains("no \"shape\""));
    assert!(err("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': ()}").contains("twice"));
    assert!(err("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}").contains("unknown key"));
    assert!(err("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} junk").contains("after the header"));
    assert!(err("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296)}").contains("more bytes"));
    assert!(err(&"[".repeat(100)).contains("expected '{'"));
    assert!(err(&format!("{{'descr': {}", "[".repeat(100))).contains("nests too deeply"));
    assert!(err("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}").contains("too large"));
    assert!(err("{'descr': '|f4', 'fortran_order': False, 'shape': (2,)}").contains("byte order"));
    let mut v9 = npy("{}");
    v9[6] = 9;
    assert!(parse(&v9).unwrap_err().1.contains("version 9.0"));
}
