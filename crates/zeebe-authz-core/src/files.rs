//! The files a config names (its policies, the JWKS CA bundle), read through the caller: the
//! core does no I/O, so compiling a config takes a [`Files`] that the server backs with the
//! file system and a test may back with anything.

use std::path::Path;
use std::sync::Arc;

use crate::diag::{Diagnostics, Span};

/// What compiling a config needs from outside the core.
pub trait Files {
    /// The bytes of the file at `path`.
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>>;
    /// Whether `path` names a file that exists (a policy named but missing gets its own
    /// message).
    fn is_file(&self, path: &Path) -> bool;
    /// Whether `pem` holds at least one certificate the JWKS client would trust.
    fn holds_certificates(&self, pem: &[u8]) -> bool;
}

/// Reads a file for compiling, as text; a read failure becomes a diagnostic.
pub fn read_source(
    files: &dyn Files,
    path: &Path,
    diags: &mut Diagnostics,
) -> Option<(Arc<Path>, String)> {
    let file: Arc<Path> = Arc::from(path);
    let text = files.read(path).and_then(|bytes| {
        String::from_utf8(bytes)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    });
    match text {
        Ok(text) => Some((file, text)),
        Err(e) => {
            diags.error(Span::file(&file), "", format!("cannot read file: {e}"));
            None
        }
    }
}
