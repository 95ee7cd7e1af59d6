-- Evidence belongs to the repository it was gathered in: signatures are looked up there, as cosign and
-- policy-controller do, so a digest pulled unsigned from one repository never decides it in another.
-- The old table held evidence keyed by digest alone; it is only a cache and is gathered again.
DROP TABLE evidence;
CREATE TABLE evidence (
  upstream     TEXT NOT NULL,
  repository   TEXT NOT NULL,
  digest       TEXT NOT NULL,
  fingerprint  TEXT NOT NULL,
  json         TEXT NOT NULL,
  expires_at   INTEGER NOT NULL,
  PRIMARY KEY (upstream, repository, digest, fingerprint)
);
CREATE INDEX evidence_by_digest ON evidence (digest);

-- 1 when the link came from a signature, attestation or SBOM artifact, which takes the decision of the image
-- it is about. A blob also linked by an ordinary manifest of the repository is served only under that one's.
ALTER TABLE blob_links ADD COLUMN via_artifact INTEGER NOT NULL DEFAULT 0;
