import type { Command } from './command.js';
import { auditQueryCommand } from './audit-query.js';
import { auditVerifyCommand } from './audit-verify.js';
import { policyShowCommand } from './policy-show.js';
import { policyVersionsCommand } from './policy-versions.js';
import { policyEvaluateCommand } from './policy-evaluate.js';
import { healthcheckCommand } from './healthcheck.js';
import { policyValidateCommand } from './policy-validate.js';
import { policyApplyCommand } from './policy-apply.js';
import { cachePurgeCommand } from './cache-purge.js';
import { verifyBundleCommand } from './verify-bundle.js';
import { prefetchCommand } from './prefetch.js';
import { exportCommand } from './export.js';
import { importCommand } from './import.js';
import { verifyNotationCommand } from './verify-notation.js';
import { vulnerabilityImpactCommand } from './vulnerability-impact.js';

/** Commands beyond serve and check-config (audit, policy, cache), registered here. */
export const extraCommands: Command[] = [
  auditQueryCommand,
  auditVerifyCommand,
  policyShowCommand,
  policyVersionsCommand,
  policyEvaluateCommand,
  healthcheckCommand,
  policyValidateCommand,
  policyApplyCommand,
  cachePurgeCommand,
  verifyBundleCommand,
  prefetchCommand,
  exportCommand,
  importCommand,
  verifyNotationCommand,
  vulnerabilityImpactCommand,
];
