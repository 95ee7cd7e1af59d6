-- Why a policy version was made, as its author wrote it (API or CLI); NULL when none was given.
ALTER TABLE policy_versions ADD COLUMN comment TEXT;
