-- The vulnerability ids (each finding's id and aliases, upper-cased) that each stored evidence row's scans
-- list, so "which cached digests does CVE-X affect?" reads an index instead of every evidence document.
-- Written with the evidence and replaced or deleted with it. Evidence stored before this table existed has
-- vulnerabilities_indexed = 0 and is indexed the first time the impact report runs (see vulnerability-index.ts).
CREATE TABLE evidence_vulnerabilities (
  vulnerability TEXT NOT NULL,
  upstream      TEXT NOT NULL,
  repository    TEXT NOT NULL,
  digest        TEXT NOT NULL,
  fingerprint   TEXT NOT NULL,
  PRIMARY KEY (vulnerability, upstream, repository, digest, fingerprint)
);
CREATE INDEX evidence_vulnerabilities_by_evidence ON evidence_vulnerabilities (digest, upstream, repository, fingerprint);
ALTER TABLE evidence ADD COLUMN vulnerabilities_indexed INTEGER NOT NULL DEFAULT 0;
CREATE INDEX evidence_not_indexed ON evidence (vulnerabilities_indexed) WHERE vulnerabilities_indexed = 0;
