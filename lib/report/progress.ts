// Progress of a training or evaluation loop. On a terminal one line is redrawn in place; in a log
// file (not a TTY) a plain line is written every few seconds instead, because carriage returns and
// ten updates a second would bury everything else in the log.
import { AdvpropError } from '../errors.js';
import { describeValue } from '../device.js';
import { functionArg, numArg, objectArg } from '../args.js';

export interface ProgressStream { write(s: string): unknown; isTTY?: boolean; columns?: number }
export type Fields = Record<string, string | number>;
export interface ProgressOptions {
  total: number;
  label?: string;
  stream?: ProgressStream;
  /** Seconds between plain lines when the stream is not a TTY (default 10). */
  interval?: number;
  /** Milliseconds between redraws on a TTY (default 100). */
  ttyInterval?: number;
  /** Clock in milliseconds; injectable for tests. */
  now?: () => number;
}

/** "m:ss", or "h:mm:ss" from an hour on; "--:--" when unknown. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), ss = s % 60;
  const two = (v: number): string => String(v).padStart(2, '0');
  return h > 0 ? `${h}:${two(m)}:${two(ss)}` : `${m}:${two(ss)}`;
}

/** Items per second with about three significant digits; slow loops read better as seconds per item. */
export function formatRate(perSecond: number): string {
  if (!Number.isFinite(perSecond) || perSecond <= 0) return '- it/s';
  if (perSecond < 0.1) return `${(1 / perSecond).toFixed(1)} s/it`;
  return `${perSecond >= 100 ? Math.round(perSecond) : perSecond.toFixed(perSecond >= 10 ? 1 : 2)} it/s`;
}

/** Accuracy-like fields (name containing "acc"), given as fractions, show as percentages; other numbers keep 4 significant digits. */
export function formatField(key: string, value: string | number): string {
  if (typeof key !== 'string') throw new AdvpropError('ERR_ARG', `formatField: key must be a string, got ${describeValue(key)}`);
  if (typeof value !== 'string' && typeof value !== 'number') throw new AdvpropError('ERR_ARG', `formatField: value must be a string or a number, got ${describeValue(value)}`);
  if (typeof value === 'string') return value;
  if (!Number.isFinite(value)) return String(value);
  if (/acc/i.test(key)) return `${(value * 100).toFixed(2)}%`;
  if (Number.isInteger(value)) return String(value);
  return String(Number(value.toPrecision(4)));
}

function checkFields(fields: unknown, op: string): void {
  objectArg(fields, op, 'fields', 'an object of strings and numbers');
  for (const [k, v] of Object.entries(fields as object))
    if (typeof v !== 'string' && typeof v !== 'number') throw new AdvpropError('ERR_ARG', `${op}: field '${k}' must be a string or a number, got ${describeValue(v)}`);
}

export class Progress {
  readonly total: number;
  readonly label: string;
  private readonly stream: ProgressStream;
  private readonly tty: boolean;
  private readonly interval: number;
  private readonly ttyInterval: number;
  private readonly now: () => number;
  private readonly start: number;
  private count = 0;
  private fields: Fields = {};
  private lastDraw = -Infinity;
  private finished = false;

  constructor(opts: ProgressOptions) {
    const op = 'Progress';
    objectArg(opts, op, 'options', '{ total, ... }');
    numArg(opts.total, op, 'total', 0, Infinity, { min: true });
    const interval = numArg(opts.interval ?? 10, op, 'interval', 0), ttyInterval = numArg(opts.ttyInterval ?? 100, op, 'ttyInterval', 0);
    if (opts.label !== undefined && typeof opts.label !== 'string') throw new AdvpropError('ERR_ARG', `${op}: label must be a string, got ${describeValue(opts.label)}`);
    if (opts.stream !== undefined && typeof (opts.stream as { write?: unknown } | null)?.write !== 'function')
      throw new AdvpropError('ERR_ARG', `${op}: stream must have a write(text) method, got ${describeValue(opts.stream)}`);
    if (opts.now !== undefined) functionArg(opts.now, op, 'now');
    this.total = opts.total;
    this.label = opts.label ?? '';
    this.stream = opts.stream ?? process.stderr;
    this.tty = this.stream.isTTY === true;
    this.interval = interval * 1000;
    this.ttyInterval = ttyInterval;
    this.now = opts.now ?? (() => performance.now());
    this.start = this.now();
  }

  /** Seconds since construction. */
  elapsed(): number {
    return (this.now() - this.start) / 1000;
  }

  /** Average items per second since construction (NaN before any time has passed). */
  rate(): number {
    const t = this.elapsed();
    return t > 0 ? this.count / t : NaN;
  }

  /** Seconds left at the average rate so far (NaN while the rate is unknown or zero). */
  eta(): number {
    const r = this.rate();
    return r > 0 ? Math.max(0, this.total - this.count) / r : NaN;
  }

  /** Records `done` items out of total and the latest metrics; draws when the display is due. */
  update(done: number, fields: Fields = {}): void {
    numArg(done, 'Progress.update', 'done', 0);
    checkFields(fields, 'Progress.update');
    if (this.finished) return;
    this.count = done;
    this.fields = { ...fields };
    const t = this.now();
    if (t - this.lastDraw < (this.tty ? this.ttyInterval : this.interval)) return;
    this.lastDraw = t;
    this.draw(false);
  }

  /** Draws the final state and ends the line; later calls do nothing. */
  done(fields?: Fields): void {
    if (fields !== undefined) checkFields(fields, 'Progress.done');
    if (this.finished) return;
    if (fields) this.fields = { ...fields };
    this.draw(true);
    this.finished = true;
  }

  /** The text of the status line as it would be drawn now. */
  line(final = false): string {
    const frac = Math.min(1, Math.max(0, this.count / this.total));
    const parts: string[] = [];
    if (this.label) parts.push(this.label);
    if (this.tty) {
      const width = 20, full = Math.round(frac * width);
      parts.push(`[${'#'.repeat(full)}${'.'.repeat(width - full)}]`);
    }
    parts.push(`${this.count}/${this.total}`, `${(frac * 100).toFixed(frac < 1 ? 1 : 0)}%`, formatRate(this.rate()));
    parts.push(final ? `in ${formatDuration(this.elapsed())}` : `eta ${formatDuration(this.eta())}`);
    for (const [k, v] of Object.entries(this.fields)) parts.push(`${k.replace(/\s+/g, '_')}=${formatField(k, v)}`);
    return parts.join(' ');
  }

  private draw(final: boolean): void {
    let text = this.line(final);
    if (this.tty) {
      // A line longer than the terminal wraps, and \r would then redraw only its last row.
      const cols = this.stream.columns ?? 80;
      if (text.length > cols - 1) text = text.slice(0, Math.max(0, cols - 1));
      this.stream.write(`\r${text}\x1b[K${final ? '\n' : ''}`);
    } else {
      this.stream.write(`${text}\n`);
    }
  }
}
