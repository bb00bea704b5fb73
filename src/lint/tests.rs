//! Unit tests of the parent module.
use super::*;

fn kind_of(text: &str) -> (Option<FileKind>, Vec<Diagnostic>) {
    let mut d = Diagnostics::default();
    let file: Arc<Path> = Arc::from(Path::new("t.yaml"));
    (detect_kind(&file, text, &mut d), d.into_vec())
}

#[test]
fn kind_is_told_by_top_level_keys_even_misspelt() {
    assert_eq!(kind_of("realms: []\n").0, Some(FileKind::Config));
    assert_eq!(kind_of("grants: []\n").0, Some(FileKind::Policy));
    assert_eq!(kind_of("grantz: []\n").0, Some(FileKind::Policy));
    // A policy in the Camunda dialect only.
    assert_eq!(
        kind_of("mapping_rules: []\nauthorizations: []\n").0,
        Some(FileKind::Policy)
    );
    assert_eq!(kind_of("authorisations: []\n").0, Some(FileKind::Policy));
    assert_eq!(kind_of("realm: []\njwks: {}\n").0, Some(FileKind::Config));
    let (kind, d) = kind_of("hello: world\n");
    assert_eq!(kind, None);
    assert!(d[0].message.contains("cannot tell"));
    let (kind, d) = kind_of("grants: [\n");
    assert_eq!(kind, None);
    assert!(d[0].span.line > 0, "a YAML error is located: {d:?}");
}

#[test]
fn findings_are_deduplicated_and_read_top_to_bottom_per_file() {
    let a: Arc<Path> = Arc::from(Path::new("a.yaml"));
    let b: Arc<Path> = Arc::from(Path::new("b.yaml"));
    let mut d = Diagnostics::default();
    d.error(Span::at(&a, 9, 1), "k", "late");
    d.warning(Span::at(&b, 1, 1), "k", "other file");
    d.error(Span::at(&a, 2, 5), "k", "early");
    d.error(Span::at(&a, 9, 1), "k", "late");
    let sorted = sort_by_place(dedup(d.into_vec()));
    let messages: Vec<&str> = sorted.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(messages, ["early", "late", "other file"]);
}
