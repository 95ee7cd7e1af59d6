/** Collects every config error with its JSON path, so a user sees all problems at once. */
export interface ConfigError {
  path: string;
  message: string;
}

export class Validator {
  readonly errors: ConfigError[] = [];

  error(path: string, message: string): void {
    this.errors.push({ path, message });
  }

  object(value: unknown, path: string): Record<string, unknown> | undefined {
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
    this.error(path, 'must be an object');
    return undefined;
  }

  string(value: unknown, path: string, opts: { optional?: boolean; nonEmpty?: boolean } = {}): string | undefined {
    if (value === undefined && opts.optional) return undefined;
    if (typeof value !== 'string' || (opts.nonEmpty !== false && value.length === 0)) {
      this.error(path, value === undefined ? 'is required' : 'must be a non-empty string');
      return undefined;
    }
    return value;
  }

  array(value: unknown, path: string): unknown[] | undefined {
    if (Array.isArray(value)) return value;
    this.error(path, value === undefined ? 'is required' : 'must be an array');
    return undefined;
  }

  oneOf<T extends string>(value: unknown, allowed: readonly T[], path: string): T | undefined {
    if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
    this.error(path, `must be one of ${allowed.map((a) => `"${a}"`).join(', ')}`);
    return undefined;
  }

  unknownKeys(obj: Record<string, unknown>, known: readonly string[], path: string): void {
    for (const key of Object.keys(obj)) {
      if (!known.includes(key)) this.error(path ? `${path}.${key}` : key, 'is not a known setting');
    }
  }
}

export class ConfigValidationError extends Error {
  constructor(
    readonly source: string,
    readonly errors: ConfigError[],
  ) {
    super(`invalid configuration in ${source}:\n${errors.map((e) => `  ${e.path}: ${e.message}`).join('\n')}`);
  }
}
