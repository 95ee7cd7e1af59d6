/** A config error with its JSON path; a user sees every problem at once. */
export interface ConfigError {
  path: string;
  message: string;
}

export class ConfigValidationError extends Error {
  constructor(
    readonly source: string,
    readonly errors: ConfigError[],
  ) {
    super(`invalid configuration in ${source}:\n${errors.map((e) => `  ${e.path}: ${e.message}`).join('\n')}`);
  }
}
