//! RSA signatures as APK uses them: PKCS#1 v1.5 over a digest of the
//! compressed member that follows the signature member. The signature file
//! name says the digest (`.SIGN.RSA.` SHA-1, `.SIGN.RSA256.` SHA-256,
//! `.SIGN.RSA512.` SHA-512) and the key's file name in the keyring.

use std::collections::BTreeMap;
use std::path::Path;

use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey, EncodeRsaPrivateKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey, LineEnding};
use rsa::{Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

use super::tarball::{self, TarHeader};
use super::{gzip, ApkError};

/// The digest a signature is computed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureAlgo {
    /// `.SIGN.RSA.`: SHA-1 (legacy, still what apk-tools 2 and Alpine use).
    RsaSha1,
    /// `.SIGN.RSA256.`: SHA-256.
    RsaSha256,
    /// `.SIGN.RSA512.`: SHA-512.
    RsaSha512,
}

impl SignatureAlgo {
    /// The `.SIGN.<ALGO>.` prefix of the signature file name.
    pub fn prefix(self) -> &'static str {
        match self {
            SignatureAlgo::RsaSha1 => ".SIGN.RSA.",
            SignatureAlgo::RsaSha256 => ".SIGN.RSA256.",
            SignatureAlgo::RsaSha512 => ".SIGN.RSA512.",
        }
    }

    /// Split a signature file name into algorithm and key name; None if the
    /// name is not a `.SIGN.RSA*.` file.
    pub fn from_file_name(name: &str) -> Option<(SignatureAlgo, String)> {
        // Longest prefixes first: ".SIGN.RSA." would not match "RSA256." anyway,
        // but keep the order explicit.
        [
            SignatureAlgo::RsaSha256,
            SignatureAlgo::RsaSha512,
            SignatureAlgo::RsaSha1,
        ]
        .into_iter()
        .find_map(|algo| {
            name.strip_prefix(algo.prefix())
                .filter(|key| !key.is_empty())
                .map(|key| (algo, key.to_string()))
        })
    }

    fn digest_and_scheme(self, signed: &[u8]) -> (Vec<u8>, Pkcs1v15Sign) {
        match self {
            SignatureAlgo::RsaSha1 => (Sha1::digest(signed).to_vec(), Pkcs1v15Sign::new::<Sha1>()),
            SignatureAlgo::RsaSha256 => (
                Sha256::digest(signed).to_vec(),
                Pkcs1v15Sign::new::<Sha256>(),
            ),
            SignatureAlgo::RsaSha512 => (
                Sha512::digest(signed).to_vec(),
                Pkcs1v15Sign::new::<Sha512>(),
            ),
        }
    }
}

/// One `.SIGN.*` file from a signature member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureEntry {
    /// Digest algorithm.
    pub algo: SignatureAlgo,
    /// Key file name the signer names (e.g. `melange.rsa.pub`).
    pub key_name: String,
    /// The raw RSA signature.
    pub signature: Vec<u8>,
}

/// Public keys by file name, as in `/etc/apk/keys`.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    keys: BTreeMap<String, RsaPublicKey>,
}

impl Keyring {
    /// An empty keyring.
    pub fn new() -> Self {
        Keyring::default()
    }

