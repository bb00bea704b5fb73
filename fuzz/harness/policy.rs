//! The `policy` target: the compile function `serve` and `lint` share, on policy text.

use super::*;

/// `compile` returned a value exactly when it reported no error, and `lint` (which runs the
/// same compile plus warnings) reports an error exactly when `compile` refused.
pub(crate) fn assert_compile_and_lint_agree(
    compiled: bool,
    diags: &Diagnostics,
    file: &Arc<Path>,
    text: &str,
    kind: FileKind,
) {
    assert_eq!(
        compiled,
        !diags.has_errors(),
        "compile's result and its diagnostics disagree: {:?}",
        diags.items()
    );
    let linted = lint_source(file, text, Some(kind));
    let lint_errors = linted
        .diagnostics
        .iter()
        .any(|d| d.severity == Severity::Error);
    assert_eq!(
        lint_errors, !compiled,
        "lint and serve disagree: {:?}",
        linted.diagnostics
    );
}

/// The input as policy YAML: compile and lint never panic and agree on whether it is valid.
pub fn policy(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let file: Arc<Path> = Arc::from(Path::new("fuzzed-policy.yaml"));
    let mut diags = Diagnostics::default();
    let compiled = policy::compile(&file, &text, &mut diags);
    assert_compile_and_lint_agree(compiled.is_some(), &diags, &file, &text, FileKind::Policy);
    if let Some(p) = compiled {
        exercise_policy(&p);
    }
}

/// Evaluates a compiled policy for the union of its permissions on every rpc.
pub(crate) fn exercise_policy(p: &Policy) {
    for g in p.grants() {
        assert!(g.rpcs.is_superset(g.conditional_rpcs), "{}", g.permission);
    }
    let grants = p.grants_for(p.grants().iter().map(|g| &*g.permission));
    assert!(p.granted_somewhere().is_superset(grants.rpcs));
    for rpc in Rpc::all() {
        let _ = p.authorize(&grants, &[], rpc, &RequestBody::default());
        let _ = p.granting_permissions(rpc);
    }
    let _ = p.needs_body();
}
