//! Writing generated files, finding stale ones, and comparing with what is on disk (`--check`).

use super::GENERATED_MARKER;
use super::GeneratedFile;
use std::collections::BTreeSet;
use std::path::Path;
use std::path::PathBuf;

/// Writes `files` under `out`, and removes generated files of the same mode folders that are
/// no longer generated (recognised by [`GENERATED_MARKER`]; other files are left alone).
pub fn write_files(out: &Path, files: &[GeneratedFile]) -> std::io::Result<()> {
    for stale in stale_files(out, files) {
        std::fs::remove_file(stale)?;
    }
    for f in files {
        let path = out.join(&f.path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, &f.contents)?;
    }
    Ok(())
}

/// Generated files in the mode folders of `files` that `files` does not contain.
pub fn stale_files(out: &Path, files: &[GeneratedFile]) -> Vec<PathBuf> {
    let wanted: BTreeSet<PathBuf> = files.iter().map(|f| out.join(&f.path)).collect();
    let dirs: BTreeSet<PathBuf> = wanted
        .iter()
        .filter_map(|p| p.parent().map(Path::to_path_buf))
        .collect();
    let mut stale = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut found: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        found.sort();
        for path in found {
            if !wanted.contains(&path)
                && std::fs::read_to_string(&path).is_ok_and(|t| t.starts_with(GENERATED_MARKER))
            {
                stale.push(path);
            }
        }
    }
    stale
}

/// Files that differ between `files` and what is under `out` (missing, changed, or stale).
pub fn differences(out: &Path, files: &[GeneratedFile]) -> Vec<PathBuf> {
    let mut diff: Vec<PathBuf> = files
        .iter()
        .filter(|f| std::fs::read_to_string(out.join(&f.path)).map_or(true, |t| t != f.contents))
        .map(|f| out.join(&f.path))
        .collect();
    diff.extend(stale_files(out, files));
    diff
}
