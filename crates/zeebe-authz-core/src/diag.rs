//! Diagnostics: what is wrong in a config or policy file, and where.
//!
//! `serve` and `lint` share this type: every compile step pushes findings into a
//! [`Diagnostics`] list instead of stopping at the first one, so an operator sees every
//! mistake of a file in one run, each as `file:line:column: key: message` with a fix hint.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use serde_saphyr::Spanned;

/// How bad a finding is. Errors stop `serve`; warnings are printed and tolerated; notes only
/// inform (`lint` lists them, and they do not make it fail).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The file cannot be used as written.
    Error,
    /// The file works but probably not as intended.
    Warning,
    /// Worth knowing, nothing to fix (e.g. a rule enforced only at the edge).
    Note,
}

/// A place in a source file (1-based line and column; 0 when unknown).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Span {
    /// The file, as given on the command line or resolved from the config.
    pub file: Arc<Path>,
    /// 1-based line, 0 if unknown.
    pub line: u64,
    /// 1-based column, 0 if unknown.
    pub column: u64,
}

impl Span {
    /// A span for a whole file.
    pub fn file(file: &Arc<Path>) -> Span {
        Span {
            file: file.clone(),
            line: 0,
            column: 0,
        }
    }

    /// The span of a YAML node deserialized as `Spanned<T>`.
    pub fn of<T>(file: &Arc<Path>, node: &Spanned<T>) -> Span {
        Span::at(file, node.referenced.line(), node.referenced.column())
    }

    /// A span at a line and column.
    pub fn at(file: &Arc<Path>, line: u64, column: u64) -> Span {
        Span {
            file: file.clone(),
            line,
            column,
        }
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column.max(1))?;
        }
        Ok(())
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Error, warning or note.
    pub severity: Severity,
    /// Where.
    #[serde(flatten)]
    pub span: Span,
    /// The key path in the document (`realms[0].issuer`).
    pub key: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when we can tell.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        };
        write!(f, "{}: {sev}", self.span)?;
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

/// The findings of one compile run.
#[derive(Debug, Default, Clone)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// Records an error.
    pub fn error(
        &mut self,
        span: Span,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        self.push(Severity::Error, span, key.into(), message.into())
    }

    /// Records a warning.
    pub fn warning(
        &mut self,
        span: Span,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        self.push(Severity::Warning, span, key.into(), message.into())
    }

    /// Records a note: information, not a problem.
    pub fn note(
        &mut self,
        span: Span,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        self.push(Severity::Note, span, key.into(), message.into())
    }

    fn push(
        &mut self,
        severity: Severity,
        span: Span,
        key: String,
        message: String,
    ) -> &mut Diagnostic {
        self.items.push(Diagnostic {
            severity,
            span,
            key,
            message,
            hint: None,
        });
        self.items.last_mut().expect("just pushed")
    }

    /// Whether any error (not warning) was recorded.
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    /// How many errors (not warnings) were recorded.
    pub(crate) fn error_count(&self) -> usize {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    /// All findings, in the order they were found.
    pub fn items(&self) -> &[Diagnostic] {
        &self.items
    }

    /// Consumes the list.
    pub fn into_vec(self) -> Vec<Diagnostic> {
        self.items
    }
}

impl Diagnostic {
    /// Adds a fix hint.
    pub fn hint(&mut self, hint: impl Into<String>) -> &mut Self {
        self.hint = Some(hint.into());
        self
    }
}

/// The findings that stopped a compile, displayed one per line.
#[derive(Debug, thiserror::Error)]
pub struct InvalidConfig(pub Vec<Diagnostic>);

impl fmt::Display for InvalidConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let errors = self
            .0
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count();
        writeln!(f, "{errors} error(s) in configuration:")?;
        for d in &self.0 {
            writeln!(f, "  {d}")?;
        }
        Ok(())
    }
}

/// Reads a YAML document into a raw (serde) type, turning read and parse failures into a
/// located diagnostic instead of an error the caller must format.
pub fn parse_yaml<T: serde::de::DeserializeOwned>(
    file: &Arc<Path>,
    text: &str,
    diags: &mut Diagnostics,
) -> Option<T> {
    match serde_saphyr::from_str::<T>(text) {
        Ok(v) => Some(v),
        Err(e) => {
            let (line, column) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((0, 0));
            // serde-saphyr's text repeats severity and location ("error: line 3 column 5: …");
            // we print both ourselves, so keep only the reason of its first line.
            let text = e.to_string();
            let message = strip_location(text.lines().next().unwrap_or("invalid YAML")).to_string();
            diags
                .error(Span::at(file, line, column), "", message)
                .hint("check indentation, quoting and key names against the README's reference");
            None
        }
    }
}

/// Removes a leading `error: ` and `line N column M: ` from a parser message.
fn strip_location(message: &str) -> &str {
    let m = message.strip_prefix("error: ").unwrap_or(message);
    let Some(rest) = m.strip_prefix("line ") else {
        return m;
    };
    let Some((location, reason)) = rest.split_once(": ") else {
        return m;
    };
    let is_location = location.split_once(" column ").is_some_and(|(l, c)| {
        l.bytes().all(|b| b.is_ascii_digit()) && c.bytes().all(|b| b.is_ascii_digit())
    });
    if is_location { reason } else { m }
}

/// An error and its sources on one line (`a: b: c`), for logs and reports: reqwest and
/// hyper put the useful part (refused, timed out, certificate) in the sources.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        // Some errors repeat their source in their own text; say each part once.
        let text = inner.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        source = inner.source();
    }
    s
}

/// Resolves `path` against the folder of `base` unless it is absolute.
pub fn resolve_relative(base: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.parent().unwrap_or(Path::new(".")).join(p)
    }
}

/// The closest candidate to `name` by edit distance (case-insensitive), if close enough to be
/// a plausible typo.
pub fn suggest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let lower = name.to_ascii_lowercase();
    candidates
        .map(|c| (edit_distance(&lower, &c.to_ascii_lowercase()), c))
        .filter(|(d, c)| *d <= (c.len() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_messages_lose_their_own_location_prefix() {
        assert_eq!(
            strip_location("error: line 3 column 5: unknown field `x`"),
            "unknown field `x`"
        );
        assert_eq!(
            strip_location("line 1 column 9: unclosed bracket '['"),
            "unclosed bracket '['"
        );
        assert_eq!(
            strip_location("error: line of text: kept"),
            "line of text: kept"
        );
        assert_eq!(strip_location("plain"), "plain");
    }
}
