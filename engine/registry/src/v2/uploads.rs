//! Blob uploads in progress: `v2/uploads/<uuid>/data` grows with each chunk while a sha256
//! state follows it in memory, so completing costs no second pass. After a restart the state
//! is gone but the data is not: the upload resumes and the digest is computed from the file.

use super::store::{BlobHasher, BlobStore};
use super::{Code, V2Error};
use crate::fsio::{blocking, hash_file, receive, ReceiveError};
use crate::names::{Algorithm, Digest};
use hyper::body::Incoming;
use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom};
use std::sync::{Arc, Mutex};

pub struct Upload {
    pub uuid: String,
    pub name: String,
    /// Bytes received so far.
    pub offset: u64,
    hasher: Option<BlobHasher>,
    /// Completed or cancelled: later requests for this uuid get BLOB_UPLOAD_UNKNOWN.
    pub closed: bool,
}

pub struct Uploads {
    store: BlobStore,
    open: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Upload>>>>,
}

impl Uploads {
    pub fn new(store: BlobStore) -> Uploads {
        Uploads { store, open: Mutex::new(HashMap::new()) }
    }

    /// Starts an upload into repository `name`, returning its uuid.
    pub async fn start(&self, name: &str) -> Result<String, V2Error> {
        let uuid = new_uuid();
        let (dir, repository) = (self.store.upload_dir(&uuid), name.to_string());
        blocking(move || {
            std::fs::create_dir_all(&dir)?;
            std::fs::write(dir.join("name"), repository)?;
            std::fs::File::create(dir.join("data")).map(drop)
        })
        .await?;
        let upload =
            Upload { uuid: uuid.clone(), name: name.to_string(), offset: 0, hasher: Some(sha256()), closed: false };
        self.map().insert(uuid.clone(), Arc::new(tokio::sync::Mutex::new(upload)));
        Ok(uuid)
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<tokio::sync::Mutex<Upload>>>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The upload `uuid` of repository `name`, from memory or, after a restart, from disk.
    pub async fn find(&self, name: &str, uuid: &str) -> Result<Arc<tokio::sync::Mutex<Upload>>, V2Error> {
        let unknown = || V2Error::new(Code::BlobUploadUnknown, format!("upload {uuid} is unknown"));
        if !is_uuid(uuid) {
            return Err(unknown());
        }
        let known = self.map().get(uuid).cloned();
        if let Some(upload) = known {
            return if upload.lock().await.name == name { Ok(upload) } else { Err(unknown()) };
        }
        let dir = self.store.upload_dir(uuid);
        let found = blocking(move || {
            let owner = crate::fsio::read_optional(&dir.join("name"))?;
            let size = std::fs::metadata(dir.join("data")).map(|m| m.len()).ok();
            Ok(owner.zip(size))
        })
        .await?;
        let (owner, offset) = found.filter(|(owner, _)| owner == name.as_bytes()).ok_or_else(unknown)?;
        let upload = Upload {
            uuid: uuid.to_string(),
            name: String::from_utf8_lossy(&owner).into(),
            offset,
            hasher: None,
            closed: false,
        };
        Ok(self.map().entry(uuid.to_string()).or_insert_with(|| Arc::new(tokio::sync::Mutex::new(upload))).clone())
    }

    /// Appends a request body at the upload's current offset. A failed chunk is cut off again.
    pub async fn append(&self, upload: &mut Upload, body: Incoming) -> Result<(), V2Error> {
        let (path, offset) = (self.store.upload_dir(&upload.uuid).join("data"), upload.offset);
        let at = path.clone();
        let file = blocking(move || {
            let mut file = OpenOptions::new().write(true).open(&at)?;
            file.set_len(offset)?;
            file.seek(SeekFrom::Start(offset))?;
            Ok(file)
        })
        .await?;
        match receive(body, file, upload.hasher.take(), None).await {
            Ok(received) => {
                upload.offset += received.written;
                upload.hasher = received.hasher;
                Ok(())
            }
            Err(error) => {
                blocking(move || OpenOptions::new().write(true).open(&path)?.set_len(offset)).await?;
                Err(match error {
                    ReceiveError::Io(e) => e.into(),
                    other => V2Error::new(Code::BlobUploadInvalid, other.to_string()),
                })
            }
        }
    }

    /// Verifies the digest and moves the data into the blob store, linked to the repository.
    /// On a mismatch the upload is discarded.
    pub async fn finish(&self, upload: &mut Upload, digest: &Digest) -> Result<(), V2Error> {
        let dir = self.store.upload_dir(&upload.uuid);
        let data = dir.join("data");
        let computed = match (upload.hasher.take(), digest.algorithm) {
            (Some(hasher), Algorithm::Sha256) => hasher.finish(),
            (_, algorithm) => {
                let path = data.clone();
                blocking(move || hash_file(&path, BlobHasher::new(algorithm))).await?.finish()
            }
        };
        self.close(upload);
        let (store, name, expected) = (self.store.clone(), upload.name.clone(), digest.clone());
        let matched = computed == *digest;
        blocking(move || {
            if matched {
                store.commit_file(&data, &expected)?;
                store.link_blob(&name, &expected)?;
            }
            store.storage().remove_tree(&dir).map(drop)
        })
        .await?;
        if !matched {
            let message = format!("the upload's digest is {computed}, not {digest}");
            return Err(V2Error::new(Code::DigestInvalid, message)
                .with_detail(serde_json::json!({"digest": digest.to_string()})));
        }
        Ok(())
    }

    pub async fn cancel(&self, upload: &mut Upload) -> Result<(), V2Error> {
        self.close(upload);
        let (store, dir) = (self.store.clone(), self.store.upload_dir(&upload.uuid));
        blocking(move || store.storage().remove_tree(&dir).map(drop)).await?;
        Ok(())
    }

    fn close(&self, upload: &mut Upload) {
        upload.closed = true;
        self.map().remove(&upload.uuid);
    }
}

fn sha256() -> BlobHasher {
    BlobHasher::new(Algorithm::Sha256)
}

/// A random (version 4) UUID.
fn new_uuid() -> String {
    let mut bytes: [u8; 16] = crate::token::random_bytes();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = crate::token::hex(&bytes);
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

fn is_uuid(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => matches!(c, '0'..='9' | 'a'..='f'),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_well_formed_and_checked() {
        let uuid = new_uuid();
        assert!(is_uuid(&uuid), "{uuid}");
        assert_ne!(uuid, new_uuid());
        assert!(!is_uuid("../../../etc/passwd-aaaaaaaaaaaaaaaaaa"));
        assert!(!is_uuid(&uuid.to_uppercase()));
    }
}
