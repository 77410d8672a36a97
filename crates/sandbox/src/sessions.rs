//! Sessions: a directory of files that is `/mnt/data` for every execution in it,
//! owned by one user. Files get ids in LibreChat's shape (21 characters of
//! `[A-Za-z0-9_-]`, which its backend checks) that stay the same for a name.
//!
//! Layout: `<root>/<session id>/meta.json` (owner and file ids) and
//! `<root>/<session id>/files/` (the content).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::SandboxError;

const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

pub fn new_id() -> String {
    let mut rng = rand::rng();
    (0..21)
        .map(|_| ID_ALPHABET[rng.random_range(0..ID_ALPHABET.len())] as char)
        .collect()
}

fn is_id(s: &str) -> bool {
    s.len() == 21 && s.bytes().all(|b| ID_ALPHABET.contains(&b))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub id: String,
    /// Path relative to `/mnt/data`.
    pub name: String,
    pub size: u64,
    /// Seconds since the epoch.
    pub modified: i64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Meta {
    owner: String,
    /// (id, name) of every file ever seen in the session.
    ids: Vec<(String, String)>,
}

#[derive(Clone)]
pub struct Sessions {
    root: PathBuf,
    /// Held while a session's `meta.json` is read, changed and written back (ids
    /// given to new names) and while a conversation's session is looked up or
    /// created: two requests at once must not lose each other's ids or sessions.
    meta_lock: Arc<Mutex<()>>,
}

impl Sessions {
    pub fn new(root: PathBuf) -> Self {
        Sessions {
            root,
            meta_lock: Arc::default(),
        }
    }

    pub fn create(&self, owner: &str) -> Result<String, SandboxError> {
        let id = new_id();
        std::fs::create_dir_all(self.root.join(&id).join("files"))?;
        self.write_meta(
            &id,
            &Meta {
                owner: owner.into(),
                ids: Vec::new(),
            },
        )?;
        Ok(id)
    }

    /// The session tied to `key` for `owner` (a conversation keeps one session for
    /// all its runs), created on first use.
    pub fn for_key(&self, owner: &str, key: &str) -> Result<String, SandboxError> {
        let _meta = self.meta_lock.lock().unwrap();
        let link = self
            .root
            .join("by-key")
            .join(crate::stable_hash(&[owner.as_bytes(), key.as_bytes()]));
        if let Ok(id) = std::fs::read_to_string(&link)
            && self.meta(owner, id.trim()).is_ok()
        {
            return Ok(id.trim().to_string());
        }
        let id = self.create(owner)?;
        std::fs::create_dir_all(link.parent().expect("has a parent"))?;
        std::fs::write(link, &id)?;
        Ok(id)
    }

    /// The session's file directory, if it exists and belongs to `owner`; anyone
    /// else gets NotFound, the same as for a session that does not exist.
    pub fn dir(&self, owner: &str, session: &str) -> Result<PathBuf, SandboxError> {
        self.meta(owner, session)?;
        Ok(self.files_dir(session))
    }

    fn files_dir(&self, session: &str) -> PathBuf {
        self.root.join(session).join("files")
    }

    fn meta(&self, owner: &str, session: &str) -> Result<Meta, SandboxError> {
        if !is_id(session) {
            return Err(SandboxError::NotFound);
        }
        let text = std::fs::read_to_string(self.root.join(session).join("meta.json"))
            .map_err(|_| SandboxError::NotFound)?;
        let meta: Meta = serde_json::from_str(&text).map_err(|_| SandboxError::NotFound)?;
        if meta.owner != owner {
            return Err(SandboxError::NotFound);
        }
        Ok(meta)
    }

    fn write_meta(&self, session: &str, meta: &Meta) -> Result<(), SandboxError> {
        let path = self.root.join(session).join("meta.json");
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(meta).expect("meta serializes"))?;
        std::fs::rename(tmp, path)?;
        Ok(())
    }

    /// Stores an uploaded file under its base name (any directories in the name
    /// are dropped) and returns its entry. Async: uploads can be large.
    pub async fn put(
        &self,
        owner: &str,
        session: &str,
        name: &str,
        bytes: impl Into<Vec<u8>>,
    ) -> Result<FileEntry, SandboxError> {
        let name = clean_name(name).ok_or_else(|| {
            SandboxError::BadRequest(format!("{name:?} is not a usable file name"))
        })?;
        let dir = self.dir(owner, session)?;
        tokio::fs::write(dir.join(&name), bytes.into()).await?;
        let mut entries = self.list(owner, session)?;
        let index = entries
            .iter()
            .position(|e| e.name == name)
            .expect("just written");
        Ok(entries.swap_remove(index))
    }

    /// Every file in the session, with ids (new names get new ids).
    pub fn list(&self, owner: &str, session: &str) -> Result<Vec<FileEntry>, SandboxError> {
        let _meta = self.meta_lock.lock().unwrap();
        let mut meta = self.meta(owner, session)?;
        let dir = self.files_dir(session);
        let mut entries = Vec::new();
        let mut changed = false;
        for (name, _, stat) in crate::files::regular_files(&dir) {
            let id = match meta.ids.iter().find(|(_, n)| *n == name) {
                Some((id, _)) => id.clone(),
                None => {
                    let id = new_id();
                    meta.ids.push((id.clone(), name.clone()));
                    changed = true;
                    id
                }
            };
            let modified = stat
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs() as i64);
            entries.push(FileEntry {
                id,
                name,
                size: stat.len(),
                modified,
            });
        }
        if changed {
            self.write_meta(session, &meta)?;
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    /// A file by id: its entry and where its content is.
    pub fn file(
        &self,
        owner: &str,
        session: &str,
        file_id: &str,
    ) -> Result<(FileEntry, PathBuf), SandboxError> {
        let entry = self
            .list(owner, session)?
            .into_iter()
            .find(|e| e.id == file_id)
            .ok_or(SandboxError::NotFound)?;
        let path = self.files_dir(session).join(&entry.name);
        Ok((entry, path))
    }

    /// Moves one of `owner`'s files from session `from` to session `to` (same
    /// name; a file of that name there is replaced) and returns its entry there.
    pub fn move_file(
        &self,
        owner: &str,
        from: &str,
        file_id: &str,
        to: &str,
    ) -> Result<FileEntry, SandboxError> {
        let (entry, path) = self.file(owner, from, file_id)?;
        let target = self.dir(owner, to)?;
        std::fs::rename(path, target.join(&entry.name))?;
        self.list(owner, to)?
            .into_iter()
            .find(|e| e.name == entry.name)
            .ok_or(SandboxError::NotFound)
    }

    pub fn delete_file(
        &self,
        owner: &str,
        session: &str,
        file_id: &str,
    ) -> Result<(), SandboxError> {
        let (_, path) = self.file(owner, session, file_id)?;
        std::fs::remove_file(path)?;
        Ok(())
    }
}

/// The last path component, without control characters; None for names that
/// cannot be a file (`""`, `.`, `..`).
fn clean_name(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let base: String = base.chars().filter(|c| !c.is_control()).collect();
    let base = base.trim().to_string();
    (!base.is_empty() && base != "." && base != ".." && base.len() <= 255).then_some(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sessions_belong_to_their_owner_and_ids_stay_with_names() {
        let tmp = tempfile::tempdir().unwrap();
        let sessions = Sessions::new(tmp.path().to_path_buf());
        let s = sessions.create("alice").unwrap();
        assert!(is_id(&s));
        let f = sessions
            .put("alice", &s, "../../etc/passwd", *b"x")
            .await
            .unwrap();
        assert_eq!(f.name, "passwd");
        assert!(is_id(&f.id));
        assert_eq!(
            sessions
                .put("alice", &s, "passwd", *b"yy")
                .await
                .unwrap()
                .id,
            f.id
        );
        assert_eq!(sessions.file("alice", &s, &f.id).unwrap().0.size, 2);
        assert!(matches!(
            sessions.list("bob", &s),
            Err(SandboxError::NotFound)
        ));
        assert!(matches!(
            sessions.file("bob", &s, &f.id),
            Err(SandboxError::NotFound)
        ));
        assert!(matches!(
            sessions.dir("alice", "../x"),
            Err(SandboxError::NotFound)
        ));
        assert!(sessions.put("alice", &s, "..", Vec::new()).await.is_err());
    }

    #[tokio::test]
    async fn a_file_moves_between_its_owners_sessions_only() {
        let root = tempfile::tempdir().unwrap();
        let sessions = Sessions::new(root.path().to_path_buf());
        let pending = sessions.create("alice").unwrap();
        let chat = sessions.create("alice").unwrap();
        let bobs = sessions.create("bob").unwrap();
        let f = sessions
            .put("alice", &pending, "data.csv", b"x\n1\n".to_vec())
            .await
            .unwrap();
        assert!(matches!(
            sessions.move_file("alice", &pending, &f.id, &bobs),
            Err(SandboxError::NotFound)
        ));
        assert!(matches!(
            sessions.move_file("bob", &pending, &f.id, &bobs),
            Err(SandboxError::NotFound)
        ));
        let moved = sessions.move_file("alice", &pending, &f.id, &chat).unwrap();
        assert_eq!((moved.name.as_str(), moved.size), ("data.csv", 4));
        assert!(sessions.list("alice", &pending).unwrap().is_empty());
        assert_eq!(sessions.list("alice", &chat).unwrap(), [moved]);
    }
}
