//! Container image references (`[registry/]path[:tag][@digest]`): parsing them the way
//! container runtimes do, and telling whether a running image is the one a user expects.

use std::fmt;
use std::str::FromStr;

/// A parsed image reference, with Docker Hub's implicit parts made explicit (`busybox` is
/// `docker.io/library/busybox`), so that two spellings of one image compare equal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Registry and path: `quay.io/cilium/cilium`.
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:…`.
    pub digest: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference {reference:?}: {problem}")]
pub struct ImageRefError {
    pub reference: String,
    pub problem: &'static str,
}

impl FromStr for ImageRef {
    type Err = ImageRefError;

    fn from_str(reference: &str) -> Result<Self, Self::Err> {
        let invalid = |problem| ImageRefError {
            reference: reference.into(),
            problem,
        };
        if reference.is_empty() || reference.contains(char::is_whitespace) {
            return Err(invalid("it is empty or contains whitespace"));
        }
        let (name_and_tag, digest) = match reference.split_once('@') {
            Some((name, digest)) => {
                let valid = digest
                    .split_once(':')
                    .is_some_and(|(algorithm, hex)| !algorithm.is_empty() && !hex.is_empty());
                if !valid {
                    return Err(invalid("a digest looks like @sha256:<hex>"));
                }
                (name, Some(digest.to_string()))
            }
            None => (reference, None),
        };
        // A colon after the last slash starts the tag; one before it belongs to a registry port.
        let last_slash = name_and_tag.rfind('/').map_or(0, |at| at + 1);
        let (repository, tag) = match name_and_tag[last_slash..].rfind(':') {
            Some(colon) => {
                let colon = last_slash + colon;
                let tag = &name_and_tag[colon + 1..];
                if tag.is_empty() {
                    return Err(invalid("the tag after `:` is empty"));
                }
                (&name_and_tag[..colon], Some(tag.to_string()))
            }
            None => (name_and_tag, None),
        };
        if repository.is_empty() || repository.ends_with('/') || repository.contains("//") {
            return Err(invalid(
                "the repository name is empty or has an empty path component",
            ));
        }
        Ok(ImageRef {
            repository: normalize_repository(repository),
            tag,
            digest,
        })
    }
}

/// `busybox` → `docker.io/library/busybox`, `cilium/cilium` → `docker.io/cilium/cilium`; a
/// first component with a dot or a port, or `localhost`, is a registry and stays.
fn normalize_repository(repository: &str) -> String {
    match repository.split_once('/') {
        None => format!("docker.io/library/{repository}"),
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => {
            repository.to_string()
        }
        Some(_) => format!("docker.io/{repository}"),
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl ImageRef {
    /// The last path component: `cilium` for `quay.io/cilium/cilium:v1.17.6`.
    pub fn name(&self) -> &str {
        self.repository
            .rsplit('/')
            .next()
            .unwrap_or(&self.repository)
    }

    /// Whether `running` is this image: the same repository, and the same tag and digest where
    /// this reference names them (a reference without a tag accepts any tag). The digest of a
    /// reference pinned only by tag comes from the pod status (`running.digest`).
    pub fn check(&self, running: &RunningImage) -> Result<(), ImageMismatch> {
        let spec = &running.spec;
        if spec.repository != self.repository {
            return Err(ImageMismatch::Repository {
                expected: self.repository.clone(),
                observed: spec.repository.clone(),
            });
        }
        if let Some(tag) = &self.tag
            && spec.tag.as_ref() != Some(tag)
        {
            return Err(ImageMismatch::Tag {
                expected: tag.clone(),
                observed: spec.tag.clone(),
            });
        }
        if let Some(digest) = &self.digest {
            match running.digest() {
                Some(observed) if observed == digest => {}
                Some(observed) => {
                    return Err(ImageMismatch::Digest {
                        expected: digest.clone(),
                        observed: observed.to_string(),
                    });
                }
                None => return Err(ImageMismatch::DigestUnknown),
            }
        }
        Ok(())
    }
}

/// What a container runs: the reference in its pod spec, and the repository digest the
/// runtime resolved it to (`status.containerStatuses[].imageID`), if known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningImage {
    pub spec: ImageRef,
    pub resolved_digest: Option<String>,
}

impl RunningImage {
    /// `image` from the pod spec, `image_id` from the container status: `repo@sha256:…`
    /// (containerd, CRI-O), `docker-pullable://repo@sha256:…` (cri-dockerd), or a bare image
    /// ID without a repository, which is no repository digest and so says nothing here.
    pub fn new(image: &str, image_id: Option<&str>) -> Result<Self, ImageRefError> {
        let resolved_digest = image_id
            .map(|id| id.split_once("://").map_or(id, |(_, rest)| rest))
            .and_then(|id| id.split_once('@'))
            .map(|(_, digest)| digest.to_string());
        Ok(RunningImage {
            spec: image.parse()?,
            resolved_digest,
        })
    }

    /// The digest the spec pins, else the one the runtime resolved the tag to.
    pub fn digest(&self) -> Option<&str> {
        self.spec
            .digest
            .as_deref()
            .or(self.resolved_digest.as_deref())
    }
}

