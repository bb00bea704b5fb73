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

/// `rest:*` under a tenant condition: the REST-only operations without a tenant member are
/// granted without the condition (what `serve` does: they are not among the grant's
/// conditional rpcs), and lint says so on the grant, naming the rule, the permission, the
/// operations, and what to grant instead.
#[test]
fn condition_not_applied_to_rest_only_operations_is_a_warning() {
    let file: Arc<Path> = Arc::from(Path::new("t.yaml"));
    let text = "grants:\n  - permission: t\n    rpcs: ['rest:*']\n    when:\n      tenant: held\n  - permission: c\n    rpcs: [CorrelateMessage]\n    when:\n      tenant: held\n";
    let mut d = Diagnostics::default();
    let policy = policy::compile(&file, text, &mut d).expect("compiles");
    let search = Rpc::from_name("SearchUserTasks").unwrap();
    let correlate = Rpc::from_name("CorrelateMessage").unwrap();
    let g = &policy.grants()[0];
    assert!(g.rpcs.contains(search) && !g.conditional_rpcs.contains(search));
    assert!(g.conditional_rpcs.contains(correlate));

    let linted = lint_source(&file, text, Some(FileKind::Policy)).diagnostics;
    let found: Vec<&Diagnostic> = linted
        .iter()
        .filter(|d| d.message.starts_with("condition not applied"))
        .collect();
    assert_eq!(found.len(), 1, "{linted:#?}");
    let w = found[0];
    assert_eq!(w.severity, Severity::Warning);
    assert_eq!(w.key, "grants[0].when.tenant");
    assert_eq!((w.span.line, w.span.column), (2, 17));
    assert!(w.message.contains("permission 't'"), "{}", w.message);
    assert!(w.message.contains("GetStatus"), "{}", w.message);
    let hint = w.hint.as_deref().unwrap_or("");
    assert!(
        hint.contains("CorrelateMessage") && hint.contains("without 'when:'"),
        "{hint}"
    );
}
