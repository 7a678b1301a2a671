//! The standard library as real files, so that go-to-definition into
//! `std/…` opens a buffer in any editor (as rust-analyzer does for the Rust
//! standard library's sources).
//!
//! The embedded modules are written once, read-only, to a directory named
//! after nplc's version and a hash of the modules' text, under the user's
//! cache directory (`$NPLC_CACHE_DIR`, else `$XDG_CACHE_HOME/nplc`, else
//! `~/.cache/nplc`, else the temporary directory): `…/nplc/stdlib-0.1.0-
//! 1a2b3c4d/std/k8s.npl`. A directory already there with the same name has
//! the same text, so it is reused; a module whose file is missing or
//! differs is written again. When nothing can be written, locations fall
//! back to `nplc-std:` URIs, served by `nplc/stdlibSource`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use nplc_compiler::stdlib;
use tower_lsp::lsp_types::Url;

/// The directory holding `std/NAME.npl`, written on first use.
pub fn dir() -> Option<&'static Path> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = cache_root()?.join(format!(
            "stdlib-{}-{:08x}",
            env!("CARGO_PKG_VERSION"),
            modules_hash() as u32
        ));
        for (module, text) in stdlib::MODULES {
            write_module(&root, module, text).ok()?;
        }
        Some(root)
    })
    .as_deref()
}

fn cache_root() -> Option<PathBuf> {
    let from_env = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    from_env("NPLC_CACHE_DIR")
        .or_else(|| from_env("XDG_CACHE_HOME").map(|d| d.join("nplc")))
        .or_else(|| from_env("HOME").map(|d| d.join(".cache").join("nplc")))
        .or_else(|| Some(std::env::temp_dir().join("nplc")))
}

/// FNV-1a over every module's name and text: the directory changes when
/// the library does.
fn modules_hash() -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (module, text) in stdlib::MODULES {
        for byte in module.bytes().chain([0]).chain(text.bytes()).chain([0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

fn write_module(root: &Path, module: &str, text: &str) -> std::io::Result<()> {
    let path = root.join(format!("{module}.npl"));
    if std::fs::read_to_string(&path).is_ok_and(|on_disk| on_disk == text) {
        return Ok(());
    }
    let parent = path.parent().unwrap_or(root);
    std::fs::create_dir_all(parent)?;
    // Written beside, then renamed: a reader never sees half a file.
    let partial = parent.join(format!(".{}.{}", std::process::id(), file_name(&path)));
    std::fs::write(&partial, text)?;
    let mut permissions = std::fs::metadata(&partial)?.permissions();
    permissions.set_readonly(true);
    std::fs::set_permissions(&partial, permissions)?;
    std::fs::rename(&partial, &path)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `std/k8s` → `file:///…/stdlib-…/std/k8s.npl` (or `nplc-std:/std/k8s.npl`).
pub fn uri(module: &str) -> Option<Url> {
    if let Some(dir) = dir() {
        if let Ok(url) = Url::from_file_path(dir.join(format!("{module}.npl"))) {
            return Some(url);
        }
    }
    std_uri(module)
}

/// The module a URI names: a `nplc-std:` URI, or a file of the directory.
pub fn module(uri: &Url) -> Option<String> {
    if let Some(module) = std_module(uri) {
        return Some(module);
    }
    if uri.scheme() != "file" {
        return None;
    }
    let path = uri.to_file_path().ok()?;
    let relative = path.strip_prefix(dir()?).ok()?;
    let module = relative.to_string_lossy().replace('\\', "/");
    let module = module.strip_suffix(".npl")?;
    stdlib::source(module).map(|_| module.to_string())
}

/// URI scheme of the read-only standard library documents:
/// `nplc-std:/std/k8s.npl` is the module `std/k8s`.
pub const STD_SCHEME: &str = "nplc-std";

/// `nplc-std:/std/k8s.npl` → `std/k8s`.
pub fn std_module(uri: &Url) -> Option<String> {
    if uri.scheme() != STD_SCHEME {
        return None;
    }
    let path = uri.path().trim_start_matches('/');
    Some(path.strip_suffix(".npl").unwrap_or(path).to_string())
}

/// `std/k8s` → `nplc-std:/std/k8s.npl`.
pub fn std_uri(module: &str) -> Option<Url> {
    Url::parse(&format!("{STD_SCHEME}:/{module}.npl")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_are_written_once_read_only_and_map_back() {
        let uri = uri("std/k8s").expect("a uri");
        assert_eq!(uri.scheme(), "file", "{uri}");
        let path = uri.to_file_path().expect("a path");
        assert_eq!(
            std::fs::read_to_string(&path).ok().as_deref(),
            stdlib::source("std/k8s")
        );
        assert!(std::fs::metadata(&path)
            .expect("metadata")
            .permissions()
            .readonly());
        assert_eq!(module(&uri).as_deref(), Some("std/k8s"));
    }
}
