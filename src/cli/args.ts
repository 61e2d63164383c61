/** Argument helpers shared by the commands: whole-number values, usage rows. */
export function positiveInt(value: string | undefined, fallback: number, flag: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} must be a positive integer, got '${value}'`);
  return n;
}

export function optionalPositiveInt(value: string | undefined, flag: string): number | undefined {
  return value === undefined ? undefined : positiveInt(value, 0, flag);
}

/** `--json`: the result as JSON on stdout (each command's usage says what it holds). */
export const JSON_OPTIONS = {
  json: { type: 'boolean', default: false },
} as const;

/** Where most commands' usage texts start an option's description: after `  --db DB` and its padding. */
export const USAGE_COLUMN = 23;

/** One row of a usage text: the flag, then its description from `column` on (the command's own layout). */
export function usageRow(flag: string, description: string, column = USAGE_COLUMN): string {
  return `  ${flag.padEnd(column - 3)} ${description}\n`;
}
