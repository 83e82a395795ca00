//! The committed C header and the Rust C ABI declare the same functions
//! and the same status and type codes (the header is written by hand).

use std::collections::BTreeSet;

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// Names `lutgemm_*` followed by `(` on a declaration line of the header.
fn header_functions(h: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in h
        .lines()
        .filter(|l| !l.trim_start().starts_with(['*', '/', '#']))
    {
        for (i, _) in line.match_indices("lutgemm_") {
            let name: String = line[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if line[i + name.len()..].starts_with('(') {
                out.insert(name);
            }
        }
    }
    out
}

fn rust_functions(src: &str) -> BTreeSet<String> {
    src.lines()
        .filter_map(|l| {
            let l = l.trim_start();
            let rest = l
                .strip_prefix("pub extern \"C\" fn ")
                .or_else(|| l.strip_prefix("pub unsafe extern \"C\" fn "))?;
            Some(
                rest.chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect(),
            )
        })
        .collect()
}

/// `#define NAME value` pairs of the header.
fn header_defines(h: &str) -> Vec<(String, String)> {
    h.lines()
        .filter_map(|l| {
            let mut it = l.strip_prefix("#define ")?.split_whitespace();
            Some((it.next()?.to_string(), it.next()?.to_string()))
        })
        .collect()
}

#[test]
fn header_and_rust_declare_the_same_functions() {
    let h = header_functions(&read("include/lutgemm.h"));
    let r = rust_functions(&read("src/capi.rs"));
    assert!(!h.is_empty());
    assert_eq!(h, r, "include/lutgemm.h and src/capi.rs disagree");
}

#[test]
fn status_and_type_codes_agree() {
    let src = read("src/capi.rs");
    let defines = header_defines(&read("include/lutgemm.h"));
    let mut checked = 0;
    for (name, value) in &defines {
        let rust = name.strip_prefix("LUTGEMM_").map(|n| {
            if n == "OK" {
                "OK".to_string()
            } else {
                n.to_string()
            }
        });
        let Some(rust) = rust else { continue };
        if let Some(line) = src
            .lines()
            .find(|l| l.starts_with(&format!("const {rust}: ")))
        {
            let got = line
                .rsplit('=')
                .next()
                .unwrap()
                .trim()
                .trim_end_matches(';');
            assert_eq!(got, value, "{name}");
            checked += 1;
        }
    }
    assert!(checked >= 13, "only {checked} codes checked");
    let version = format!(
        "{}.{}.{}",
        defines
            .iter()
            .find(|d| d.0 == "LUTGEMM_VERSION_MAJOR")
            .unwrap()
            .1,
        defines
            .iter()
            .find(|d| d.0 == "LUTGEMM_VERSION_MINOR")
            .unwrap()
            .1,
        defines
            .iter()
            .find(|d| d.0 == "LUTGEMM_VERSION_PATCH")
            .unwrap()
            .1
    );
    assert_eq!(version, env!("CARGO_PKG_VERSION"));
}
