//! The standard library as documents an editor can open: go to definition of
//! `aws.EksCluster` needs a location, but the modules are embedded in the
//! binary. A client that asks for it gets virtual documents (`tpt-std:` URIs,
//! their text from the `tpt/stdlibDocument` request); for the others the
//! modules are written out as files. They are written once per server into a directory named for their
//! content (so that another version of tpt writes its own), read-only, and a
//! location in `std/aws.tpt` maps to that file and back. Editors open them
//! read-only (Neovim from the permissions and the editor package, VS Code
//! through the extension's `files.readonlyInclude`), attached to the server
//! that pointed at them.

use std::path::{Path, PathBuf};

/// Where the embedded modules were written (`None` until first needed, or
/// when they could not be written: definitions in the stdlib then have no location).
#[derive(Default)]
pub struct StdlibFiles {
    /// Served as documents of their own (`tpt-std:///std/aws.tpt`, their text
    /// from the `tpt/stdlibDocument` request), for a client that asks so in its
    /// initialization options: nothing is written to disk then.
    pub virtual_documents: bool,
    dir: Option<Option<PathBuf>>,
    /// Overrides the directory (tests).
    pub base: Option<PathBuf>,
    /// [`StdlibFiles::dir_path`], worked out once (it hashes every module).
    path: std::cell::OnceCell<PathBuf>,
}

impl StdlibFiles {
    /// The directory holding `std/*.tpt`, written on first use.
    fn dir(&mut self) -> Option<&Path> {
        if self.dir.is_none() {
            self.dir = Some(self.write());
        }
        self.dir.as_ref().and_then(|d| d.as_deref())
    }

    /// Where the modules go: a directory named for their content (asked for
    /// every path the server sees, so hashed once).
    fn dir_path(&self) -> &Path {
        self.path.get_or_init(|| {
            let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
            for (_, _, text) in tpt_lang::stdlib::MODULES {
                for b in text.bytes() {
                    hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
                }
            }
            let base = self.base.clone().unwrap_or_else(std::env::temp_dir);
            base.join(format!("tpt-stdlib-{hash:016x}"))
        })
    }

    fn write(&self) -> Option<PathBuf> {
        let dir = self.dir_path().to_path_buf();
        for (_, display, text) in tpt_lang::stdlib::MODULES {
            let path = dir.join(display);
            if std::fs::read_to_string(&path).ok().as_deref() == Some(*text) {
                continue;
            }
            std::fs::create_dir_all(path.parent()?).ok()?;
            // Written to a temporary name and renamed, so that a reader never sees half a file.
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            std::fs::write(&tmp, text).ok()?;
            // Read-only: editors open it so (the standard library is the
            // binary's; an edit of the copy would change nothing).
            let mut permissions = std::fs::metadata(&tmp).ok()?.permissions();
            permissions.set_readonly(true);
            std::fs::set_permissions(&tmp, permissions).ok()?;
            std::fs::rename(&tmp, &path).ok()?;
        }
        Some(dir)
    }

    /// The file of a source name: `std/aws.tpt` → the written copy (or its
    /// virtual document's path); other names are paths.
    pub fn path_of(&mut self, name: &str) -> Option<PathBuf> {
        if is_stdlib_name(name) {
            if self.virtual_documents {
                return Some(Path::new(VIRTUAL).join(name));
            }
            return self.dir().map(|d| d.join(name));
        }
        Some(PathBuf::from(name))
    }

    /// The source name of a path: a written stdlib copy, or a virtual
    /// document's path → `std/aws.tpt`.
    pub fn name_of(&self, path: &Path) -> Option<String> {
        let rel = match path.strip_prefix(VIRTUAL) {
            Ok(rel) => rel,
            Err(_) => path.strip_prefix(self.dir_path()).ok()?,
        };
        let name = rel.to_str()?.replace('\\', "/");
        is_stdlib_name(&name).then_some(name)
    }
}

/// The URI scheme of the standard library's virtual documents.
pub const SCHEME: &str = "tpt-std";

/// Where the server keeps a virtual document of the scheme (the path `Paths`
/// gives a URI of another scheme than `file`).
const VIRTUAL: &str = "/<tpt-std>";

/// The text of a virtual document of the standard library (`tpt-std:///std/aws.tpt`).
pub fn virtual_text(uri: &lsp_types::Url) -> Option<&'static str> {
    if uri.scheme() != SCHEME {
        return None;
    }
    module_text(uri.path().trim_start_matches('/'))
}

/// The URI of a virtual document's path (`/<tpt-std>/std/aws.tpt`, as `Paths`
/// names a URI of the scheme): `tpt-std:///std/aws.tpt`.
pub fn virtual_uri(path: &Path) -> Option<lsp_types::Url> {
    let name = path.strip_prefix(VIRTUAL).ok()?.to_str()?;
    module_text(name)?;
    lsp_types::Url::parse(&format!("{SCHEME}:///{name}")).ok()
}

/// The text of the embedded module with this display name (`std/aws.tpt`).
fn module_text(name: &str) -> Option<&'static str> {
    tpt_lang::stdlib::MODULES
        .iter()
        .find(|(_, display, _)| *display == name)
        .map(|(_, _, text)| *text)
}

/// `std/aws.tpt` and the like: the display names of the embedded modules.
pub fn is_stdlib_name(name: &str) -> bool {
    module_text(name).is_some()
}
