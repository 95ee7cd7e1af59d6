import { loadConfigFile } from '../config/load.js';
import { createApp } from '../app.js';
import { createLogger } from '../logger.js';
import { OciError } from '../oci/errors.js';
import { EXIT, UsageError, type Command } from './command.js';
import { configFile } from './config-path.js';
import { checkFlags, printJson } from './audit-flags.js';

export const EXIT_DENIED = EXIT.denied;

export const policyEvaluateCommand: Command = {
  name: 'policy evaluate',
  summary: 'show the decision the proxy would make for an image now',
  usage: `portcullis policy evaluate IMAGE --config FILE

Fetches IMAGE (e.g. docker.io/acme/app:1.2 or ghcr.io/org/app@sha256:...) from its upstream, gathers its
signatures and attestations and applies the active stored policy, printing the decision with its rule,
reasons and evidence, as POST /api/v1/policy/evaluate does. Nothing is served and no pull is recorded. A name
that a deny rule (or no rule) covers is refused by name, without asking the upstream, as a pull would be.
Exits 0 when the image would be served (allow or warn), ${EXIT_DENIED} when it would be denied, ${EXIT.failed} when it
could not be evaluated (e.g. the upstream is unreachable).`,
  async run(args) {
    checkFlags(args, ['config'], 1);
    const image = args.positional[0];
    if (!image) throw new UsageError('IMAGE is required, e.g. portcullis policy evaluate docker.io/library/alpine:3 --config FILE');
    const config = loadConfigFile(configFile(args));
    const log = createLogger('warn', {}, (line) => process.stderr.write(line));
    const app = await createApp(config, { log, maintenance: false });
    try {
      const result = await app.evaluate(image);
      printJson(result);
      return result.decision === 'deny' ? EXIT_DENIED : 0;
    } catch (err) {
      // A name the policy refuses by name is refused before the upstream is asked, as a pull is.
      if (err instanceof OciError && err.code === 'DENIED') {
        const detail = (err.detail ?? {}) as { policy?: string | null; reasons?: string[] };
        printJson({ image, decision: 'deny', rule: detail.policy ?? null, reasons: detail.reasons ?? [], message: err.message });
        return EXIT_DENIED;
      }
      if (err instanceof OciError) throw new Error(`${err.code}: ${err.message}`);
      throw err;
    } finally {
      await app.close();
    }
  },
};