    /// Every file of `dir` that holds a PEM RSA public key, named by its file
    /// name. Files that are not public keys (e.g. a private key kept
    /// alongside) are skipped; an unreadable directory is an error.
    pub fn from_dir(dir: &Path) -> Result<Keyring, ApkError> {
        let mut keyring = Keyring::new();
        let entries = std::fs::read_dir(dir).map_err(|e| ApkError::io(dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| ApkError::io(dir, e))?;
            let path = entry.path();
            if !path.is_file() {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            if !text.contains("PUBLIC KEY-----") {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            keyring.add_pem(&name, &text)?;
        }
        Ok(keyring)
    }

    /// Add a PEM public key (PKIX `PUBLIC KEY` or PKCS#1 `RSA PUBLIC KEY`).
    pub fn add_pem(&mut self, name: &str, pem: &str) -> Result<(), ApkError> {
        let key = parse_public_pem(pem).map_err(|reason| ApkError::Key {
            name: name.to_string(),
            reason,
        })?;
        self.keys.insert(name.to_string(), key);
        Ok(())
    }

    /// Add a key object.
    pub fn add_key(&mut self, name: &str, key: RsaPublicKey) {
        self.keys.insert(name.to_string(), key);
    }

    /// The key called `name`.
    pub fn get(&self, name: &str) -> Option<&RsaPublicKey> {
        self.keys.get(name)
    }

    /// Key names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// Check `signature` over `signed` (the compressed bytes of the member
    /// after the signature member).
    pub fn verify(&self, signature: &SignatureEntry, signed: &[u8]) -> Result<(), ApkError> {
        let key = self
            .get(&signature.key_name)
            .ok_or_else(|| ApkError::KeyNotInKeyring {
                key: signature.key_name.clone(),
            })?;
        let (digest, scheme) = signature.algo.digest_and_scheme(signed);
        key.verify(scheme, &digest, &signature.signature)
            .map_err(|_| ApkError::BadSignature {
                key: signature.key_name.clone(),
            })
    }
}

/// `sha256:<hex>` of a public key's PKCS#1 DER: names a signing key without
/// revealing anything secret. The packaging step compares it for the
/// secret's public half and for a declared public key file, so both must
/// use this one definition.
pub fn public_key_id(key: &RsaPublicKey) -> String {
    use rsa::pkcs1::EncodeRsaPublicKey;
    let der = key
        .to_pkcs1_der()
        .map(|doc| doc.as_bytes().to_vec())
        .unwrap_or_default();
    format!("sha256:{}", hex::encode(Sha256::digest(der)))
}

/// [`public_key_id`] of a PEM public key file's key (PKIX `PUBLIC KEY` or
/// PKCS#1 `RSA PUBLIC KEY`); the error says why it is not one.
pub fn public_pem_id(pem: &str) -> Result<String, String> {
    parse_public_pem(pem).map(|key| public_key_id(&key))
}

fn parse_public_pem(pem: &str) -> Result<RsaPublicKey, String> {
    if pem.contains("-----BEGIN RSA PUBLIC KEY-----") {
        RsaPublicKey::from_pkcs1_pem(pem.trim())
            .map_err(|e| format!("not a PKCS#1 RSA public key: {e}"))
    } else {
        RsaPublicKey::from_public_key_pem(pem.trim())
            .map_err(|e| format!("not a PEM RSA public key: {e}"))
    }
}

/// A private key and the name its signatures carry.
#[derive(Debug, Clone)]
pub struct SigningKey {
    /// The key.
    pub key: RsaPrivateKey,
    /// Public key file name recorded in signatures: the private key's file
    /// name + `.pub` (melange/abuild convention).
    pub key_name: String,
}

impl SigningKey {
    /// Parse a PEM private key (PKCS#1 `RSA PRIVATE KEY` or PKCS#8
    /// `PRIVATE KEY`); `file_name` is the private key's file name.
    pub fn from_pem(file_name: &str, pem: &str) -> Result<SigningKey, ApkError> {
        let pem = pem.trim();
        let key = if pem.contains("-----BEGIN RSA PRIVATE KEY-----") {
            RsaPrivateKey::from_pkcs1_pem(pem).map_err(|e| e.to_string())
        } else {
            RsaPrivateKey::from_pkcs8_pem(pem).map_err(|e| e.to_string())
        }
        .map_err(|e| ApkError::Key {
            name: file_name.to_string(),
            reason: format!("not a PEM RSA private key (PKCS#1 or PKCS#8): {e}"),
        })?;
        Ok(SigningKey {
            key,
            key_name: format!("{file_name}.pub"),
        })
    }

    /// Read a private key file.
    pub fn from_file(path: &Path) -> Result<SigningKey, ApkError> {
        let pem = std::fs::read_to_string(path).map_err(|e| ApkError::io(path, e))?;
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        SigningKey::from_pem(&file_name, &pem)
    }

    /// Sign `signed` (compressed member bytes) with `algo`.
    pub fn sign(&self, algo: SignatureAlgo, signed: &[u8]) -> Result<SignatureEntry, ApkError> {
        let (digest, scheme) = algo.digest_and_scheme(signed);
        let signature = self.key.sign(scheme, &digest).map_err(|e| ApkError::Key {
            name: self.key_name.clone(),
            reason: format!("signing failed: {e}"),
        })?;
        Ok(SignatureEntry {
            algo,
            key_name: self.key_name.clone(),
            signature,
        })
    }

    /// The public half, as a keyring entry would hold it.
    pub fn public_key(&self) -> RsaPublicKey {
        self.key.to_public_key()
    }
}

/// A new RSA key pair as PEM: (private PKCS#1, public PKIX).
pub fn generate_key_pem(bits: usize) -> Result<(String, String), ApkError> {
    let err = |reason: String| ApkError::Key {
        name: "new key".into(),
        reason,
    };
    let key = RsaPrivateKey::new(&mut rand::rngs::OsRng, bits).map_err(|e| err(e.to_string()))?;
    let private = key
        .to_pkcs1_pem(LineEnding::LF)
        .map_err(|e| err(e.to_string()))?;
    let public = key
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| err(e.to_string()))?;
    Ok((private.to_string(), public))
}

/// The gzip'ed signature member for `signature`: a tar with the one
/// `.SIGN.*` file and no end-of-archive blocks.
pub fn signature_member(signature: &SignatureEntry, mtime: u64) -> Vec<u8> {
    let name = format!("{}{}", signature.algo.prefix(), signature.key_name);
    let header = TarHeader::file(&name, 0o644, signature.signature.len() as u64, mtime);
    let mut tar = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = tarball::write_file(&mut tar, &header, &signature.signature);
    gzip::compress(&tar)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_file_names() {
        assert_eq!(
            SignatureAlgo::from_file_name(".SIGN.RSA.melange.rsa.pub"),
            Some((SignatureAlgo::RsaSha1, "melange.rsa.pub".to_string()))
        );
        assert_eq!(
            SignatureAlgo::from_file_name(".SIGN.RSA256.a.rsa.pub"),
            Some((SignatureAlgo::RsaSha256, "a.rsa.pub".to_string()))
        );
        assert_eq!(
            SignatureAlgo::from_file_name(".SIGN.RSA512.k"),
            Some((SignatureAlgo::RsaSha512, "k".to_string()))
        );
        assert_eq!(SignatureAlgo::from_file_name(".SIGN.DSA.k"), None);
        assert_eq!(SignatureAlgo::from_file_name(".SIGN.RSA."), None);
    }
}
