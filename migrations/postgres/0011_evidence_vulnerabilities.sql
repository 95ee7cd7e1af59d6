-- Vulnerability ids per stored evidence row (SQLite migration 0016): each finding's id and aliases,
-- upper-cased, written and removed with the evidence; older evidence is indexed by the impact report.
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
