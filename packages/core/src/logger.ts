/** A structured logger: a message plus optional fields. Pino and console both fit it. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  child?(fields: Record<string, unknown>): Logger;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/**
 * A small JSON-lines logger writing to stderr (stdout stays free for program output).
 * `pretty` prints `level message key=value` for terminals.
 */
export function createLogger(
  options: { level?: LogLevel; pretty?: boolean; fields?: Record<string, unknown>; write?: (line: string) => void } = {},
): Logger {
  const level = options.level ?? (process.env.GENLAB_LOG_LEVEL as LogLevel | undefined) ?? 'info';
  const threshold = LEVELS[level] ?? LEVELS.info;
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const base = options.fields ?? {};
  const emit = (lvl: Exclude<LogLevel, 'silent'>, message: string, fields?: Record<string, unknown>) => {
    if (LEVELS[lvl] < threshold) return;
    const all = { ...base, ...fields };
    if (options.pretty) {
      const extra = Object.entries(all)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      write(`${lvl.padEnd(5)} ${message}${extra ? ` ${extra}` : ''}`);
    } else {
      write(JSON.stringify({ time: new Date().toISOString(), level: lvl, msg: message, ...all }));
    }
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger({ ...options, level, fields: { ...base, ...fields } }),
  };
}

/** A logger that drops everything (tests, libraries used quietly). */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