/// How a running image differs from the expected one; the first difference found, in the
/// order repository, tag, digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageMismatch {
    #[error("another repository: expected {expected}, runs {observed}")]
    Repository { expected: String, observed: String },
    #[error("another tag: expected {expected}, runs {}", observed.as_deref().unwrap_or("no tag"))]
    Tag {
        expected: String,
        observed: Option<String>,
    },
    #[error("another digest: expected {expected}, runs {observed}")]
    Digest { expected: String, observed: String },
    #[error(
        "the digest cannot be confirmed: the pod spec names none and the container status has no \
         repository digest (is the container running?)"
    )]
    DigestUnknown,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(reference: &str) -> ImageRef {
        reference.parse().unwrap()
    }

    #[test]
    fn references_parse_with_registry_ports_tags_and_digests() {
        let digest = "sha256:d2b4f2d5b8e1c5d7e9a1b3c5d7e9f1a3b5c7d9e1f3a5b7c9d1e3f5a7b9c1d3e5";
        assert_eq!(
            image(&format!("quay.io/cilium/cilium:v1.17.6@{digest}")),
            ImageRef {
                repository: "quay.io/cilium/cilium".into(),
                tag: Some("v1.17.6".into()),
                digest: Some(digest.into()),
            }
        );
        let local = image("localhost:5000/cilium/cilium");
        assert_eq!(
            (local.repository.as_str(), local.tag),
            ("localhost:5000/cilium/cilium", None)
        );
        assert_eq!(
            image("busybox:1.37").repository,
            "docker.io/library/busybox"
        );
        assert_eq!(image("cilium/cilium").repository, "docker.io/cilium/cilium");
        assert_eq!(image("cilium/cilium"), image("docker.io/cilium/cilium"));
        assert_eq!(
            image("public.ecr.aws/eks/cilium/operator-generic:v1.17.6-0").name(),
            "operator-generic"
        );
        assert_eq!(
            image("public.ecr.aws/eks/cilium/cilium:v1.17.6-0").to_string(),
            "public.ecr.aws/eks/cilium/cilium:v1.17.6-0"
        );
        for bad in [
            "",
            "a b",
            "quay.io/cilium/cilium:",
            "quay.io/cilium/",
            "x@sha256",
            "x@:ab",
        ] {
            assert!(bad.parse::<ImageRef>().is_err(), "{bad:?} parsed");
        }
    }

    fn running(spec: &str, image_id: Option<&str>) -> RunningImage {
        RunningImage::new(spec, image_id).unwrap()
    }

    const EKS_AGENT: &str = "public.ecr.aws/eks/cilium/cilium:v1.17.6-0";
    const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const OTHER_DIGEST: &str =
        "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    #[test]
    fn an_expected_image_matches_repository_and_tag() {
        let expected = image(EKS_AGENT);
        assert_eq!(expected.check(&running(EKS_AGENT, None)), Ok(()));
        // A spec pinned by digest still runs the expected tag.
        let pinned = format!("{EKS_AGENT}@{DIGEST}");
        assert_eq!(expected.check(&running(&pinned, None)), Ok(()));
        assert_eq!(
            expected.check(&running("quay.io/cilium/cilium:v1.17.6-0", None)),
            Err(ImageMismatch::Repository {
                expected: "public.ecr.aws/eks/cilium/cilium".into(),
                observed: "quay.io/cilium/cilium".into(),
            })
        );
        assert_eq!(
            expected.check(&running("public.ecr.aws/eks/cilium/cilium:v1.17.5-0", None)),
            Err(ImageMismatch::Tag {
                expected: "v1.17.6-0".into(),
                observed: Some("v1.17.5-0".into()),
            })
        );
        let mismatch = expected
            .check(&running(
                &format!("public.ecr.aws/eks/cilium/cilium@{DIGEST}"),
                None,
            ))
            .unwrap_err();
        assert_eq!(
            mismatch.to_string(),
            "another tag: expected v1.17.6-0, runs no tag"
        );
        // Without a tag, any tag of the repository will do.
        assert_eq!(
            image("public.ecr.aws/eks/cilium/cilium").check(&running(EKS_AGENT, None)),
            Ok(())
        );
    }

    #[test]
    fn an_expected_digest_is_checked_against_the_spec_or_the_runtime() {
        let expected = image(&format!("{EKS_AGENT}@{DIGEST}"));
        let resolved = |id: &str| running(EKS_AGENT, Some(id));
        assert_eq!(
            expected.check(&resolved(&format!(
                "public.ecr.aws/eks/cilium/cilium@{DIGEST}"
            ))),
            Ok(())
        );
        assert_eq!(
            expected.check(&resolved(&format!(
                "docker-pullable://public.ecr.aws/eks/cilium/cilium@{DIGEST}"
            ))),
            Ok(())
        );
        assert_eq!(
            expected.check(&resolved(&format!(
                "public.ecr.aws/eks/cilium/cilium@{OTHER_DIGEST}"
            ))),
            Err(ImageMismatch::Digest {
                expected: DIGEST.into(),
                observed: OTHER_DIGEST.into(),
            })
        );
        // A bare image ID is no repository digest: never a pass.
        assert_eq!(
            expected.check(&resolved(OTHER_DIGEST)),
            Err(ImageMismatch::DigestUnknown)
        );
        assert_eq!(
            expected.check(&running(EKS_AGENT, None)),
            Err(ImageMismatch::DigestUnknown)
        );
        assert_eq!(
            expected.check(&running(&format!("{EKS_AGENT}@{OTHER_DIGEST}"), None)),
            Err(ImageMismatch::Digest {
                expected: DIGEST.into(),
                observed: OTHER_DIGEST.into(),
            })
        );
    }
}
