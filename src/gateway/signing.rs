//! The build's declared signing public key: read from the build context
//! with the source-dir lookup (a ReadFile, no container), so a signed build
//! knows its key's fingerprint without the never-cached signing probe. The
//! packaging step is keyed by that fingerprint and refuses a secret whose
//! public half differs (or no secret at all).

use super::bridge::Bridge;
use super::{Failure, INVALID_ARGUMENT};
use crate::apk::sign::public_pem_id;
use crate::plan::packaging::{PublicKeyFile, NO_PUBLIC_KEY, SIGNING_PUBLIC_KEY_ARG};

/// Largest public key file read: an RSA public key in PEM is well under
/// 2 KiB; anything much larger is not one.
const MAX_KEY_FILE: usize = 64 << 10;

/// A public key the build declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct DeclaredKey {
    /// Its path in the build context, for messages.
    pub file: String,
    /// Its fingerprint, as the signing probe would report the secret's.
    pub id: String,
}

/// The declared key in the solved context `reference`: `None` when the
/// default file is absent; an absent given file or a file that is not an
/// RSA public key is an error naming it.
pub(super) async fn declared_key(
    bridge: &Bridge,
    reference: &str,
    file: &PublicKeyFile,
) -> Result<Option<DeclaredKey>, Failure> {
    let path = file.path();
    let bytes = match bridge
        .read_file_chunked(reference, path, MAX_KEY_FILE)
        .await
    {
        Ok(bytes) => bytes,
        Err(status) => {
            return match file {
                PublicKeyFile::Default(_) if status.code() != tonic::Code::ResourceExhausted => {
                    tracing::debug!(%path, message = %status.message(), "no declared public key");
                    Ok(None)
                }
                _ => Err(Failure::new(
                    INVALID_ARGUMENT,
                    format!(
                        "signing public key {path} (build-arg {SIGNING_PUBLIC_KEY_ARG}): cannot \
                         read it from the build context: {}",
                        status.message()
                    ),
                )),
            }
        }
    };
    let id = key_id(path, &bytes).map_err(|m| Failure::new(INVALID_ARGUMENT, m))?;
    tracing::info!(file = %path, %id, "declared signing public key");
    Ok(Some(DeclaredKey {
        file: path.to_string(),
        id,
    }))
}

/// The fingerprint of the public key file `path` holding `bytes`, or an
/// error naming the file and saying what it should be.
fn key_id(path: &str, bytes: &[u8]) -> Result<String, String> {
    let reason = match std::str::from_utf8(bytes) {
        Ok(text) => match public_pem_id(text) {
            Ok(id) => return Ok(id),
            Err(reason) => reason,
        },
        Err(_) => "not text".to_string(),
    };
    Err(format!(
        "{path}: not an RSA public key in PEM form ({reason}); the build context's \
         {path} declares the key that signs the packages (build-arg {SIGNING_PUBLIC_KEY_ARG}; \
         {SIGNING_PUBLIC_KEY_ARG}={NO_PUBLIC_KEY} declares none)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apk::sign::generate_key_pem;
    use crate::apk::SigningKey;

    #[test]
    fn a_public_key_file_gives_the_secrets_fingerprint_and_anything_else_is_named() {
        let (private, public) = generate_key_pem(1024).unwrap();
        let secret = SigningKey::from_pem("melange.rsa", &private).unwrap();
        assert_eq!(
            key_id("melange.rsa.pub", public.as_bytes()).unwrap(),
            crate::helper::key_id(&secret)
        );
        for bad in [private.as_bytes(), b"hello\n", &[0xff, 0xfe][..]] {
            let err = key_id("keys/k.pub", bad).unwrap_err();
            assert!(
                err.starts_with("keys/k.pub: not an RSA public key"),
                "{err}"
            );
            assert!(!err.contains("PRIVATE KEY-----\n"), "{err}");
        }
    }
}
